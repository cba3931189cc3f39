"""A strict Google Cloud KMS test server: the parts of the protocol libmongocrypt and
encrypted-core speak, checked the way Google checks them.

There is no Cloud KMS emulator that also does the OAuth 2.0 JWT bearer flow, so this is
one (started by scripts/kms-gcp). Over HTTPS (a certificate of a CA made for the run):

- ``POST /token``: the JWT bearer grant (RFC 7523). The form must be
  ``application/x-www-form-urlencoded`` with ``grant_type`` the jwt-bearer URN; the JWT
  must be RS256, signed by the service account's private key (verified against its
  PUBLIC key), with ``iss`` the service account, ``aud`` ``https://<host>/token``,
  ``scope`` the Cloud KMS scope libmongocrypt derives for this endpoint, ``iat`` not in
  the future and ``exp`` in the future, at most an hour after ``iat``. Issues a bearer
  token that expires after ``--token-ttl`` seconds.
- ``POST /v1/projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]:encrypt``
  and ``.../cryptoKeys/K:decrypt``: a valid, unexpired bearer token, JSON bodies
  ``{"plaintext": b64}`` / ``{"ciphertext": b64}``; the key exists; AES-256-GCM with the
  version's key, the ciphertext naming its version and bound to the key's name.

Over plain HTTP on another port, the metadata server:
``GET /computeMetadata/v1/instance/service-accounts/default/token`` with
``Metadata-Flavor: Google`` (403 without it, as GCE answers), and the test controls under
``/_admin/``: ``fault?status=503&count=2&target=encrypt|decrypt|token|metadata|kms|any``,
``down?on=1|0`` (close connections without answering), ``ttl?seconds=N`` (of the tokens
issued next), ``expire-tokens``, ``stats``, ``reset``.

Errors are Google-shaped: ``{"error": {"code", "message", "status"}}`` for the API,
``{"error": "invalid_grant", "error_description"}`` for OAuth.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
KEY_PATH = re.compile(
    r"^/v1/projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/:]+)"
    r"(?:/cryptoKeyVersions/([^/:]+))?:(encrypt|decrypt)$"
)
MAGIC = b"GCPT"


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.email = args.email
        with open(args.public_key, "rb") as f:
            self.public_key = serialization.load_pem_public_key(f.read())
        self.audience = f"https://{args.host}/token"
        # libmongocrypt asks for https://www.<domain>/auth/cloudkms, <domain> being the
        # KMS endpoint's host without its first label.
        domain = args.host.split(".", 1)[1] if "." in args.host else args.host
        self.scope = f"https://www.{domain}/auth/cloudkms"
        self.key = (args.project, args.location, args.key_ring, args.key_name)
        self.versions = {"1": AESGCM.generate_key(256), "2": AESGCM.generate_key(256)}
        self.primary = "1"
        self.initial_ttl = args.token_ttl
        self.static_token = args.access_token
        self.reset()

    def reset(self):
        self.token_ttl = self.initial_ttl
        with self.lock:
            self.tokens = {}  # token -> expiry (epoch seconds)
            self.faults = []  # [target, status, remaining]
            self.down = False
            self.stats = {k: 0 for k in ("token", "metadata", "encrypt", "decrypt", "refused", "faults")}

    def issue(self, source):
        token = "ya29.test-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.time() + self.token_ttl
            self.stats[source] += 1
        return token

    def valid(self, token):
        if token == self.static_token:
            return True
        with self.lock:
            expiry = self.tokens.get(token)
            return expiry is not None and time.time() < expiry

    def fault(self, target):
        with self.lock:
            for fault in self.faults:
                name, status, remaining = fault
                matches = name == target or name == "any" or (
                    name == "kms" and target in ("encrypt", "decrypt"))
                if matches and remaining > 0:
                    fault[2] -= 1
                    self.stats["faults"] += 1
                    return status
        return None


def b64url_decode(text):
    # libmongocrypt keeps base64 padding in its JWT; RFC 7515 drops it: accept both.
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64decode_strict(text):
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.b64decode(text, validate=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None  # set per server
    metadata = False

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if os.environ.get("GCP_SERVER_VERBOSE"):
            super().log_message(format, *args)

    # --- replies ---
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def api_error(self, status, google_status, message):
        self.state.stats["refused"] += 1
        self.reply(status, {"error": {"code": status, "message": message, "status": google_status}})

    def oauth_error(self, error, description, status=400):
        self.state.stats["refused"] += 1
        self.reply(status, {"error": error, "error_description": description})

    def body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > 1 << 20:
            return None
        return self.rfile.read(int(length))

    def injected(self, target):
        if self.state.down:
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        status = self.state.fault(target)
        if status is None:
            return False
        self.api_error(status, "UNAVAILABLE" if status >= 500 else "FAILED_PRECONDITION",
                       f"injected fault {status}")
        return True

    # --- HTTPS: token and KMS ---
    def do_POST(self):  # noqa: N802 - the base class's name
        if self.metadata:
            return self.admin()
        path = urlsplit(self.path).path
        body = self.body()
        if body is None:
            return self.api_error(411, "INVALID_ARGUMENT", "Content-Length required")
        if path == "/token":
            if self.injected("token"):
                return None
            return self.token(body)
        match = KEY_PATH.match(path)
        if not match:
            return self.api_error(404, "NOT_FOUND", f"no such method {path}")
        if self.injected(match.group(6)):
            return None
        return self.kms(match, body)

    def token(self, body):
        if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return self.oauth_error("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        form = parse_qs(body.decode("ascii", "replace"), strict_parsing=True)
        if form.get("grant_type") != [JWT_BEARER]:
            return self.oauth_error("unsupported_grant_type", "Invalid grant_type")
        assertion = form.get("assertion", [""])
        if len(assertion) != 1 or assertion[0].count(".") != 2:
            return self.oauth_error("invalid_request", "Invalid JWT: expected three segments")
        header_b64, claims_b64, signature_b64 = assertion[0].split(".")
        try:
            header = json.loads(b64url_decode(header_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
        except (ValueError, binascii.Error):
            return self.oauth_error("invalid_grant", "Invalid JWT: not base64url JSON")
        if header.get("alg") != "RS256":
            return self.oauth_error("invalid_grant", "Invalid JWT: alg must be RS256")
        try:
            self.state.public_key.verify(signature, f"{header_b64}.{claims_b64}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        checks = [
            (claims.get("iss") == self.state.email, f"Invalid issuer {claims.get('iss')!r}"),
            (claims.get("aud") == self.state.audience, f"Invalid audience {claims.get('aud')!r}"),
            (claims.get("scope") == self.state.scope, f"Invalid scope {claims.get('scope')!r}"),
            (isinstance(claims.get("iat"), int) and claims["iat"] <= now + 60, "Invalid iat"),
            (isinstance(claims.get("exp"), int) and claims["exp"] > now, "Invalid JWT: Token must be a short-lived token"),
            (isinstance(claims.get("exp"), int) and isinstance(claims.get("iat"), int)
             and claims["exp"] - claims["iat"] <= 3600, "Invalid JWT: lifetime longer than an hour"),
        ]
        for ok, why in checks:
            if not ok:
                return self.oauth_error("invalid_grant", why)
        token = self.state.issue("token")
        return self.reply(200, {"access_token": token, "expires_in": self.state.token_ttl,
                                "token_type": "Bearer"})

    def kms(self, match, body):
        project, location, key_ring, key_name, version, method = match.groups()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.state.valid(auth[len("Bearer "):]):
            return self.api_error(401, "UNAUTHENTICATED",
                                  "Request had invalid authentication credentials.")
        if self.headers.get("Content-Type") != "application/json":
            return self.api_error(400, "INVALID_ARGUMENT", "Content-Type must be application/json")
        if (project, location, key_ring, key_name) != self.state.key:
            return self.api_error(404, "NOT_FOUND", f"CryptoKey {key_name} not found.")
        name = f"projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key_name}"
        try:
            request = json.loads(body)
        except ValueError:
            return self.api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if method == "encrypt":
            version = version or self.state.primary
            if version not in self.state.versions:
                return self.api_error(404, "NOT_FOUND", f"CryptoKeyVersion {version} not found.")
            if set(request) != {"plaintext"}:
                return self.api_error(400, "INVALID_ARGUMENT", "expected exactly plaintext")
            try:
                plaintext = b64decode_strict(request["plaintext"])
            except (ValueError, binascii.Error):
                return self.api_error(400, "INVALID_ARGUMENT", "plaintext is not base64")
            nonce = os.urandom(12)
            sealed = AESGCM(self.state.versions[version]).encrypt(nonce, plaintext, name.encode())
            self.state.stats["encrypt"] += 1
            ciphertext = MAGIC + version.encode().rjust(4, b"0") + nonce + sealed
            return self.reply(200, {"name": f"{name}/cryptoKeyVersions/{version}",
                                    "ciphertext": base64.b64encode(ciphertext).decode(),
                                    "protectionLevel": "SOFTWARE"})
        if version is not None:
            return self.api_error(404, "NOT_FOUND", "decrypt is a method of the CryptoKey")
        if set(request) != {"ciphertext"}:
            return self.api_error(400, "INVALID_ARGUMENT", "expected exactly ciphertext")
        try:
            ciphertext = b64decode_strict(request["ciphertext"])
        except (ValueError, binascii.Error):
            return self.api_error(400, "INVALID_ARGUMENT", "ciphertext is not base64")
        version = ciphertext[4:8].lstrip(b"0").decode("ascii", "replace")
        key = self.state.versions.get(version)
        if not ciphertext.startswith(MAGIC) or key is None:
            return self.api_error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        try:
            plaintext = AESGCM(key).decrypt(ciphertext[8:20], ciphertext[20:], name.encode())
        except InvalidTag:
            return self.api_error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        self.state.stats["decrypt"] += 1
        return self.reply(200, {"plaintext": base64.b64encode(plaintext).decode(), "usedPrimary": version == self.state.primary})

    # --- HTTP: metadata server and test controls ---
    def do_GET(self):  # noqa: N802 - the base class's name
        if not self.metadata:
            return self.api_error(405, "INVALID_ARGUMENT", "method not allowed")
        path = urlsplit(self.path).path
        if path.startswith("/_admin/"):
            return self.admin()
        if path != "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.reply(404, {"error": "not found"})
        # GCE refuses requests without the header, and proxied ones.
        if self.headers.get("Metadata-Flavor") != "Google" or "X-Forwarded-For" in self.headers:
            self.state.stats["refused"] += 1
            data = b"Missing Metadata-Flavor:Google header."
            self.send_response(403)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if self.injected("metadata"):
            return None
        token = self.state.issue("metadata")
        return self.reply(200, {"access_token": token, "expires_in": self.state.token_ttl,
                                "token_type": "Bearer"})

    def admin(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        state = self.state
        if self.command == "POST":
            self.body()
        if url.path == "/_admin/stats":
            with state.lock:
                return self.reply(200, dict(state.stats))
        if url.path == "/_admin/fault":
            with state.lock:
                state.faults.append([query.get("target", "any"), int(query["status"]), int(query.get("count", "1"))])
            return self.reply(200, {"ok": True})
        if url.path == "/_admin/down":
            state.down = query.get("on", "1") == "1"
            return self.reply(200, {"ok": True})
        if url.path == "/_admin/ttl":
            state.token_ttl = int(query["seconds"])
            return self.reply(200, {"ok": True})
        if url.path == "/_admin/expire-tokens":
            with state.lock:
                state.tokens.clear()
            return self.reply(200, {"ok": True})
        if url.path == "/_admin/reset":
            state.reset()
            return self.reply(200, {"ok": True})
        return self.reply(404, {"error": "no such control"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metadata-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--access-token", required=True, help="a static token also accepted")
    parser.add_argument("--project", default="encrypted-test")
    parser.add_argument("--location", default="global")
    parser.add_argument("--key-ring", default="test-ring")
    parser.add_argument("--key-name", default="test-key")
    parser.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args()
    state = State(args)

    https_handler = type("HttpsHandler", (Handler,), {"state": state, "metadata": False})
    https = ThreadingHTTPServer((args.host, args.port), https_handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    https.daemon_threads = True

    metadata_handler = type("MetadataHandler", (Handler,), {"state": state, "metadata": True})
    metadata = ThreadingHTTPServer((args.host, args.metadata_port), metadata_handler)
    metadata.daemon_threads = True
    threading.Thread(target=metadata.serve_forever, daemon=True).start()
    print(f"gcp test server: https://{args.host}:{args.port}, metadata http://{args.host}:{args.metadata_port}",
          file=sys.stderr, flush=True)
    https.serve_forever()


if __name__ == "__main__":
    main()
