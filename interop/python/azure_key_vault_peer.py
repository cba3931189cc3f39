"""pymongo's ClientEncryption (pymongocrypt / libmongocrypt 1.21.0) with the ``azure`` KMS
provider, against the same Azure test server (interop/kms-servers/azure_server.py) and the
same key vault as encrypted-core: the other half of tests/azure_kms.rs.

Reads one JSON request on stdin, writes one JSON reply on stdout; values and ciphertexts
are canonical Extended JSON. libmongocrypt gets a token from the server's identity
platform endpoint (client credentials) and wraps/unwraps with its Key Vault, trusting the
run's CA through ``kms_tls_options``.

- ``cases``: ciphertexts (made by Rust with an Azure key) to decrypt and compare.
- ``create``: if set, create a data key under this Azure master key (alt name
  ``python-azure-key``), encrypt ``toEncrypt`` with it; the reply has the ciphertexts
  and the key's ``masterKey`` document as libmongocrypt wrote it.

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
    kms = {"azure": request["azure"]}
    tls = {"azure": {"tlsCAFile": request["caFile"]}}
    client = MongoClient(request["uri"])
    encryption = ClientEncryption(kms, request["keyVaultNamespace"], client, OPTS, kms_tls_options=tls)
    failures, written, master_key = [], [], None
    for case in request.get("cases", []):
        try:
            got = encryption.decrypt(load(case["ciphertext"]))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            failures.append(f"{case['description']}: pymongo cannot decrypt: {error}")
            continue
        if dump(got) != case["value"]:
            failures.append(f"{case['description']}: pymongo decrypts to {dump(got)}")
    if request.get("create"):
        key_id = encryption.create_data_key("azure", master_key=request["create"], key_alt_names=["python-azure-key"])
        document = client.get_database(request["keyVaultNamespace"].split(".", 1)[0]).get_collection(
            request["keyVaultNamespace"].split(".", 1)[1]
        ).find_one({"_id": key_id})
        master_key = dump(document["masterKey"])
        # Field order matters: the reply keeps it (json preserves insertion order).
        master_key = {"fields": list(document["masterKey"].keys()), "document": master_key}
        for case in request["toEncrypt"]:
            algorithm = (
                Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
                if case["algorithm"].endswith("Deterministic")
                else Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
            )
            ciphertext = encryption.encrypt(load(case["value"]), algorithm, key_id=key_id)
            written.append({**case, "ciphertext": dump(Binary(bytes(ciphertext), 6))})
    encryption.close()
    json.dump({"failures": failures, "written": written, "masterKey": master_key}, sys.stdout)


if __name__ == "__main__":
    main()
