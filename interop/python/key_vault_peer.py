"""pymongo's ClientEncryption (pymongocrypt / libmongocrypt 1.21.0) sharing a key vault
on a live server with encrypted-core: the other half of tests/pymongo_key_vault.rs.

Reads one JSON request on stdin, writes one JSON reply on stdout; values and ciphertexts
are canonical Extended JSON. Phases:

- ``check-and-write``: decrypt the Rust ciphertexts and compare; re-encrypt the Rust
  deterministic cases with the Rust key (by alt name) and compare bytes; create a data key
  here (alt name ``python-key``) and encrypt the given values with it.
- ``check``: decrypt every given ciphertext and compare.

Any mismatch is reported in ``failures``; the Rust test asserts there are none.
"""

from __future__ import annotations

import base64
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
    kms = {name: {"key": base64.b64decode(key)} for name, key in request["kmsProviders"].items()}
    client = MongoClient(request["uri"])
    encryption = ClientEncryption(kms, request["keyVaultNamespace"], client, OPTS)
    failures, written = [], []
    for case in request.get("cases", []):
        ciphertext = load(case["ciphertext"])
        expected = load(case["value"])
        try:
            got = encryption.decrypt(ciphertext)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            failures.append(f"{case['description']}: pymongo cannot decrypt: {error}")
            continue
        if dump(got) != case["value"]:
            failures.append(f"{case['description']}: pymongo decrypts to {dump(got)}")
        if request["phase"] == "check-and-write" and case["algorithm"].endswith("Deterministic"):
            again = encryption.encrypt(expected, case["algorithm"], key_alt_name=case["keyAltName"])
            if bytes(again) != bytes(ciphertext):
                failures.append(f"{case['description']}: deterministic ciphertexts differ")
    if request["phase"] == "check-and-write":
        key_id = encryption.create_data_key("local", key_alt_names=["python-key"])
        for case in request["toEncrypt"]:
            value = load(case["value"])
            algorithm = (
                Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
                if case["algorithm"].endswith("Deterministic")
                else Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
            )
            ciphertext = encryption.encrypt(value, algorithm, key_id=key_id)
            written.append({**case, "ciphertext": dump(Binary(bytes(ciphertext), 6))})
    encryption.close()
    json.dump({"failures": failures, "written": written}, sys.stdout)


if __name__ == "__main__":
    main()
