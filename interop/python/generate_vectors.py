#!/usr/bin/env python3
"""Writes FLE1 (CSFLE) interop test vectors produced by libmongocrypt.

Usage: generate_vectors.py OUT.json

libmongocrypt (the copy bundled in the pymongocrypt wheel) creates two data
keys under a fixed 96-byte local master key (bytes 0..95), then explicitly
encrypts every BSON type with both FLE1 algorithms, naming the key by id and by
alternate name. Refusals are recorded with libmongocrypt's message. Finally a
few valid ciphertexts are damaged in ways that must make decryption fail.

All BSON values are built as raw bytes and written as canonical Extended JSON
v2 (see extjson.py), so no type is lost to pymongo's Python mapping.
"""

from __future__ import annotations

import json
import struct
import sys

from extjson import binary_json, bson_to_extjson, doc_bytes, element_bytes, value_to_extjson
from lmc import DETERMINISTIC, RANDOM, Lmc, MongoCryptError, v_doc, versions

MASTER_KEY = bytes(range(96))


# --------------------------------------------------------------------------
# raw BSON value builders: each returns (type byte, payload)
# --------------------------------------------------------------------------


def s_(s: str) -> bytes:
    b = s.encode("utf-8") + b"\x00"
    return struct.pack("<i", len(b)) + b


def double(f: float):
    return 0x01, struct.pack("<d", f)


def string(s: str):
    return 0x02, s_(s)


def document(*elements: bytes):
    return 0x03, doc_bytes(b"".join(elements))


def array(*values):
    return 0x04, doc_bytes(b"".join(element_bytes(str(i), t, p) for i, (t, p) in enumerate(values)))


def binary(subtype: int, data: bytes):
    if subtype == 0x02:
        data = struct.pack("<i", len(data)) + data
    return 0x05, struct.pack("<i", len(data)) + bytes([subtype]) + data


def oid(h: str):
    return 0x07, bytes.fromhex(h)


def datetime_ms(ms: int):
    return 0x09, struct.pack("<q", ms)


def regex(pattern: str, options: str):
    return 0x0B, pattern.encode() + b"\x00" + options.encode() + b"\x00"


def dbpointer(ns: str, h: str):
    return 0x0C, s_(ns) + bytes.fromhex(h)


def code(c: str):
    return 0x0D, s_(c)


def symbol(s: str):
    return 0x0E, s_(s)


def code_w_scope(c: str, scope_elements: bytes):
    body = s_(c) + doc_bytes(scope_elements)
    return 0x0F, struct.pack("<i", len(body) + 4) + body


def int32(i: int):
    return 0x10, struct.pack("<i", i)


def timestamp(t: int, i: int):
    return 0x11, struct.pack("<II", i, t)


def int64(i: int):
    return 0x12, struct.pack("<q", i)


def decimal128(s: str):
    from bson.decimal128 import Decimal128

    return 0x13, Decimal128(s).bid


def el(key: str, value) -> bytes:
    return element_bytes(key, *value)


OID = "5f0c8e2b9d3a4c1e7b6a5d4c"

VALUES = [
    ("double 1.5", double(1.5)),
    ("double -0.0", double(-0.0)),
    ("double NaN", double(float("nan"))),
    ("double -Infinity", double(float("-inf"))),
    ("double 1e300", double(1e300)),
    ("string ascii", string("hello, world")),
    ("string empty", string("")),
    ("string unicode", string("h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001d11e \U0001f600")),
    ("string 1 KiB", string("".join(chr(0x61 + (i % 26)) for i in range(1024)))),
    ("document non-empty", document(el("a", int32(1)), el("b", string("x")),
                                    el("c", document(el("d", double(2.5)))))),
    ("document empty", document()),
    ("array", array(int32(1), string("two"), double(3.0), document(el("x", int64(4))))),
    ("array empty", array()),
    ("binary subtype 0 (generic)", binary(0x00, bytes(range(20)))),
    ("binary subtype 0 empty", binary(0x00, b"")),
    ("binary subtype 1 (function)", binary(0x01, b"\x01\x02\x03")),
    ("binary subtype 2 (old binary)", binary(0x02, b"\xff\xfe\x00\x01")),
    ("binary subtype 3 (old UUID)", binary(0x03, bytes.fromhex("00112233445566778899aabbccddeeff"))),
    ("binary subtype 4 (UUID)", binary(0x04, bytes.fromhex("0123456789abcdef0123456789abcdef"))),
    ("binary subtype 5 (MD5)", binary(0x05, bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e"))),
    ("binary subtype 7 (column)", binary(0x07, b"\x07column")),
    ("binary subtype 0x80 (user defined)", binary(0x80, b"user-defined \x00\xff")),
    ("undefined", (0x06, b"")),
    ("objectId", oid(OID)),
    ("bool true", (0x08, b"\x01")),
    ("bool false", (0x08, b"\x00")),
    ("datetime 2023", datetime_ms(1_700_000_000_123)),
    ("datetime epoch", datetime_ms(0)),
    ("datetime pre-1970", datetime_ms(-2_208_988_800_000)),  # 1900-01-01
    ("datetime after year 3000", datetime_ms(40_000_000_000_000)),  # year 3237
    ("datetime int64 min", datetime_ms(-(2**63))),
    ("null", (0x0A, b"")),
    ("regex with options", regex("^ab+c$", "imsx")),
    ("regex no options", regex("a.b", "")),
    ("dbPointer", dbpointer("db.coll", OID)),
    ("javascript code", code("function () { return 1; }")),
    ("symbol", symbol("sym")),
    ("code with scope", code_w_scope("function () { return x; }", el("x", int32(1)))),
    ("int32 positive", int32(42)),
    ("int32 negative", int32(-42)),
    ("int32 zero", int32(0)),
    ("int32 max", int32(2**31 - 1)),
    ("int32 min", int32(-(2**31))),
    ("timestamp", timestamp(1_700_000_000, 7)),
    ("int64 positive", int64(1_234_567_890_123)),
    ("int64 min", int64(-(2**63))),
    ("int64 max", int64(2**63 - 1)),
    ("decimal128 1.23", decimal128("1.23")),
    ("decimal128 -Infinity", decimal128("-Infinity")),
    ("minKey", (0xFF, b"")),
    ("maxKey", (0x7F, b"")),
]


def short(algorithm: str) -> str:
    return "deterministic" if algorithm == DETERMINISTIC else "random"


def message(err: MongoCryptError) -> str:
    return str(err)


def forged_tampered(lmc: Lmc, keys, samples, tamper) -> None:
    """Ciphertexts with a VALID tag (forged with the data key, see fle1.py) whose
    plaintext is bad: they test what happens after the MAC check."""
    import bson

    from fle1 import aead_open, deterministic_iv, forge, pkcs7, unwrap_data_key
    from lmc import PLAIN

    ct = samples[("string ascii", DETERMINISTIC)]
    key_id = ct[1:17]
    key_doc = next(k for k in lmc.keys if bytes(bson.decode(k, PLAIN)["_id"]) == key_id)
    data_key = unwrap_data_key(MASTER_KEY, bytes(bson.decode(key_doc, PLAIN)["keyMaterial"]))
    assert len(data_key) == 96
    # Self-test of fle1.py against libmongocrypt: open a real deterministic
    # ciphertext, check its padding and IV, and re-forge it byte for byte.
    payload = string("hello, world")[1]
    ad = ct[:18]
    assert aead_open(data_key, ad, ct[18:]) == pkcs7(payload)
    iv = deterministic_iv(data_key, ad, payload)
    assert ct[18:34] == iv, "deterministic IV derivation differs from libmongocrypt"
    assert forge(data_key, 1, key_id, 0x02, pkcs7(payload), iv) == ct
    assert lmc.decrypt_binary(forge(data_key, 2, key_id, 0x02, pkcs7(payload))) == v_doc(*string("hello, world"))

    def f(desc, bson_type, padded, blob=2):
        tamper("forged with a valid tag: " + desc, forge(data_key, blob, key_id, bson_type, padded))

    i32 = struct.pack("<i", 7)
    f("int32, padding byte 0x00", 0x10, i32 + bytes(12))
    f("int32, padding byte 0x11 (> 16)", 0x10, i32 + bytes(11) + b"\x11")
    f("int32, inconsistent padding bytes", 0x10, i32 + bytes(10) + b"\x01\x02")
    f("int32, non-uniform padding bytes whose last byte is right (12)", 0x10, i32 + bytes(11) + b"\x0c")
    f("string of 16 payload bytes with no padding block (last byte 0x00)", 0x02, s_("a" * 11))
    f("int32, full block of padding byte 0x20", 0x10, bytes([0x20]) * 16)
    f("int32, plaintext of 3 bytes", 0x10, pkcs7(i32[:3]))
    f("int32, plaintext of 5 bytes", 0x10, pkcs7(i32 + b"\x00"))
    f("int32, empty plaintext", 0x10, pkcs7(b""))
    f("int64, plaintext of 4 bytes", 0x12, pkcs7(i32))
    f("double, plaintext of 7 bytes", 0x01, pkcs7(bytes(7)))
    f("string, length prefix larger than the data", 0x02, pkcs7(struct.pack("<i", 9) + b"abc\x00"))
    f("string, length prefix 0", 0x02, pkcs7(struct.pack("<i", 0)))
    f("string, missing NUL terminator", 0x02, pkcs7(struct.pack("<i", 4) + b"abcd"))
    f("string, invalid UTF-8", 0x02, pkcs7(struct.pack("<i", 3) + b"\xff\xfe\x00"))
    f("string, trailing bytes after the value", 0x02, pkcs7(s_("abc") + b"\x00\x00"))
    f("document, length prefix wrong", 0x03, pkcs7(struct.pack("<i", 99) + b"\x00"))
    f("document, element of unknown type 0x20", 0x03, pkcs7(doc_bytes(b"\x20a\x00")))
    f("bool, value byte 2", 0x08, pkcs7(b"\x02"))
    f("objectId, 11 bytes", 0x07, pkcs7(bytes(11)))
    f("unknown BSON type 0x14", 0x14, pkcs7(i32))
    f("BSON type 0x00", 0x00, pkcs7(i32))
    f("undefined (prohibited type), empty plaintext", 0x06, pkcs7(b""))
    f("null (prohibited type), empty plaintext", 0x0A, pkcs7(b""))
    f("minKey (prohibited type), empty plaintext", 0xFF, pkcs7(b""))
    f("maxKey (prohibited type), empty plaintext", 0x7F, pkcs7(b""))
    f("binary subtype 6 (encrypted) inside", 0x05, pkcs7(binary(0x06, ct)[1]))
    f("deterministic blob, double (not deterministic-able)", 0x01, pkcs7(struct.pack("<d", 1.5)), blob=1)
    f("deterministic blob, int32 with a non-derived IV", 0x10, pkcs7(i32), blob=1)
    f("blob subtype 3 with a valid tag", 0x10, pkcs7(i32), blob=3)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_path = argv[1]
    pmc_version, lmc_version = versions()
    lmc = Lmc(MASTER_KEY)
    key_a = lmc.create_key(["alt-a"])
    key_b = lmc.create_key(["alt-b"])
    keys = [(key_a, "alt-a"), (key_b, "alt-b")]

    # Subtype 6 (already encrypted) gets a real ciphertext as payload.
    real = lmc.encrypt(v_doc(*string("x")), RANDOM, key_id=key_a)
    values = list(VALUES)
    values.insert(22, ("binary subtype 6 (already encrypted)", binary(0x06, real)))

    cases = []
    samples = {}  # (description, algorithm) -> ciphertext, for tampering
    for index, (desc, value) in enumerate(values):
        key_id, alt = keys[index % 2]
        raw = v_doc(*value)
        # The value must survive our own ext JSON round trip exactly.
        from extjson import extjson_to_bson

        assert extjson_to_bson(bson_to_extjson(raw)) == raw, desc
        per_algorithm = {}
        for algorithm in (DETERMINISTIC, RANDOM):
            for by in ("id", "alt name"):
                case = {"description": f"{desc}, {short(algorithm)}, key by {by}",
                        "algorithm": algorithm}
                if by == "id":
                    case["keyId"] = binary_json(key_id, 4)
                    kw = {"key_id": key_id}
                else:
                    case["keyAltName"] = alt
                    kw = {"key_alt_name": alt}
                case["value"] = bson_to_extjson(raw)
                try:
                    ct = lmc.encrypt(raw, algorithm, **kw)
                except MongoCryptError as err:
                    case["error"] = message(err)
                    per_algorithm.setdefault(algorithm, []).append(("error", case["error"]))
                else:
                    case["ciphertext"] = binary_json(ct, 6)
                    # Sanity: libmongocrypt decrypts its own ciphertext exactly.
                    back = lmc.decrypt_binary(ct)
                    assert back == raw, f"round trip failed: {case['description']}"
                    assert ct[0] == (1 if algorithm == DETERMINISTIC else 2), case["description"]
                    assert ct[1:17] == key_id, case["description"]
                    assert ct[17] == value[0], case["description"]
                    per_algorithm.setdefault(algorithm, []).append(("ok", ct))
                    samples.setdefault((desc, algorithm), ct)
                cases.append(case)
        # Deterministic by id and by alt name (same key) must agree, and be
        # reproducible; random must differ.
        det = per_algorithm[DETERMINISTIC]
        if det[0][0] == "ok":
            assert det[0] == det[1], desc
            assert lmc.encrypt(raw, DETERMINISTIC, key_id=key_id) == det[0][1], desc
        rnd = per_algorithm[RANDOM]
        if rnd[0][0] == "ok":
            assert rnd[0][1] != rnd[1][1], desc
        assert [x[0] for x in det] in (["ok", "ok"], ["error", "error"]), desc
        assert [x[0] for x in rnd] in (["ok", "ok"], ["error", "error"]), desc

    tampered = []
    skipped = []

    def tamper(desc: str, data: bytes, subtype: int = 6):
        try:
            out = lmc.decrypt_binary(data, subtype)
        except MongoCryptError as err:
            tampered.append({"description": desc, "ciphertext": binary_json(data, subtype),
                             "libmongocrypt_error": message(err)})
        else:
            skipped.append((desc, out.hex()))

    def flip(ct: bytes, i: int, mask: int = 0x01) -> bytes:
        b = bytearray(ct)
        b[i] ^= mask
        return bytes(b)

    for (vdesc, algorithm) in [("string ascii", DETERMINISTIC), ("string ascii", RANDOM),
                               ("int32 positive", DETERMINISTIC), ("document non-empty", RANDOM)]:
        ct = samples[(vdesc, algorithm)]
        p = f"{vdesc}, {short(algorithm)}: "
        tamper(p + "bit flipped in the last tag byte", flip(ct, len(ct) - 1))
        tamper(p + "bit flipped in the first tag byte", flip(ct, len(ct) - 32, 0x80))
        tamper(p + "bit flipped in the IV", flip(ct, 18))
        tamper(p + "bit flipped in the first body byte", flip(ct, 18 + 16))
        tamper(p + "bit flipped in the last body byte", flip(ct, len(ct) - 33))
        for n in (0, 1, 17, 18, 18 + 16, 18 + 16 + 31, len(ct) - 1):
            tamper(p + f"truncated to {n} bytes", ct[:n])
        tamper(p + "one zero byte appended", ct + b"\x00")
        tamper(p + "16 bytes appended", ct + bytes(16))
        for alg in (3, 0):
            tamper(p + f"algorithm byte set to {alg}", bytes([alg]) + ct[1:])
        tamper(p + "algorithm byte swapped (1 <-> 2)", bytes([3 - ct[0]]) + ct[1:])
        tamper(p + "key UUID changed to an unknown one", ct[:1] + bytes(range(0xA0, 0xB0)) + ct[17:])
        other = keys[1][0] if ct[1:17] == keys[0][0] else keys[0][0]
        tamper(p + "key UUID changed to the other (known) key", ct[:1] + other + ct[17:])
        tamper(p + "original type byte changed to 0x10 (int32)"
               if ct[17] != 0x10 else p + "original type byte changed to 0x02 (string)",
               ct[:17] + (b"\x10" if ct[17] != 0x10 else b"\x02") + ct[18:])
        tamper(p + "original type byte changed to 0x00", ct[:17] + b"\x00" + ct[18:])
        tamper(p + "binary subtype 0 instead of 6", ct, subtype=0)

    forged_tampered(lmc, keys, samples, tamper)

    out = {
        "description": (f"Generated by interop/python/generate_vectors.py with pymongocrypt "
                        f"{pmc_version} / libmongocrypt {lmc_version}"),
        "localMasterKey": binary_json(MASTER_KEY, 0),
        "keyDocuments": [bson_to_extjson(k) for k in lmc.keys],
        "cases": cases,
        "tampered": tampered,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False, ensure_ascii=False)
        f.write("\n")
    lmc.close()

    refused = [c for c in cases if "error" in c]
    print(f"wrote {out_path}: {len(cases)} cases ({len(refused)} refused), "
          f"{len(tampered)} tampered, {len(lmc.keys)} keys")
    for desc, value in skipped:
        print(f"NOT a tampered vector (libmongocrypt decrypted it): {desc} -> BSON {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
