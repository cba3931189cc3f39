"""libmongocrypt (through pymongocrypt) without a MongoDB server.

The key vault is an in-memory list of raw BSON key documents; the local KMS
provider needs no network, so ``kms_request`` is never called.
"""

from __future__ import annotations

import bson
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

import pymongocrypt
from pymongocrypt.errors import MongoCryptError
from pymongocrypt.explicit_encrypter import ExplicitEncrypter
from pymongocrypt.options import MongoCryptOptions
from pymongocrypt.synchronous.state_machine import MongoCryptCallback

from extjson import doc_bytes, element_bytes

DETERMINISTIC = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
RANDOM = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"

# UNSPECIFIED keeps subtype 3/4 binaries as bson.Binary when decoding, and
# encodes bytes as subtype 0: nothing is reinterpreted.
OPTS = CodecOptions(
    document_class=RawBSONDocument,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
)
PLAIN = CodecOptions(uuid_representation=UuidRepresentation.UNSPECIFIED)

__all__ = [
    "DETERMINISTIC",
    "RANDOM",
    "MongoCryptError",
    "Lmc",
    "versions",
    "v_doc",
]


def versions() -> tuple[str, str]:
    return pymongocrypt.__version__, pymongocrypt.libmongocrypt_version()


def v_doc(t: int, payload: bytes) -> bytes:
    """Raw BSON of ``{"v": <value of type t>}``."""
    return doc_bytes(element_bytes("v", t, payload))


def _key_id(raw_key: bytes) -> bytes:
    kid = bson.decode(raw_key, PLAIN)["_id"]
    if not isinstance(kid, Binary) or kid.subtype != 4:
        raise ValueError("key document _id is not a UUID binary")
    return bytes(kid)


def _alt_names(raw_key: bytes) -> list[str]:
    return list(bson.decode(raw_key, PLAIN).get("keyAltNames", []))


def _match_filter(filt: dict, ids: set, names: set) -> None:
    """Collects the ids/alt names asked for by libmongocrypt's key filter:
    {"$or": [{"_id": {"$in": [...]}}, {"keyAltNames": {"$in": [...]}}]}."""
    for k, v in filt.items():
        if k in ("$or", "$and"):
            for sub in v:
                _match_filter(sub, ids, names)
        elif k == "_id":
            for x in v["$in"] if isinstance(v, dict) else [v]:
                ids.add(bytes(x))
        elif k == "keyAltNames":
            for x in v["$in"] if isinstance(v, dict) else [v]:
                names.add(x)


class _Callback(MongoCryptCallback):
    def __init__(self, keys: list[bytes]):
        self.keys = keys
        self.filters: list[bytes] = []

    def kms_request(self, kms_context):  # pragma: no cover - local KMS only
        raise AssertionError("no KMS request expected with the local provider")

    def collection_info(self, database, filter):  # pragma: no cover
        raise AssertionError("no collection info expected")

    def mark_command(self, database, cmd):  # pragma: no cover
        raise AssertionError("no mongocryptd expected")

    def fetch_keys(self, filter):
        self.filters.append(bytes(filter))
        ids: set = set()
        names: set = set()
        _match_filter(bson.decode(filter, PLAIN), ids, names)
        for k in self.keys:
            if _key_id(k) in ids or names.intersection(_alt_names(k)):
                yield k

    def insert_data_key(self, data_key):
        data_key = bytes(data_key)
        self.keys.append(data_key)
        return _key_id(data_key)

    def bson_encode(self, doc):
        return bson.encode(doc, codec_options=PLAIN)

    def close(self):
        pass


class Lmc:
    """One libmongocrypt handle with a local master key and an in-memory key vault."""

    def __init__(self, master_key: bytes, keys: list[bytes] | None = None):
        self.callback = _Callback(list(keys or []))
        # key_expiration_ms=0: keys never expire from the cache during a run.
        opts = MongoCryptOptions({"local": {"key": bytes(master_key)}}, key_expiration_ms=0)
        self.enc = ExplicitEncrypter(self.callback, opts)

    @property
    def keys(self) -> list[bytes]:
        return self.callback.keys

    def create_key(self, alt_names: list[str]) -> bytes:
        return self.enc.create_data_key("local", key_alt_names=alt_names)

    def encrypt(self, value_doc: bytes, algorithm: str, key_id: bytes | None = None,
                key_alt_name: str | None = None) -> bytes:
        """Encrypts ``{"v": value}`` bytes; returns the ciphertext bytes (subtype 6 payload)."""
        out = self.enc.encrypt(value_doc, algorithm, key_id=key_id, key_alt_name=key_alt_name)
        v = bson.decode(out, PLAIN)["v"]
        if not isinstance(v, Binary) or v.subtype != 6:
            raise AssertionError(f"libmongocrypt returned a non-ciphertext: {v!r}")
        return bytes(v)

    def decrypt_binary(self, data: bytes, subtype: int = 6) -> bytes:
        """Explicitly decrypts a binary value; returns ``{"v": plaintext}`` bytes."""
        doc = v_doc(0x05, len(data).to_bytes(4, "little", signed=True) + bytes([subtype]) + data)
        return bytes(self.enc.decrypt(doc))

    def close(self):
        self.enc.close()
