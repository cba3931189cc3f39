"""pymongo's ClientEncryption (pymongocrypt / libmongocrypt 1.21.0) configured with the
same PyKMIP server as encrypted-core: the other half of tests/kmip_kms.rs.

Reads one JSON request on stdin, writes one JSON reply on stdout; values, key ids and
ciphertexts are canonical Extended JSON. Phases:

- ``create``: for each entry of ``create`` (``{"altName", "masterKey"}``), create a kmip
  data key with that ``masterKey`` (``{}``, ``{"delegated": true}``, ...) and encrypt
  ``value`` with it (random); reply with the key ids, the ciphertexts and each key
  document's ``masterKey``.
- ``check``: decrypt every case's ``ciphertext`` and compare it with its ``value``.

Any mismatch is reported in ``failures``; the Rust test asserts there are none.
"""

from __future__ import annotations

import json
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
    kmip = request["kmip"]
    client = MongoClient(request["uri"])
    encryption = ClientEncryption(
        {"kmip": {"endpoint": kmip["endpoint"]}},
        request["keyVaultNamespace"],
        client,
        OPTS,
        kms_tls_options={
            "kmip": {"tlsCAFile": kmip["caFile"], "tlsCertificateKeyFile": kmip["identityFile"]}
        },
    )
    database, collection = request["keyVaultNamespace"].split(".", 1)
    key_vault = client[database].get_collection(collection, codec_options=OPTS)
    failures, created = [], []
    if request["phase"] == "create":
        value = load(request["value"])
        for entry in request["create"]:
            key_id = encryption.create_data_key(
                "kmip", master_key=entry["masterKey"], key_alt_names=[entry["altName"]]
            )
            ciphertext = encryption.encrypt(
                value, Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random, key_id=key_id
            )
            document = key_vault.find_one({"_id": key_id})
            created.append(
                {
                    "altName": entry["altName"],
                    "keyId": dump(key_id),
                    "ciphertext": dump(Binary(bytes(ciphertext), 6)),
                    "masterKey": dump(document["masterKey"]),
                    "masterKeyFields": list(document["masterKey"].keys()),
                }
            )
    for case in request.get("cases", []):
        try:
            got = encryption.decrypt(load(case["ciphertext"]))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            failures.append(f"{case['description']}: pymongo cannot decrypt: {error}")
            continue
        if dump(got) != case["value"]:
            failures.append(f"{case['description']}: pymongo decrypts to {dump(got)}")
    encryption.close()
    json.dump({"failures": failures, "created": created}, sys.stdout)


if __name__ == "__main__":
    main()
