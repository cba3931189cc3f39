"""pymongo's ClientEncryption (pymongocrypt / libmongocrypt) with the ``gcp`` KMS
provider, against the same Google Cloud KMS test server as encrypted-core: the other half
of tests/gcp_kms.rs.

Reads one JSON request on stdin, writes one JSON reply on stdout. libmongocrypt fetches
its own OAuth token from the server (the JWT bearer flow, signed with the service
account's key; or, with ``metadataHost``, on demand from the metadata server), then:

- decrypts each of ``cases`` (Rust ciphertexts under Rust-made gcp keys) and compares;
- creates a data key with ``masterKey`` (alt name ``altName``), encrypts ``value`` with
  it, and returns the ciphertext, the key's id and its ``masterKey`` document as stored.

Any mismatch is reported in ``failures``; the Rust test asserts there are none.
"""

from __future__ import annotations

import json
import os
import sys

from bson import json_util
from bson.binary import STANDARD, Binary
from bson.codec_options import CodecOptions
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import MongoClient
from pymongo.encryption import Algorithm, ClientEncryption

OPTS = CodecOptions(uuid_representation=STANDARD)


def load(value):
    return json_util.loads(json.dumps({"v": value}), json_options=CANONICAL_JSON_OPTIONS)["v"]


def dump(value):
    return json.loads(json_util.dumps({"v": value}, json_options=CANONICAL_JSON_OPTIONS))["v"]


def main() -> None:
    request = json.load(sys.stdin)
    # libmongocrypt's privateKey: the base64 of the PKCS#8 DER (the PEM's body).
    pem = request["privateKeyPem"]
    der_base64 = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    gcp = {"email": request["email"], "privateKey": der_base64, "endpoint": request["endpoint"]}
    if request.get("metadataHost"):
        # On-demand credentials (an empty gcp document): pymongocrypt asks the metadata
        # server GCE_METADATA_HOST names for the token.
        os.environ["GCE_METADATA_HOST"] = request["metadataHost"]
        gcp = {}
    client = MongoClient(request["uri"])
    encryption = ClientEncryption(
        {"gcp": gcp},
        request["keyVaultNamespace"],
        client,
        OPTS,
        kms_tls_options={"gcp": {"tlsCAFile": request["caFile"]}},
    )
    failures = []
    for case in request.get("cases", []):
        try:
            got = encryption.decrypt(load(case["ciphertext"]))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            failures.append(f"{case['description']}: pymongo cannot decrypt: {error}")
            continue
        if dump(got) != case["value"]:
            failures.append(f"{case['description']}: pymongo decrypts to {dump(got)}")
    key_id = encryption.create_data_key(
        "gcp", master_key=request["masterKey"], key_alt_names=[request["altName"]]
    )
    ciphertext = encryption.encrypt(
        load(request["value"]), Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random, key_id=key_id
    )
    db, coll = request["keyVaultNamespace"].split(".", 1)
    stored = client[db].get_collection(coll, codec_options=OPTS).find_one({"_id": key_id})
    encryption.close()
    json.dump(
        {
            "failures": failures,
            "keyId": dump(Binary.from_uuid(key_id) if not isinstance(key_id, Binary) else key_id),
            "ciphertext": dump(Binary(bytes(ciphertext), 6)),
            "masterKey": json.loads(json_util.dumps(stored["masterKey"])),
            "masterKeyFields": list(stored["masterKey"].keys()),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
