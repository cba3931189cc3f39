//! KMIP messages, sans I/O: the requests libmongocrypt sends a KMIP server and the
//! parsing of their replies, byte for byte as libmongocrypt writes and reads them.
//!
//! - Create a data key: `Register` a 96-byte SecretData and `Activate` it (unless the
//!   master key names a `keyId`), `Get` it, and wrap the data key with it as the `local`
//!   provider does. Decrypt: `Get`, then unwrap locally.
//! - `delegated`: `Create` an AES-256 key and `Activate` it (unless a `keyId` is given),
//!   then `Encrypt` the data key on the server (AES-CBC, PKCS#5 padding, IV chosen by the
//!   server); the `keyMaterial` is the IV followed by the ciphertext. Decrypt: `Decrypt`
//!   with that IV.
//!
//! The socket, TLS and timeouts live in the driver layer (`KmipKms`).

#![cfg_attr(not(feature = "driver"), allow(dead_code))]

pub(crate) mod ttlv;

use zeroize::Zeroizing;

use self::ttlv::{Item, Tag, Value, tag};

/// The length of the SecretData registered as a non-delegated master key.
pub(crate) const SECRET_DATA_LEN: usize = 96;

/// The IV of a delegated `Encrypt`: one AES block.
pub(crate) const IV_LEN: usize = 16;

/// The KMIP port, for an endpoint given without one.
pub(crate) const DEFAULT_PORT: u16 = 5696;

/// The operations used, with their enumeration values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Create a managed symmetric key.
    Create = 0x01,
    /// Register a managed object given by the client.
    Register = 0x03,
    /// Get a managed object.
    Get = 0x0a,
    /// Activate a managed object.
    Activate = 0x12,
    /// Encrypt with a managed key.
    Encrypt = 0x1f,
    /// Decrypt with a managed key.
    Decrypt = 0x20,
}

impl Operation {
    /// Its name, for errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Register => "Register",
            Self::Get => "Get",
            Self::Activate => "Activate",
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
        }
    }
}

fn integer(tag: Tag, value: i32) -> Item {
    Item::new(tag, Value::Integer(value))
}

fn enumeration(tag: Tag, value: u32) -> Item {
    Item::new(tag, Value::Enumeration(value))
}

fn text(tag: Tag, value: &str) -> Item {
    Item::new(tag, Value::TextString(value.to_owned()))
}

fn bytes(tag: Tag, value: &[u8]) -> Item {
    Item::new(tag, Value::ByteString(Zeroizing::new(value.to_vec())))
}

fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

/// A request message of one batch item; `minor` is the protocol's minor version (1.0
/// for the SecretData flow, 1.2 for the delegated one, as libmongocrypt sends them).
fn request(
    minor: i32,
    operation: Operation,
    payload: Vec<Item>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    Item::structure(
        tag::REQUEST_MESSAGE,
        vec![
            Item::structure(
                tag::REQUEST_HEADER,
                vec![
                    Item::structure(
                        tag::PROTOCOL_VERSION,
                        vec![
                            integer(tag::PROTOCOL_VERSION_MAJOR, 1),
                            integer(tag::PROTOCOL_VERSION_MINOR, minor),
                        ],
                    ),
                    integer(tag::BATCH_COUNT, 1),
                ],
            ),
            Item::structure(
                tag::BATCH_ITEM,
                vec![
                    enumeration(tag::OPERATION, operation as u32),
                    Item::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
    .encode()
}

/// `Register` a SecretData (type Seed, format Opaque) holding `secret`.
pub(crate) fn register_secret_data(
    secret: &[u8; SECRET_DATA_LEN],
) -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        0,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, 0x07), // SecretData
            Item::structure(
                tag::TEMPLATE_ATTRIBUTE,
                // Not used for cryptography on the server: an empty usage mask.
                vec![attribute("Cryptographic Usage Mask", Value::Integer(0))],
            ),
            Item::structure(
                tag::SECRET_DATA,
                vec![
                    enumeration(tag::SECRET_DATA_TYPE, 0x02), // Seed
                    Item::structure(
                        tag::KEY_BLOCK,
                        vec![
                            enumeration(tag::KEY_FORMAT_TYPE, 0x02), // Opaque
                            Item::structure(tag::KEY_VALUE, vec![bytes(tag::KEY_MATERIAL, secret)]),
                        ],
                    ),
                ],
            ),
        ],
    )
}

/// `Activate` the object `unique_identifier`.
pub(crate) fn activate(unique_identifier: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        0,
        Operation::Activate,
        vec![text(tag::UNIQUE_IDENTIFIER, unique_identifier)],
    )
}

/// `Get` the object `unique_identifier`.
pub(crate) fn get(unique_identifier: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        0,
        Operation::Get,
        vec![text(tag::UNIQUE_IDENTIFIER, unique_identifier)],
    )
}

/// `Create` an AES-256 key usable to encrypt and decrypt.
pub(crate) fn create_aes_key() -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        2,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 0x02), // SymmetricKey
            Item::structure(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attribute("Cryptographic Algorithm", Value::Enumeration(3)), // AES
                    attribute("Cryptographic Length", Value::Integer(256)),
                    attribute("Cryptographic Usage Mask", Value::Integer(4 | 8)), // Encrypt | Decrypt
                ],
            ),
        ],
    )
}

/// AES-CBC with PKCS#5 padding; on encryption, the server draws the IV.
fn cryptographic_parameters(random_iv: bool) -> Item {
    let mut parameters = vec![
        enumeration(tag::BLOCK_CIPHER_MODE, 1),       // CBC
        enumeration(tag::PADDING_METHOD, 3),          // PKCS5
        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3), // AES
    ];
    if random_iv {
        parameters.push(Item::new(tag::RANDOM_IV, Value::Boolean(true)));
    }
    Item::structure(tag::CRYPTOGRAPHIC_PARAMETERS, parameters)
}

/// `Encrypt` `plaintext` with the key `unique_identifier`.
pub(crate) fn encrypt(
    unique_identifier: &str,
    plaintext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        2,
        Operation::Encrypt,
        vec![
            text(tag::UNIQUE_IDENTIFIER, unique_identifier),
            cryptographic_parameters(true),
            bytes(tag::DATA, plaintext),
        ],
    )
}

/// `Decrypt` `ciphertext` (encrypted with `iv`) with the key `unique_identifier`.
pub(crate) fn decrypt(
    unique_identifier: &str,
    ciphertext: &[u8],
    iv: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    request(
        2,
        Operation::Decrypt,
        vec![
            text(tag::UNIQUE_IDENTIFIER, unique_identifier),
            cryptographic_parameters(false),
            bytes(tag::DATA, ciphertext),
            bytes(tag::IV_COUNTER_NONCE, iv),
        ],
    )
}

/// Why a reply could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReplyError {
    /// Not a well-formed KMIP reply to the request (a TTLV error, a missing field).
    Malformed(String),
    /// The server answered with a failure status.
    Failed {
        /// The Result Status (1: operation failed, …).
        status: u32,
        /// The Result Reason, if given.
        reason: Option<u32>,
        /// The server's Result Message, shortened and stripped of control characters.
        message: String,
    },
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed KMIP reply: {why}"),
            Self::Failed {
                status,
                reason,
                message,
            } => {
                write!(
                    f,
                    "the KMIP server answered {} ({status})",
                    status_name(*status)
                )?;
                if let Some(reason) = reason {
                    write!(f, ", reason {} ({reason})", reason_name(*reason))?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

fn status_name(status: u32) -> &'static str {
    match status {
        0 => "Success",
        1 => "Operation Failed",
        2 => "Operation Pending",
        3 => "Operation Undone",
        _ => "an unknown status",
    }
}

fn reason_name(reason: u32) -> &'static str {
    match reason {
        0x01 => "Item Not Found",
        0x02 => "Response Too Large",
        0x03 => "Authentication Not Successful",
        0x04 => "Invalid Message",
        0x05 => "Operation Not Supported",
        0x06 => "Missing Data",
        0x07 => "Invalid Field",
        0x08 => "Feature Not Supported",
        0x09 => "Operation Canceled By Requester",
        0x0a => "Cryptographic Failure",
        0x0b => "Illegal Operation",
        0x0c => "Permission Denied",
        0x0d => "Object Archived",
        0x100 => "General Failure",
        _ => "unknown",
    }
}

/// The most characters of a server's Result Message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;

fn malformed(why: impl Into<String>) -> ReplyError {
    ReplyError::Malformed(why.into())
}

/// A decoded reply to one request: its Response Payload.
#[derive(Debug)]
pub(crate) struct Reply {
    operation: Operation,
    payload: Item,
}

impl Reply {
    /// Decodes the reply to a request for `operation`: one batch item, for that
    /// operation, with status Success.
    pub(crate) fn parse(message: &[u8], operation: Operation) -> Result<Self, ReplyError> {
        let message = ttlv::decode(message).map_err(|error| malformed(error.to_string()))?;
        if message.tag != tag::RESPONSE_MESSAGE {
            return Err(malformed("not a Response Message"));
        }
        let Value::Structure(items) = message.value else {
            return Err(malformed("not a Response Message"));
        };
        let mut batch = items.into_iter().filter(|item| item.tag == tag::BATCH_ITEM);
        let (Some(item), None) = (batch.next(), batch.next()) else {
            return Err(malformed("a reply must hold exactly one Batch Item"));
        };
        let status = item
            .child(tag::RESULT_STATUS)
            .and_then(Item::enumeration)
            .ok_or_else(|| malformed("no Result Status"))?;
        if status != 0 {
            let message: String = item
                .child(tag::RESULT_MESSAGE)
                .and_then(Item::text)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_MESSAGE_CHARS)
                .collect();
            return Err(ReplyError::Failed {
                status,
                reason: item.child(tag::RESULT_REASON).and_then(Item::enumeration),
                message,
            });
        }
        // The Operation is optional in a reply; if there, it must be ours.
        if let Some(answered) = item.child(tag::OPERATION)
            && answered.enumeration() != Some(operation as u32)
        {
            return Err(malformed(format!(
                "the reply is not for the {} request",
                operation.name()
            )));
        }
        let Value::Structure(items) = item.value else {
            return Err(malformed("a Batch Item must be a structure"));
        };
        let payload = items
            .into_iter()
            .find(|item| {
                item.tag == tag::RESPONSE_PAYLOAD && matches!(item.value, Value::Structure(_))
            })
            .ok_or_else(|| malformed("no Response Payload"))?;
        Ok(Self { operation, payload })
    }

    fn field(&self, path: &[Tag], name: &str) -> Result<&Item, ReplyError> {
        self.payload
            .find(path)
            .ok_or_else(|| malformed(format!("the {} reply has no {name}", self.operation.name())))
    }

    /// The Unique Identifier of the object (Register, Create, Activate, Encrypt).
    pub(crate) fn unique_identifier(&self) -> Result<String, ReplyError> {
        let text = self
            .field(&[tag::UNIQUE_IDENTIFIER], "Unique Identifier")?
            .text()
            .ok_or_else(|| malformed("the Unique Identifier is not text"))?;
        if text.is_empty() || text.len() > 1024 {
            return Err(malformed("the Unique Identifier is empty or too long"));
        }
        Ok(text.to_owned())
    }

    /// The 96 bytes of a SecretData (Get).
    pub(crate) fn secret_data(&self) -> Result<&Zeroizing<Vec<u8>>, ReplyError> {
        let material = self
            .field(
                &[
                    tag::SECRET_DATA,
                    tag::KEY_BLOCK,
                    tag::KEY_VALUE,
                    tag::KEY_MATERIAL,
                ],
                "SecretData key material",
            )?
            .bytes()
            .ok_or_else(|| malformed("the SecretData key material is not bytes"))?;
        if material.len() != SECRET_DATA_LEN {
            return Err(malformed(format!(
                "the SecretData is {} bytes long, not {SECRET_DATA_LEN}",
                material.len()
            )));
        }
        Ok(material)
    }

    /// The Data (Encrypt: the ciphertext; Decrypt: the plaintext).
    pub(crate) fn data(&self) -> Result<&Zeroizing<Vec<u8>>, ReplyError> {
        self.field(&[tag::DATA], "Data")?
            .bytes()
            .ok_or_else(|| malformed("the Data is not bytes"))
    }

    /// The IV/Counter/Nonce the server drew (Encrypt): one AES block.
    pub(crate) fn iv(&self) -> Result<&[u8], ReplyError> {
        let iv = self
            .field(&[tag::IV_COUNTER_NONCE], "IV/Counter/Nonce")?
            .bytes()
            .ok_or_else(|| malformed("the IV/Counter/Nonce is not bytes"))?;
        if iv.len() != IV_LEN {
            return Err(malformed(format!(
                "the IV is {} bytes long, not {IV_LEN}",
                iv.len()
            )));
        }
        Ok(iv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libmongocrypt's kms-message test vectors (kms-message/test/test_kms_kmip_request.c
    /// and test_kms_kmip_response.c), in hex.
    fn vector(name: &str) -> Vec<u8> {
        let vectors = include_str!("../../tests/data/libmongocrypt-kmip-vectors.json");
        let key = format!("\"{name}\": \"");
        let start = vectors.find(&key).unwrap() + key.len();
        let text = &vectors[start..start + vectors[start..].find('"').unwrap()];
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn writes_requests_byte_for_byte_as_libmongocrypt() {
        let secret: [u8; SECRET_DATA_LEN] =
            vector("REGISTER_SECRETDATA_SECRETDATA").try_into().unwrap();
        assert_eq!(
            register_secret_data(&secret).unwrap().as_slice(),
            vector("REGISTER_SECRETDATA_REQUEST")
        );
        assert_eq!(
            get("7FJYvnV6XkaUCWuY96bCSc6AuhvkPpqI").unwrap().as_slice(),
            vector("GET_REQUEST")
        );
        assert_eq!(
            activate("7FJYvnV6XkaUCWuY96bCSc6AuhvkPpqI")
                .unwrap()
                .as_slice(),
            vector("ACTIVATE_REQUEST")
        );
    }

    #[test]
    fn reads_libmongocrypt_reply_vectors() {
        let register =
            Reply::parse(&vector("SUCCESS_REGISTER_RESPONSE"), Operation::Register).unwrap();
        assert_eq!(register.unique_identifier().unwrap(), "39");
        let get = Reply::parse(&vector("SUCCESS_GET_RESPONSE"), Operation::Get).unwrap();
        assert_eq!(
            get.secret_data().unwrap().as_slice(),
            vector("SUCCESS_GET_RESPONSE_SECRETDATA")
        );
        let error =
            Reply::parse(&vector("ERROR_GET_RESPOSE_NOTFOUND"), Operation::Get).unwrap_err();
        assert_eq!(
            error,
            ReplyError::Failed {
                status: 1,
                reason: Some(1),
                message: "ResultReasonItemNotFound".to_owned()
            }
        );
        assert_eq!(
            error.to_string(),
            "the KMIP server answered Operation Failed (1), reason Item Not Found (1): ResultReasonItemNotFound"
        );
    }

    #[test]
    fn refuses_a_reply_to_another_operation() {
        let reply = Reply::parse(&vector("SUCCESS_REGISTER_RESPONSE"), Operation::Get);
        assert!(matches!(reply, Err(ReplyError::Malformed(why)) if why.contains("Get request")));
    }

    #[test]
    fn writes_the_delegated_requests_libmongocrypt_sends() {
        // Decoded back, each holds what kms_kmip_request.c writes, in its order.
        let create = ttlv::decode(&create_aes_key().unwrap()).unwrap();
        let minor = create.find(&[
            tag::REQUEST_HEADER,
            tag::PROTOCOL_VERSION,
            tag::PROTOCOL_VERSION_MINOR,
        ]);
        assert!(matches!(minor.unwrap().value, Value::Integer(2)));
        let payload = create
            .find(&[tag::BATCH_ITEM, tag::REQUEST_PAYLOAD])
            .unwrap();
        assert_eq!(
            payload.child(tag::OBJECT_TYPE).unwrap().enumeration(),
            Some(2)
        );
        let encrypt = ttlv::decode(&encrypt("42", &[9; 96]).unwrap()).unwrap();
        let payload = encrypt
            .find(&[tag::BATCH_ITEM, tag::REQUEST_PAYLOAD])
            .unwrap();
        assert_eq!(
            payload.child(tag::UNIQUE_IDENTIFIER).unwrap().text(),
            Some("42")
        );
        assert_eq!(payload.child(tag::DATA).unwrap().bytes().unwrap().len(), 96);
        let parameters = payload.child(tag::CRYPTOGRAPHIC_PARAMETERS).unwrap();
        assert!(matches!(
            parameters.child(tag::RANDOM_IV).unwrap().value,
            Value::Boolean(true)
        ));
        let decrypt = ttlv::decode(&decrypt("42", &[1; 112], &[2; 16]).unwrap()).unwrap();
        let payload = decrypt
            .find(&[tag::BATCH_ITEM, tag::REQUEST_PAYLOAD])
            .unwrap();
        assert_eq!(
            payload
                .child(tag::IV_COUNTER_NONCE)
                .unwrap()
                .bytes()
                .unwrap()
                .as_slice(),
            [2; 16]
        );
        assert!(
            payload
                .find(&[tag::CRYPTOGRAPHIC_PARAMETERS, tag::RANDOM_IV])
                .is_none()
        );
    }

    fn reply(operation: Operation, payload: Vec<Item>) -> Vec<u8> {
        Item::structure(
            tag::RESPONSE_MESSAGE,
            vec![Item::structure(
                tag::BATCH_ITEM,
                vec![
                    enumeration(tag::OPERATION, operation as u32),
                    enumeration(tag::RESULT_STATUS, 0),
                    Item::structure(tag::RESPONSE_PAYLOAD, payload),
                ],
            )],
        )
        .encode()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn reads_the_iv_and_data_of_an_encrypt_reply() {
        let message = reply(
            Operation::Encrypt,
            vec![
                text(tag::UNIQUE_IDENTIFIER, "2"),
                bytes(tag::DATA, &[5; 112]),
                bytes(tag::IV_COUNTER_NONCE, &[6; 16]),
            ],
        );
        let parsed = Reply::parse(&message, Operation::Encrypt).unwrap();
        assert_eq!(parsed.data().unwrap().as_slice(), [5; 112]);
        assert_eq!(parsed.iv().unwrap(), [6; 16]);
        let short_iv = reply(
            Operation::Encrypt,
            vec![bytes(tag::IV_COUNTER_NONCE, &[6; 8])],
        );
        assert!(
            Reply::parse(&short_iv, Operation::Encrypt)
                .unwrap()
                .iv()
                .is_err()
        );
    }

    #[test]
    fn refuses_replies_missing_what_was_asked() {
        let empty = reply(Operation::Get, vec![]);
        let parsed = Reply::parse(&empty, Operation::Get).unwrap();
        assert!(parsed.secret_data().is_err());
        assert!(parsed.unique_identifier().is_err());
        let short = reply(
            Operation::Get,
            vec![Item::structure(
                tag::SECRET_DATA,
                vec![Item::structure(
                    tag::KEY_BLOCK,
                    vec![Item::structure(
                        tag::KEY_VALUE,
                        vec![bytes(tag::KEY_MATERIAL, &[1; 32])],
                    )],
                )],
            )],
        );
        let parsed = Reply::parse(&short, Operation::Get).unwrap();
        assert!(
            matches!(parsed.secret_data(), Err(ReplyError::Malformed(why)) if why.contains("32 bytes"))
        );
        let two_items = Item::structure(
            tag::RESPONSE_MESSAGE,
            vec![
                Item::structure(tag::BATCH_ITEM, vec![enumeration(tag::RESULT_STATUS, 0)]),
                Item::structure(tag::BATCH_ITEM, vec![enumeration(tag::RESULT_STATUS, 0)]),
            ],
        );
        assert!(Reply::parse(&two_items.encode().unwrap(), Operation::Get).is_err());
        assert!(Reply::parse(&get("1").unwrap(), Operation::Get).is_err());
    }

    #[test]
    fn quotes_little_of_a_server_message_and_no_control_characters() {
        let failed = Item::structure(
            tag::RESPONSE_MESSAGE,
            vec![Item::structure(
                tag::BATCH_ITEM,
                vec![
                    enumeration(tag::RESULT_STATUS, 1),
                    text(
                        tag::RESULT_MESSAGE,
                        &format!("bad\n\u{1b}[31m{}", "x".repeat(5000)),
                    ),
                ],
            )],
        );
        let Err(ReplyError::Failed {
            message, reason, ..
        }) = Reply::parse(&failed.encode().unwrap(), Operation::Get)
        else {
            panic!("expected a failure");
        };
        assert_eq!(reason, None);
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(message.starts_with("bad[31m"));
    }
}
