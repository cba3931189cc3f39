"""Just enough of FLE1's AEAD_AES_256_CBC_HMAC_SHA_512 in Python to forge
ciphertexts whose HMAC is valid but whose contents are not (bad padding, a
plaintext that does not fit its type byte). generate_vectors.py checks this
code against libmongocrypt before using it.

Layout (libmongocrypt): key = mac_key(32) || enc_key(32) || iv_key(32);
AEAD output = IV(16) || AES-256-CBC(PKCS#7) || HMAC-SHA-512(mac_key,
AD || IV || C || bitlen(AD) as u64 BE)[:32]. For FLE1 ciphertexts AD =
blob subtype (1|2) || key UUID (16) || original BSON type (1) and the blob is
AD || AEAD output. The master key wraps a data key with empty AD.
"""

from __future__ import annotations

import hmac
import struct
from hashlib import sha512

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _mac(mac_key: bytes, ad: bytes, iv_c: bytes) -> bytes:
    return hmac.new(mac_key, ad + iv_c + struct.pack(">Q", len(ad) * 8), sha512).digest()[:32]


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def aead_open(key: bytes, ad: bytes, data: bytes) -> bytes:
    """Returns the padded plaintext (padding NOT removed) after checking the tag."""
    iv_c, tag = data[:-32], data[-32:]
    if not hmac.compare_digest(_mac(key[:32], ad, iv_c), tag):
        raise ValueError("bad tag")
    return _cbc(key[32:64], iv_c[:16], iv_c[16:], encrypt=False)


def aead_seal_raw(key: bytes, ad: bytes, iv: bytes, padded: bytes) -> bytes:
    """Encrypts an already padded (or deliberately mis-padded) plaintext."""
    assert len(padded) % 16 == 0
    iv_c = iv + _cbc(key[32:64], iv, padded, encrypt=True)
    return iv_c + _mac(key[:32], ad, iv_c)


def pkcs7(data: bytes) -> bytes:
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def deterministic_iv(key: bytes, ad: bytes, plaintext: bytes) -> bytes:
    return hmac.new(key[64:96], ad + struct.pack(">Q", len(ad) * 8) + plaintext, sha512).digest()[:16]


def unwrap_data_key(master_key: bytes, key_material: bytes) -> bytes:
    padded = aead_open(master_key, b"", key_material)
    n = padded[-1]
    return padded[:-n]


def forge(data_key: bytes, blob_subtype: int, key_id: bytes, bson_type: int,
          padded: bytes, iv: bytes = bytes(range(16))) -> bytes:
    ad = bytes([blob_subtype]) + key_id + bytes([bson_type])
    return ad + aead_seal_raw(data_key, ad, iv, padded)
