//! Writes the seed corpus, `fuzz/corpus/<target>/<seed>`, from the fixed keys of
//! `encrypted_fuzz::targets` (random IVs make the random ciphertexts differ from run to
//! run; every other byte is reproducible):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example generate_seeds
//! ```

use std::path::Path;

use encrypted::bson::spec::BinarySubtype;
use encrypted::bson::{Binary, Bson, DateTime, Decimal128, doc, oid::ObjectId};
use encrypted::model::{self, Keys};
use encrypted::{Algorithm, DataKey, KeyDocument, KeyRef, MasterKey};
use encrypted_fuzz::targets::{self, Insurance, KEY_ALT_NAME, Patient, fixtures};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    let fixtures = fixtures();

    // stored_document: what `model::encode` stores, and what a hostile database holds.
    let full = Patient {
        name: "Jon Doe".into(),
        ssn: 241_014_209,
        blood_type: "AB+".into(),
        weight: Some(82),
        notes: vec!["allergic to penicillin".into()],
        insurance: Some(Insurance {
            provider: "MaestCare".into(),
            policy_number: 123_142,
        }),
        visits: vec![2021, 2023],
    };
    let minimal = Patient {
        name: String::new(),
        ssn: -1,
        blood_type: String::new(),
        weight: None,
        notes: Vec::new(),
        insurance: None,
        visits: Vec::new(),
    };
    let encode = |patient: &Patient, keys: &Keys| -> Result<Vec<u8>, encrypted::Error> {
        Ok(model::encode(patient, keys)?.into_bytes())
    };
    seeds.push((
        "stored_document",
        "full".to_owned(),
        encode(&full, &fixtures.keys)?,
    ));
    seeds.push((
        "stored_document",
        "minimal".to_owned(),
        encode(&minimal, &fixtures.keys)?,
    ));
    // Every field under a key no target holds: decode fails, views stay sealed.
    let foreign = Keys::new()
        .with(
            KeyRef::AltName(KEY_ALT_NAME.into()),
            fixtures.foreign_key.clone(),
        )
        .with(
            KeyRef::AltName(targets::OTHER_KEY_ALT_NAME.into()),
            fixtures.foreign_key.clone(),
        );
    seeds.push((
        "stored_document",
        "foreign-key".to_owned(),
        encode(&full, &foreign)?,
    ));
    // Plaintext where the model encrypts: refused.
    let plaintext = doc! {
        "name": "Jon Doe", "ssn": 241_014_209, "bloodType": "AB+", "notes": ["x"],
        "insurance": { "provider": "MaestCare", "policyNumber": 123_142 }, "visits": [],
    };
    seeds.push((
        "stored_document",
        "plaintext".to_owned(),
        plaintext.to_vec()?,
    ));

    // ciphertext: each BSON type, both algorithms, three keys.
    let key = &fixtures.key;
    let deterministic = [
        ("int32", Bson::Int32(241_014_209)),
        ("int64", Bson::Int64(-7)),
        ("string", Bson::String("AB+".into())),
        (
            "binary",
            Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes: vec![1, 2, 3],
            }),
        ),
        ("objectid", Bson::ObjectId(ObjectId::from_bytes([7; 12]))),
        (
            "datetime",
            Bson::DateTime(DateTime::from_millis(1_700_000_000_000)),
        ),
    ];
    let random = [
        ("double", Bson::Double(f64::NAN)),
        ("decimal", Bson::Decimal128(Decimal128::from_bytes([1; 16]))),
        ("bool", Bson::Boolean(true)),
        (
            "document",
            Bson::Document(doc! { "a": [1, "b", { "c": null }] }),
        ),
        (
            "array",
            Bson::Array(vec![Bson::Int32(1), Bson::String("two".into())]),
        ),
        ("string", Bson::String(String::new())),
    ];
    let mut names = Vec::new();
    for (name, value) in deterministic {
        names.push((
            format!("deterministic-{name}"),
            key.encrypt(&value, Algorithm::Deterministic)?,
        ));
    }
    for (name, value) in random {
        names.push((
            format!("random-{name}"),
            key.encrypt(&value, Algorithm::Random)?,
        ));
    }
    let other = fixtures
        .other_key
        .encrypt(&Bson::String("note".into()), Algorithm::Random)?;
    names.push(("other-key".into(), other));
    let foreign = fixtures
        .foreign_key
        .encrypt(&Bson::Int32(1), Algorithm::Deterministic)?;
    names.push(("foreign-key".into(), foreign));
    for (name, ciphertext) in &names {
        seeds.push(("ciphertext", name.clone(), ciphertext.as_bytes().to_vec()));
    }

    // key_document: local keys wrapped by the fixed master key, and AWS keys.
    let wrap = |data_key: &DataKey| fixtures.master_key.wrap(data_key);
    let local = KeyDocument::new(key.id(), wrap(key)?, MasterKey::local())
        .with_key_alt_names([KEY_ALT_NAME]);
    seeds.push((
        "key_document",
        "local".to_owned(),
        local.to_document().to_vec()?,
    ));
    let other = KeyDocument::new(
        fixtures.other_key.id(),
        wrap(&fixtures.other_key)?,
        MasterKey::local_named("named"),
    );
    seeds.push((
        "key_document",
        "local-named".to_owned(),
        other.to_document().to_vec()?,
    ));
    let aws = KeyDocument::new(
        fixtures.foreign_key.id(),
        vec![0x5a; 184],
        MasterKey::aws("us-east-1", "arn:aws:kms:us-east-1:111122223333:key/fuzz")
            .with_endpoint("kms.us-east-1.amazonaws.com"),
    )
    .with_key_alt_names(["a", "b"]);
    seeds.push((
        "key_document",
        "aws".to_owned(),
        aws.to_document().to_vec()?,
    ));

    // kms_reply: two bytes of status, then the body.
    let reply =
        |status: u16, body: String| [status.to_be_bytes().to_vec(), body.into_bytes()].concat();
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let arn = "arn:aws:kms:us-east-1:111122223333:key/fuzz";
    seeds.push(("kms_reply", "decrypt".to_owned(), reply(200, serde_json::json!({
        "KeyId": arn, "Plaintext": b64(&[0x42; 96]), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }).to_string())));
    seeds.push(("kms_reply", "encrypt".to_owned(), reply(200, serde_json::json!({
        "KeyId": arn, "CiphertextBlob": b64(&[0x5a; 184]), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }).to_string())));
    seeds.push((
        "kms_reply",
        "access-denied".to_owned(),
        reply(
            400,
            serde_json::json!({
                "__type": "AccessDeniedException", "message": "User is not authorized",
            })
            .to_string(),
        ),
    ));
    seeds.push((
        "kms_reply",
        "invalid-ciphertext".to_owned(),
        reply(
            400,
            serde_json::json!({
                "__type": "InvalidCiphertextException", "Message": "",
            })
            .to_string(),
        ),
    ));
    seeds.push((
        "kms_reply",
        "not-json".to_owned(),
        reply(502, "<html>Bad Gateway</html>".into()),
    ));
    seeds.push((
        "kms_reply",
        "bad-base64".to_owned(),
        reply(200, r#"{"Plaintext": "not base64!"}"#.into()),
    ));

    // extended_json: what `encrypt`, `decrypt` and `rewrap --filter` read.
    let ciphertext_json = |bytes: &[u8]| {
        format!(
            r#"{{"$binary": {{"base64": "{}", "subType": "06"}}}}"#,
            b64(bytes)
        )
    };
    let texts = [
        ("string", r#""O+""#.to_owned()),
        ("int", "42".to_owned()),
        ("long", r#"{"$numberLong": "42"}"#.to_owned()),
        (
            "date",
            r#"{"$date": {"$numberLong": "1700000000000"}}"#.to_owned(),
        ),
        ("decimal", r#"{"$numberDecimal": "1.5"}"#.to_owned()),
        ("nan", r#"{"$numberDouble": "NaN"}"#.to_owned()),
        ("oid", r#"{"$oid": "0123456789abcdef01234567"}"#.to_owned()),
        (
            "uuid",
            r#"{"$uuid": "00112233-4455-6677-8899-aabbccddeeff"}"#.to_owned(),
        ),
        (
            "regex",
            r#"{"$regularExpression": {"pattern": "^a", "options": "i"}}"#.to_owned(),
        ),
        ("array", r#"[1, 2.5, {"a": null, "b": true}]"#.to_owned()),
        (
            "filter",
            r#"{"keyAltNames": {"$in": ["fuzz-key"]}, "masterKey.provider": "local"}"#.to_owned(),
        ),
        (
            "ciphertext",
            ciphertext_json(names.first().ok_or("no ciphertext")?.1.as_bytes()),
        ),
        (
            "ciphertext-subtype-0",
            r#"{"$binary": {"base64": "AQID", "subType": "00"}}"#.to_owned(),
        ),
    ];
    for (name, text) in &texts {
        seeds.push((
            "extended_json",
            (*name).to_owned(),
            text.clone().into_bytes(),
        ));
    }

    for (target, name, bytes) in seeds {
        let directory = corpus.join(target);
        std::fs::create_dir_all(&directory)?;
        std::fs::write(directory.join(name), bytes)?;
    }
    println!("seeds written under {}", corpus.display());
    Ok(())
}
