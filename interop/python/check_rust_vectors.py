#!/usr/bin/env python3
"""Checks a vector file written by another implementation against libmongocrypt.

Usage: check_rust_vectors.py IN.json

IN.json has the schema written by generate_vectors.py. Its key documents (made
by the implementation under test, wrapped with its localMasterKey) are the
whole key vault of a fresh libmongocrypt handle. Then:

 (a) every ciphertext decrypts in libmongocrypt to exactly the recorded value
     (raw BSON bytes of {"v": value}), and carries the case's algorithm byte
     and key id;
 (b) deterministic: libmongocrypt's encryption of the value with the same key
     is byte-identical to the recorded ciphertext;
 (c) a recorded "error" is a refusal in libmongocrypt too, and a recorded
     ciphertext means libmongocrypt also encrypts the value (a random
     encryption must decrypt back to the value);
 (d) every "tampered" entry fails to decrypt in libmongocrypt.

Prints one line per failure and closes with
`libmongocrypt-interop: N passed, M failed`; exits non-zero when M > 0 or N == 0.
Pointed at a file libmongocrypt generated, every check must pass.
"""

from __future__ import annotations

import json
import sys

from extjson import binary_from_json, extjson_to_bson
from lmc import DETERMINISTIC, RANDOM, Lmc, MongoCryptError, versions

ALG_BYTE = {DETERMINISTIC: 1, RANDOM: 2}


class Failure(Exception):
    pass


def key_index(raw_keys: list[bytes]):
    import bson

    from lmc import PLAIN

    by_id, by_name = {}, {}
    for raw in raw_keys:
        doc = bson.decode(raw, PLAIN)
        kid = bytes(doc["_id"])
        by_id[kid] = raw
        for name in doc.get("keyAltNames", []):
            by_name[name] = kid
    return by_id, by_name


def check_case(lmc: Lmc, by_id: dict, by_name: dict, case: dict) -> None:
    algorithm = case.get("algorithm")
    if algorithm not in ALG_BYTE:
        raise Failure(f"unknown algorithm {algorithm!r}")
    has_id, has_name = "keyId" in case, "keyAltName" in case
    if has_id == has_name:
        raise Failure("a case names its key by keyId or keyAltName, exactly one")
    if has_id:
        kid, sub = binary_from_json(case["keyId"])
        if sub != 4 or len(kid) != 16:
            raise Failure("keyId is not a 16-byte subtype 4 binary")
        if kid not in by_id:
            raise Failure(f"keyId {kid.hex()} is not among keyDocuments")
        kw = {"key_id": kid}
    else:
        name = case["keyAltName"]
        if name not in by_name:
            raise Failure(f"keyAltName {name!r} is not among keyDocuments")
        kid = by_name[name]
        kw = {"key_alt_name": name}
    raw = extjson_to_bson(case["value"])
    if set(json.loads(json.dumps(case["value"]))) != {"v"}:
        raise Failure('value is not {"v": ...}')

    has_ct, has_err = "ciphertext" in case, "error" in case
    if has_ct == has_err:
        raise Failure("a case records a ciphertext or an error, exactly one")

    try:
        ours = lmc.encrypt(raw, algorithm, **kw)
        our_error = None
    except MongoCryptError as err:
        ours, our_error = None, str(err)

    if has_err:
        # (c) they refused: libmongocrypt must refuse too
        if our_error is None:
            raise Failure(f"recorded refusal ({case['error']}) but libmongocrypt encrypts it")
        return

    ct, sub = binary_from_json(case["ciphertext"])
    if sub != 6:
        raise Failure(f"ciphertext has binary subtype {sub}, not 6")
    problems = []
    if len(ct) < 17 or ct[0] != ALG_BYTE[algorithm]:
        problems.append(f"ciphertext algorithm byte is {ct[:1].hex() or 'missing'}, "
                        f"expected {ALG_BYTE[algorithm]:02x}")
    elif ct[1:17] != kid:
        problems.append(f"ciphertext key id {ct[1:17].hex()} is not the case's key {kid.hex()}")
    # (a) decrypts to exactly the value
    try:
        back = lmc.decrypt_binary(ct)
    except MongoCryptError as err:
        problems.append(f"libmongocrypt cannot decrypt the ciphertext: {err}")
    else:
        if back != raw:
            problems.append(f"ciphertext decrypts to {back.hex()}, expected {raw.hex()}")
    # (c) libmongocrypt encrypts it too
    if our_error is not None:
        problems.append(f"libmongocrypt refuses to encrypt the value: {our_error}")
    elif algorithm == DETERMINISTIC:
        # (b) byte-identical
        if ours != ct:
            problems.append(f"deterministic ciphertext differs: libmongocrypt {ours.hex()}, "
                            f"file {ct.hex()}")
    else:
        if lmc.decrypt_binary(ours) != raw:
            problems.append("libmongocrypt's own random encryption does not round trip")
    if problems:
        raise Failure("; ".join(problems))


def check_tampered(lmc: Lmc, entry: dict) -> None:
    data, sub = binary_from_json(entry["ciphertext"])
    try:
        out = lmc.decrypt_binary(data, sub)
    except MongoCryptError:
        return
    raise Failure(f"libmongocrypt decrypted it to {out.hex()}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        data = json.load(f)
    pmc_version, lmc_version = versions()
    print(f"checking {argv[1]} ({data.get('description', '')!r}) "
          f"with pymongocrypt {pmc_version} / libmongocrypt {lmc_version}")

    passed = failed = 0

    def fail(desc: str, why: str) -> None:
        nonlocal failed
        failed += 1
        print(f"FAIL: {desc}: {why}")

    try:
        master, sub = binary_from_json(data["localMasterKey"])
        if len(master) != 96:
            raise ValueError(f"localMasterKey is {len(master)} bytes, not 96")
        raw_keys = [extjson_to_bson(k) for k in data["keyDocuments"]]
        by_id, by_name = key_index(raw_keys)
        lmc = Lmc(master, raw_keys)
    except Exception as err:  # the whole file is unusable
        fail("file", f"{type(err).__name__}: {err}")
        print(f"libmongocrypt-interop: {passed} passed, {failed} failed")
        return 1

    checks = [
        ("", data.get("cases", []), lambda case: check_case(lmc, by_id, by_name, case)),
        ("tampered: ", data.get("tampered", []), lambda entry: check_tampered(lmc, entry)),
    ]
    for prefix, entries, check in checks:
        for entry in entries:
            desc = prefix + entry.get("description", "<no description>")
            try:
                check(entry)
            except Failure as err:
                fail(desc, str(err))
            except Exception as err:
                fail(desc, f"{type(err).__name__}: {err}")
            else:
                passed += 1
    lmc.close()
    print(f"libmongocrypt-interop: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
