"""Queryable Encryption (protocol v2) cross-check with libmongocrypt, no server.

Reads one JSON request on stdin:
  {"master_key": b64 (96 bytes), "keys": [b64 raw key documents], "key_id": hex,
   "ours": [{"blob": b64 (subtype-6 bytes), "value": b64 raw {"v": value}}],
   "values": [{"value": b64 raw {"v": value}, "indexed": bool}]}
libmongocrypt (pymongocrypt's bundled 1.21) decrypts every blob of "ours" and must
give back exactly "value"; it then encrypts every value of "values" with the
`Unindexed` algorithm, and, where "indexed", with `Indexed` (contention factor 0: the
insert payload) and as an equality query at contention factors 0 and 4 (the find
payloads), all under the key "key_id". Replies {"failures": [...], "theirs": [...]}.
"""

from __future__ import annotations

import base64
import json
import sys

import bson
from bson.binary import Binary

from lmc import PLAIN, Lmc

INDEXED = "Indexed"
UNINDEXED = "Unindexed"


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


def blob(out: bytes) -> bytes:
    v = bson.decode(out, PLAIN)["v"]
    if not isinstance(v, Binary) or v.subtype != 6:
        raise AssertionError("libmongocrypt returned a non-ciphertext")
    return bytes(v)


def main() -> int:
    request = json.load(sys.stdin)
    lmc = Lmc(base64.b64decode(request["master_key"]),
              [base64.b64decode(k) for k in request["keys"]])
    key_id = Binary(bytes.fromhex(request["key_id"]), 4)
    failures: list[str] = []
    for i, case in enumerate(request["ours"]):
        data = base64.b64decode(case["blob"])
        try:
            got = lmc.decrypt_binary(data)
        except Exception as error:  # noqa: BLE001 - reported as a failure
            failures.append(f"ours[{i}] (blob subtype {data[0]}): libmongocrypt refused it: {error}")
            continue
        if got != base64.b64decode(case["value"]):
            failures.append(f"ours[{i}] (blob subtype {data[0]}): decrypts to another value")
    theirs = []
    for case in request["values"]:
        value = base64.b64decode(case["value"])
        reply = {"unindexed": b64(blob(lmc.enc.encrypt(value, UNINDEXED, key_id=key_id)))}
        if case["indexed"]:
            reply["insert"] = b64(blob(lmc.enc.encrypt(
                value, INDEXED, key_id=key_id, contention_factor=0)))
            for cf in (0, 4):
                reply[f"find{cf}"] = b64(blob(lmc.enc.encrypt(
                    value, INDEXED, key_id=key_id, query_type="equality", contention_factor=cf)))
        theirs.append(reply)
    lmc.close()
    json.dump({"failures": failures, "theirs": theirs}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
