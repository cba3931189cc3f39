"""pymongo (4.20, pymongocrypt 1.21.2 / libmongocrypt 1.21.0) reading and writing the
documents of ``EncryptedCollection<Patient>`` on a live server: the other half of
tests/pymongo_typed_collection.rs.

Reads one JSON request on stdin, writes one JSON reply on stdout. Documents and the
schema travel as hex-encoded BSON (``...Bson`` fields), so that neither field order nor
BSON type is lost on the way (JSON objects are unordered, and pymongo's Python mapping
changes some types); the filter is canonical Extended JSON. Inside, documents are edited
as ordered Extended JSON by ``extjson.py``. Phases:

- ``read``: ``find_one(filter)`` through a ``MongoClient`` with automatic decryption
  (``bypass_auto_encryption=True``: decryption needs no mongocryptd), with
  ``schema_map={namespace: schema}`` when a schema is given; replies with the decrypted
  document and the document as stored (read by a client without encryption).
- ``write``: for each given plaintext document, walks the schema (the one
  ``EncryptedCollection::json_schema()`` generates) for the encrypted fields and their
  algorithms, encrypts every one of them with ``ClientEncryption.encrypt`` by key alt
  name, except the ``plaintextFields`` it is told to leave in the clear, and inserts the
  result; then reads every document back with automatic decryption and compares.

Any mismatch is reported in ``failures``; the Rust test asserts there are none.
"""

from __future__ import annotations

import base64
import json
import sys

from bson import ObjectId, json_util
from bson.binary import STANDARD
from bson.codec_options import CodecOptions
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.encryption import ClientEncryption
from pymongo.encryption_options import AutoEncryptionOpts

import extjson

OPTS = CodecOptions(uuid_representation=STANDARD)
RAW = CodecOptions(document_class=RawBSONDocument, uuid_representation=STANDARD)
ALGORITHM_PREFIX = "AEAD_AES_256_CBC_HMAC_SHA_512-"


def load(value):
    """A canonical Extended JSON value as the Python value pymongo encrypts."""
    return json_util.loads(json.dumps({"v": value}), json_options=CANONICAL_JSON_OPTIONS)["v"]


def raw(document: dict) -> RawBSONDocument:
    return RawBSONDocument(extjson.extjson_to_bson(document), RAW)


def from_hex(data: str) -> dict:
    return extjson.bson_to_extjson(bytes.fromhex(data))


def to_hex(document: RawBSONDocument | None) -> str | None:
    return None if document is None else bytes(document.raw).hex()


def encrypted_fields(schema: dict, prefix: str = "", key_ids=None, algorithm=None):
    """(dotted path, algorithm, keyId list) of every ``encrypt`` in a CSFLE JSON schema,
    with ``encryptMetadata`` inherited from the enclosing objects."""
    metadata = schema.get("encryptMetadata", {})
    key_ids = metadata.get("keyId", key_ids)
    algorithm = metadata.get("algorithm", algorithm)
    for name, property_schema in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        if "encrypt" in property_schema:
            encrypt = property_schema["encrypt"]
            yield path, encrypt.get("algorithm", algorithm), encrypt.get("keyId", key_ids)
        else:
            yield from encrypted_fields(property_schema, f"{path}.", key_ids, algorithm)


def parent_of(document: dict, path: str) -> tuple[dict, str]:
    *parents, last = path.split(".")
    for name in parents:
        document = document[name]
    return document, last


def auto_decrypting_client(request: dict, schema: dict | None) -> MongoClient:
    kms = {name: {"key": base64.b64decode(key)} for name, key in request["kmsProviders"].items()}
    options = AutoEncryptionOpts(
        kms_providers=kms,
        key_vault_namespace=request["keyVaultNamespace"],
        bypass_auto_encryption=True,
        schema_map=None if schema is None else {request["namespace"]: raw(schema)},
    )
    return MongoClient(request["uri"], auto_encryption_opts=options)


def collection(client: MongoClient, namespace: str):
    database, name = namespace.split(".", 1)
    return client.get_database(database, codec_options=RAW)[name]


def read(request: dict) -> dict:
    schema = from_hex(request["schemaBson"]) if "schemaBson" in request else None
    filter_ = raw(request["filter"])
    with auto_decrypting_client(request, schema) as client:
        decrypted = collection(client, request["namespace"]).find_one(filter_)
    with MongoClient(request["uri"]) as client:
        stored = collection(client, request["namespace"]).find_one(filter_)
    return {
        "failures": [],
        "decryptedBson": to_hex(decrypted),
        "storedBson": to_hex(stored),
    }


def write(request: dict) -> dict:
    schema = from_hex(request["schemaBson"])
    key_alt_name = request["keyAltName"]
    failures = []
    fields = list(encrypted_fields(schema))
    kms = {name: {"key": base64.b64decode(key)} for name, key in request["kmsProviders"].items()}
    plain_client = MongoClient(request["uri"])
    encryption = ClientEncryption(kms, request["keyVaultNamespace"], plain_client, OPTS)
    key = encryption.get_key_by_alt_name(key_alt_name)
    if key is None:
        failures.append(f"no key with alt name {key_alt_name!r} in the key vault")
        key_id = None
    else:
        key_id = extjson.bson_to_extjson(key.raw)["_id"]
    for path, algorithm, key_ids in fields:
        if key_ids != [key_id]:
            failures.append(f"{path}: the schema names keys {key_ids}, not {key_alt_name}'s")
        if not algorithm or not algorithm.startswith(ALGORITHM_PREFIX):
            failures.append(f"{path}: not a CSFLE algorithm in the schema: {algorithm!r}")

    written = []
    for case in request["documents"]:
        document = {"_id": {"$oid": str(ObjectId())}, **from_hex(case["documentBson"])}
        stored = json.loads(json.dumps(document))
        for path, algorithm, _ in fields:
            if path in case.get("plaintextFields", []):
                continue
            parent, name = parent_of(stored, path)
            ciphertext = encryption.encrypt(
                load(parent[name]), algorithm, key_alt_name=key_alt_name
            )
            parent[name] = extjson.binary_json(bytes(ciphertext), ciphertext.subtype)
        written.append((document, stored))

    with auto_decrypting_client(request, schema) as client:
        patients = collection(client, request["namespace"])
        patients.insert_many([raw(stored) for _, stored in written])
        for document, _ in written:
            found = patients.find_one({"_id": ObjectId(document["_id"]["$oid"])})
            if found is None or bytes(found.raw) != extjson.extjson_to_bson(document):
                got = None if found is None else extjson.bson_to_extjson(found.raw)
                failures.append(f"pymongo reads back {got}, not {document}")
    encryption.close()
    plain_client.close()
    return {
        "failures": failures,
        "encryptedFields": [{"path": path, "algorithm": algorithm} for path, algorithm, _ in fields],
        "writtenBson": [extjson.extjson_to_bson(stored).hex() for _, stored in written],
    }


def main() -> None:
    request = json.load(sys.stdin)
    phases = {"read": read, "write": write}
    json.dump(phases[request["phase"]](request), sys.stdout)


if __name__ == "__main__":
    main()
