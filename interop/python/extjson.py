"""Exact conversion between raw BSON bytes and MongoDB Extended JSON v2.

pymongo's ``bson`` package maps several BSON types onto Python values that
re-encode differently (symbol -> str, undefined -> None, dbPointer -> DBRef,
binary subtype 3/4 -> UUID under some codec options, ...). The interop vectors
must preserve every type byte-for-byte, so this module walks the BSON bytes
itself:

* ``bson_to_extjson(raw)`` turns a raw BSON document into canonical Extended
  JSON (plain Python dicts/lists/strings, ready for ``json.dump``);
* ``extjson_to_bson(doc)`` turns canonical (and the common relaxed / legacy
  forms of) Extended JSON back into raw BSON bytes.

Only ``bson.decimal128`` is borrowed from pymongo, for the decimal128 string
form defined by the Extended JSON spec.
"""

from __future__ import annotations

import base64
import math
import struct

from bson.decimal128 import Decimal128

__all__ = [
    "bson_to_extjson",
    "extjson_to_bson",
    "value_to_extjson",
    "element_bytes",
    "doc_bytes",
    "binary_json",
    "binary_from_json",
]


class BsonError(ValueError):
    pass


# --------------------------------------------------------------------------
# raw BSON -> canonical Extended JSON
# --------------------------------------------------------------------------


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("utf-8", "strict"), end + 1


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<i", buf, pos)
    if n < 1 or buf[pos + 4 + n - 1] != 0:
        raise BsonError("bad string length")
    return buf[pos + 4 : pos + 4 + n - 1].decode("utf-8", "strict"), pos + 4 + n


def fmt_double(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return repr(f)


def binary_json(data: bytes, subtype: int) -> dict:
    return {
        "$binary": {
            "base64": base64.b64encode(data).decode("ascii"),
            "subType": format(subtype, "02x"),
        }
    }


def _doc(buf: bytes, pos: int, as_array: bool):
    (n,) = struct.unpack_from("<i", buf, pos)
    end = pos + n
    if n < 5 or end > len(buf) or buf[end - 1] != 0:
        raise BsonError("bad document length")
    pos += 4
    out = [] if as_array else {}
    while pos < end - 1:
        t = buf[pos]
        key, pos = _cstring(buf, pos + 1)
        val, pos = _value(buf, pos, t)
        if as_array:
            out.append(val)
        else:
            out[key] = val
    if pos != end - 1:
        raise BsonError("document overrun")
    return out, end


def _value(buf: bytes, pos: int, t: int):
    if t == 0x01:
        (f,) = struct.unpack_from("<d", buf, pos)
        return {"$numberDouble": fmt_double(f)}, pos + 8
    if t == 0x02:
        s, pos = _string(buf, pos)
        return s, pos
    if t == 0x03:
        return _doc(buf, pos, False)
    if t == 0x04:
        return _doc(buf, pos, True)
    if t == 0x05:
        (n,) = struct.unpack_from("<i", buf, pos)
        sub = buf[pos + 4]
        data = buf[pos + 5 : pos + 5 + n]
        if len(data) != n:
            raise BsonError("binary overrun")
        if sub == 0x02:
            # old binary: the payload carries its own int32 length
            (m,) = struct.unpack_from("<i", data, 0)
            if m != n - 4:
                raise BsonError("bad old-binary inner length")
            data = data[4:]
        return binary_json(data, sub), pos + 5 + n
    if t == 0x06:
        return {"$undefined": True}, pos
    if t == 0x07:
        return {"$oid": buf[pos : pos + 12].hex()}, pos + 12
    if t == 0x08:
        b = buf[pos]
        if b not in (0, 1):
            raise BsonError("bad bool")
        return bool(b), pos + 1
    if t == 0x09:
        (ms,) = struct.unpack_from("<q", buf, pos)
        return {"$date": {"$numberLong": str(ms)}}, pos + 8
    if t == 0x0A:
        return None, pos
    if t == 0x0B:
        pat, pos = _cstring(buf, pos)
        opts, pos = _cstring(buf, pos)
        return {"$regularExpression": {"pattern": pat, "options": opts}}, pos
    if t == 0x0C:
        ns, pos = _string(buf, pos)
        return {
            "$dbPointer": {"$ref": ns, "$id": {"$oid": buf[pos : pos + 12].hex()}}
        }, pos + 12
    if t == 0x0D:
        s, pos = _string(buf, pos)
        return {"$code": s}, pos
    if t == 0x0E:
        s, pos = _string(buf, pos)
        return {"$symbol": s}, pos
    if t == 0x0F:
        (n,) = struct.unpack_from("<i", buf, pos)
        end = pos + n
        code, p = _string(buf, pos + 4)
        scope, p = _doc(buf, p, False)
        if p != end:
            raise BsonError("bad code-with-scope length")
        return {"$code": code, "$scope": scope}, end
    if t == 0x10:
        (i,) = struct.unpack_from("<i", buf, pos)
        return {"$numberInt": str(i)}, pos + 4
    if t == 0x11:
        inc, ts = struct.unpack_from("<II", buf, pos)
        return {"$timestamp": {"t": ts, "i": inc}}, pos + 8
    if t == 0x12:
        (i,) = struct.unpack_from("<q", buf, pos)
        return {"$numberLong": str(i)}, pos + 8
    if t == 0x13:
        return {"$numberDecimal": str(Decimal128.from_bid(buf[pos : pos + 16]))}, pos + 16
    if t == 0xFF:
        return {"$minKey": 1}, pos
    if t == 0x7F:
        return {"$maxKey": 1}, pos
    raise BsonError(f"unknown BSON type 0x{t:02x}")


def bson_to_extjson(raw: bytes) -> dict:
    """Canonical Extended JSON of a whole raw BSON document."""
    doc, end = _doc(bytes(raw), 0, False)
    if end != len(raw):
        raise BsonError("trailing bytes after document")
    return doc


def value_to_extjson(raw_v_doc: bytes):
    """Canonical Extended JSON of the ``v`` element of ``{"v": value}`` bytes."""
    return bson_to_extjson(raw_v_doc)["v"]


# --------------------------------------------------------------------------
# Extended JSON -> raw BSON
# --------------------------------------------------------------------------


def _enc_cstring(s: str) -> bytes:
    b = s.encode("utf-8")
    if b"\x00" in b:
        raise BsonError("cstring contains NUL")
    return b + b"\x00"


def _enc_string(s: str) -> bytes:
    b = s.encode("utf-8") + b"\x00"
    return struct.pack("<i", len(b)) + b


def doc_bytes(elements: bytes) -> bytes:
    """Wraps already-encoded elements into a BSON document."""
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def element_bytes(key: str, t: int, payload: bytes) -> bytes:
    return bytes([t]) + _enc_cstring(key) + payload


def _parse_double(s: str) -> float:
    if s in ("NaN", "-NaN"):
        return float("nan")
    if s in ("Infinity", "inf"):
        return float("inf")
    if s in ("-Infinity", "-inf"):
        return float("-inf")
    return float(s)


def binary_from_json(v) -> tuple[bytes, int]:
    """(data, subtype) of an Extended JSON binary (canonical or legacy)."""
    if not isinstance(v, dict) or "$binary" not in v:
        raise BsonError(f"not an Extended JSON binary: {v!r}")
    b = v["$binary"]
    if isinstance(b, dict):
        return base64.b64decode(b["base64"], validate=True), int(b["subType"], 16)
    return base64.b64decode(b, validate=True), int(v["$type"], 16)


def _single(v: dict, key: str) -> bool:
    return len(v) == 1 and key in v


def _encode_value(v) -> tuple[int, bytes]:
    """(type byte, payload) of one Extended JSON value."""
    if v is None:
        return 0x0A, b""
    if v is True or v is False:
        return 0x08, b"\x01" if v else b"\x00"
    if isinstance(v, int):  # relaxed integers
        if -(2**31) <= v < 2**31:
            return 0x10, struct.pack("<i", v)
        return 0x12, struct.pack("<q", v)
    if isinstance(v, float):  # relaxed double
        return 0x01, struct.pack("<d", v)
    if isinstance(v, str):
        return 0x02, _enc_string(v)
    if isinstance(v, list):
        return 0x04, _encode_elements([(str(i), x) for i, x in enumerate(v)])
    if not isinstance(v, dict):
        raise BsonError(f"cannot encode {v!r}")
    keys = set(v)
    if _single(v, "$numberDouble"):
        return 0x01, struct.pack("<d", _parse_double(v["$numberDouble"]))
    if _single(v, "$numberInt"):
        return 0x10, struct.pack("<i", int(v["$numberInt"]))
    if _single(v, "$numberLong"):
        return 0x12, struct.pack("<q", int(v["$numberLong"]))
    if _single(v, "$numberDecimal"):
        return 0x13, Decimal128(v["$numberDecimal"]).bid
    if _single(v, "$oid"):
        return 0x07, bytes.fromhex(v["$oid"])
    if _single(v, "$symbol"):
        return 0x0E, _enc_string(v["$symbol"])
    if _single(v, "$undefined"):
        return 0x06, b""
    if _single(v, "$minKey"):
        return 0xFF, b""
    if _single(v, "$maxKey"):
        return 0x7F, b""
    if _single(v, "$uuid"):
        return 0x05, struct.pack("<i", 16) + b"\x04" + bytes.fromhex(v["$uuid"].replace("-", ""))
    if keys == {"$binary"} or keys == {"$binary", "$type"}:
        data, sub = binary_from_json(v)
        if sub == 0x02:
            data = struct.pack("<i", len(data)) + data
        return 0x05, struct.pack("<i", len(data)) + bytes([sub]) + data
    if _single(v, "$code"):
        return 0x0D, _enc_string(v["$code"])
    if keys == {"$code", "$scope"}:
        body = _enc_string(v["$code"]) + _encode_elements(list(v["$scope"].items()))
        return 0x0F, struct.pack("<i", len(body) + 4) + body
    if _single(v, "$timestamp"):
        ts = v["$timestamp"]
        return 0x11, struct.pack("<II", int(ts["i"]), int(ts["t"]))
    if _single(v, "$regularExpression"):
        r = v["$regularExpression"]
        return 0x0B, _enc_cstring(r["pattern"]) + _enc_cstring(r["options"])
    if keys == {"$regex", "$options"} and isinstance(v["$regex"], str):
        return 0x0B, _enc_cstring(v["$regex"]) + _enc_cstring(v["$options"])
    if _single(v, "$dbPointer"):
        p = v["$dbPointer"]
        return 0x0C, _enc_string(p["$ref"]) + bytes.fromhex(p["$id"]["$oid"])
    if _single(v, "$date"):
        d = v["$date"]
        if isinstance(d, dict):
            ms = int(d["$numberLong"])
        elif isinstance(d, int):
            ms = d
        else:
            import datetime as _dt

            t = _dt.datetime.fromisoformat(d.replace("Z", "+00:00"))
            epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
            ms = (t - epoch) // _dt.timedelta(milliseconds=1)
        return 0x09, struct.pack("<q", ms)
    return 0x03, _encode_elements(list(v.items()))


def _encode_elements(items) -> bytes:
    out = b"".join(element_bytes(k, *_encode_value(x)) for k, x in items)
    return doc_bytes(out)


def extjson_to_bson(doc: dict) -> bytes:
    """Raw BSON bytes of an Extended JSON document."""
    if not isinstance(doc, dict):
        raise BsonError("top level must be a document")
    t, payload = _encode_value(doc)
    if t != 0x03:
        raise BsonError("top level is a special Extended JSON value, not a document")
    return payload
