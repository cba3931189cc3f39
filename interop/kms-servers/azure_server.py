"""A strict Azure test server: the Microsoft identity platform's client-credentials token
endpoint, Azure Key Vault's ``wrapkey``/``unwrapkey`` (real RSA-OAEP-256 with RSA keys it
holds) and the instance metadata service's managed-identity token endpoint, as
documented, for encrypted-core's ``AzureKms`` and for pymongo/libmongocrypt alike.

No installable emulator does both Key Vault's key operations and the OAuth flow offline,
so this one implements the REST protocol and checks what the real services check: the
form fields of the token request (grant type, client id and secret, scope), bearer tokens
(issued here, expiring, for the right audience), the Key Vault API version, the
algorithm, the ``Metadata: true`` header of IMDS. Anything else gets an Azure-shaped
error.

Key Vault and the identity platform share one HTTPS listener (``--port``); IMDS is plain
HTTP on ``--imds-port``, as the real one is. ``/control/...`` on the HTTPS listener is
for the tests only: create keys, register clients, issue a token out of band, expire
tokens, inject faults, read counters.

Usage: azure_server.py --port P --imds-port Q --cert server.pem --key server.key
       --tenant T --client-id C --client-secret S --key-name K
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
# Key Vault's data-plane API versions (7.1 is what libmongocrypt sends).
API_VERSIONS = {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6"}
IMDS_RESOURCE = "https://vault.azure.net"
MAX_BODY = 64 * 1024


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.tenant = args.tenant
        # client id -> {"secret", "lifetime", "issued"}
        self.clients = {}
        self.register(args.client_id, args.client_secret, 3600)
        # key name -> {"versions": {version: private key}, "current": version}
        self.keys = {}
        self.create_key(args.key_name)
        # token -> {"audience", "expires", "client"}
        self.tokens = {}
        # target -> list of faults {"status", "count", "after", "drop"}
        self.faults = {}
        # counters: "<target>:<what>" -> n
        self.counts = {}
        self.imds_lifetime = 3600
        # target -> the distinct shapes of the requests seen (what two clients must
        # agree on: path, query, content type, body with the secret parts replaced).
        self.shapes = {}
        # Audiences a token may be for: the public cloud's Key Vault resource (what IMDS
        # issues) and the one libmongocrypt derives from this server's own host (the part
        # after its first dot).
        host = args.host
        self.audiences = {IMDS_RESOURCE, "https://" + host.split(".", 1)[-1]}

    def register(self, client_id, secret, lifetime):
        self.clients[client_id] = {"secret": secret, "lifetime": lifetime}

    def create_key(self, name):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        version = secrets.token_hex(16)
        entry = self.keys.setdefault(name, {"versions": {}, "current": None})
        entry["versions"][version] = key
        entry["current"] = version
        return version

    def shape(self, target, shape):
        self.shapes.setdefault(target, set()).add(json.dumps(shape, sort_keys=True))

    def count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def issue(self, audience, lifetime, client):
        token = secrets.token_urlsafe(32)
        self.tokens[token] = {"audience": audience, "expires": time.time() + lifetime, "client": client}
        self.count(f"token:{client}")
        return token

    def fault(self, target):
        """The fault to serve for this request to ``target``, if any (counted)."""
        faults = self.faults.get(target, [])
        for fault in faults:
            if fault["after"] > 0:
                fault["after"] -= 1
                return None
            if fault["count"] > 0:
                fault["count"] -= 1
                self.count(f"fault:{target}")
                return fault
        return None


def azure_error(code, message):
    return {"error": {"code": code, "message": message}}


def aad_error(error, code, description):
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": secrets.token_hex(8),
        "correlation_id": secrets.token_hex(8),
    }


def b64url_decode(text):
    if not isinstance(text, str) or not text or any(c in text for c in "+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azure-test-server"
    state: State = None  # set per server

    def log_message(self, fmt, *args):  # quiet; the test output is what matters
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            return None
        return self.rfile.read(int(length))

    def faulted(self, target):
        with self.state.lock:
            fault = self.state.fault(target)
        if fault is None:
            return False
        if fault.get("drop"):
            # The provider is down: the connection closes without an answer.
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return True
        status = fault["status"]
        if status == 503:
            self.reply(503, azure_error("ServiceUnavailable", "The service is temporarily unavailable."), {"Retry-After": "0"})
        elif status == 429:
            self.reply(429, azure_error("Throttled", "Request was not processed because too many requests were received."), {"Retry-After": "0"})
        else:
            self.reply(status, azure_error("BadParameter", "Injected fault."))
        return True


class KeyVault(Handler):
    """Key Vault, the identity platform and the control endpoints (HTTPS)."""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/control/stats":
            with self.state.lock:
                shapes = {target: sorted(seen) for target, seen in self.state.shapes.items()}
                self.reply(200, {"counts": dict(self.state.counts), "shapes": shapes})
            return
        self.reply(404, azure_error("NotFound", "Not found."))

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        body = self.body()
        if body is None:
            self.reply(411, azure_error("BadParameter", "A Content-Length of at most 64 KiB is required."))
            return
        if url.path.startswith("/control/"):
            self.control(url.path, json.loads(body or b"{}"))
        elif len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"] and parts[0] == "":
            self.token(parts[1], url, body)
        elif len(parts) in (4, 5) and parts[0] == "" and parts[1] == "keys":
            self.key_operation(parts, url, body)
        else:
            self.reply(404, azure_error("NotFound", "Not found."))

    def control(self, path, request):
        state = self.state
        with state.lock:
            if path == "/control/keys":
                version = state.create_key(request["name"])
                self.reply(200, {"name": request["name"], "version": version})
            elif path == "/control/clients":
                state.register(request["client_id"], request["client_secret"], request.get("lifetime", 3600))
                self.reply(200, {})
            elif path == "/control/tokens/issue":
                lifetime = request.get("lifetime", 3600)
                token = state.issue(request.get("audience", IMDS_RESOURCE), lifetime, request.get("client", "out-of-band"))
                self.reply(200, {"access_token": token, "expires_in": lifetime})
            elif path == "/control/tokens/expire":
                client = request.get("client")
                for token in state.tokens.values():
                    if client is None or token["client"] == client:
                        token["expires"] = 0
                self.reply(200, {})
            elif path == "/control/imds":
                state.imds_lifetime = request.get("lifetime", 3600)
                self.reply(200, {})
            elif path == "/control/faults":
                fault = {
                    "status": request.get("status", 503),
                    "count": request.get("count", 1),
                    "after": request.get("after", 0),
                    "drop": request.get("drop", False),
                }
                if request.get("clear"):
                    state.faults.pop(request["target"], None)
                else:
                    state.faults.setdefault(request["target"], []).append(fault)
                self.reply(200, {})
            else:
                self.reply(404, azure_error("NotFound", "Unknown control endpoint."))

    def token(self, tenant, url, body):
        """POST /{tenant}/oauth2/v2.0/token, client credentials grant."""
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            self.reply(400, aad_error("invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."))
            return
        try:
            form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            self.reply(400, aad_error("invalid_request", 900144, "The request body is not form-encoded."))
            return
        if any(len(values) != 1 for values in form.values()):
            self.reply(400, aad_error("invalid_request", 90014, "A parameter is repeated."))
            return
        client_id = form.get("client_id", [""])[0]
        with self.state.lock:
            self.state.shape(f"token:{client_id}", {
                "path": url.path,
                "fields": [pair.split("=", 1)[0] for pair in body.decode().split("&")],
                "scope": form.get("scope"),
                "grant_type": form.get("grant_type"),
                "content-type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept"),
            })
        form = {name: values[0] for name, values in form.items()}
        if self.faulted(f"token:{client_id}") or self.faulted("token"):
            return
        state = self.state
        with state.lock:
            if tenant != state.tenant:
                self.reply(400, aad_error("invalid_request", 90002, f"Tenant '{tenant}' not found."))
                return
            if form.get("grant_type") != "client_credentials":
                self.reply(400, aad_error("unsupported_grant_type", 70003, "The app requested an unsupported grant type."))
                return
            client = state.clients.get(client_id)
            if client is None:
                self.reply(400, aad_error("unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."))
                return
            if not secrets.compare_digest(form.get("client_secret", ""), client["secret"]):
                self.reply(401, aad_error("invalid_client", 7000215, "Invalid client secret provided."))
                return
            scope = form.get("scope", "")
            audience = scope[: -len("/.default")] if scope.endswith("/.default") else None
            if audience not in state.audiences:
                self.reply(400, aad_error("invalid_scope", 70011, f"The provided value for scope {scope} is not valid."))
                return
            lifetime = client["lifetime"]
            token = state.issue(audience, lifetime, client_id)
        self.reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token})

    def key_operation(self, parts, url, body):
        """POST /keys/{name}[/{version}]/{wrapkey|unwrapkey}?api-version=7.x (libmongocrypt
        writes an empty version segment for the current version: /keys/{name}//wrapkey)."""
        name, operation = parts[2], parts[-1]
        version = parts[3] if len(parts) == 5 else ""
        if operation not in ("wrapkey", "unwrapkey"):
            self.reply(405, azure_error("MethodNotAllowed", f"'{operation}' is not an operation of keys."))
            return
        query = urllib.parse.parse_qs(url.query)
        api = query.get("api-version", [None])
        if len(api) != 1 or api[0] not in API_VERSIONS:
            self.reply(400, azure_error("BadParameter", f"The specified version ({api[0]}) is not recognized. Consider using the latest supported version."))
            return
        state = self.state
        authorization = self.headers.get("Authorization", "")
        challenge = {"WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{state.tenant}", resource="https://vault.azure.net"'}
        if not authorization.startswith("Bearer "):
            self.reply(401, azure_error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."), challenge)
            return
        with state.lock:
            token = state.tokens.get(authorization[len("Bearer "):])
            if token is None:
                self.reply(401, azure_error("Unauthorized", "AKV10022: Invalid audience or token."), challenge)
                return
            if token["expires"] <= time.time():
                self.reply(401, azure_error("Unauthorized", "AKV10032: Token expired."), challenge)
                return
            if token["audience"] not in state.audiences:
                self.reply(401, azure_error("Unauthorized", "AKV10022: Invalid audience."), challenge)
                return
        with state.lock:
            try:
                value = json.loads(body).get("value", "")
            except (ValueError, AttributeError):
                value = ""
            state.shape(f"{operation}:{name}", {
                "path": url.path.replace(f"/{version}/", "/<version>/") if version else url.path,
                "query": url.query,
                "content-type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept"),
                "body": body.decode(errors="replace").replace(value, "<value>") if value else body.decode(errors="replace"),
            })
        if self.faulted(f"key:{name}"):
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self.reply(400, azure_error("BadParameter", "The request content type must be application/json."))
            return
        try:
            request = json.loads(body)
        except ValueError:
            self.reply(400, azure_error("BadParameter", "The request body is not JSON."))
            return
        if not isinstance(request, dict) or request.get("alg") != "RSA-OAEP-256":
            self.reply(400, azure_error("BadParameter", "Invalid algorithm: only RSA-OAEP-256 is allowed for this key."))
            return
        try:
            value = b64url_decode(request.get("value"))
        except ValueError:
            self.reply(400, azure_error("BadParameter", "Property 'value' is not valid base64url."))
            return
        with state.lock:
            entry = state.keys.get(name)
            if entry is None or (version and version not in entry["versions"]):
                self.reply(404, azure_error("KeyNotFound", f"A key with (name/id) {name} was not found in this key vault."))
                return
            version = version or entry["current"]
            key = entry["versions"][version]
            state.count(f"{operation}:{name}")
        try:
            if operation == "wrapkey":
                result = key.public_key().encrypt(value, OAEP)
            else:
                result = key.decrypt(value, OAEP)
        except ValueError:
            self.reply(400, azure_error("BadParameter", "Error decrypting: the ciphertext is not valid for this key."))
            return
        host = self.headers.get("Host", "")
        self.reply(200, {"kid": f"https://{host}/keys/{name}/{version}", "value": b64url_encode(result)})


class Imds(Handler):
    """The instance metadata service's managed-identity token endpoint (plain HTTP)."""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        state = self.state
        if url.path != "/metadata/identity/oauth2/token":
            self.reply(404, {"error": "not_found", "error_description": "Not found"})
            return
        # What the real service checks: the header proving the request is not forwarded
        # by a confused deputy, and no X-Forwarded-For.
        if self.headers.get("Metadata") != "true" or self.headers.get("X-Forwarded-For"):
            self.reply(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
            return
        query = urllib.parse.parse_qs(url.query)
        if query.get("api-version") != ["2018-02-01"]:
            self.reply(400, {"error": "invalid_request", "error_description": "Invalid or missing api-version"})
            return
        resource = query.get("resource", [""])
        if len(resource) != 1 or resource[0].rstrip("/") != IMDS_RESOURCE:
            self.reply(400, {"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal was not found"})
            return
        if self.faulted("imds"):
            return
        with state.lock:
            lifetime = state.imds_lifetime
            token = state.issue(IMDS_RESOURCE, lifetime, "imds")
        now = int(time.time())
        self.reply(200, {
            "access_token": token,
            "client_id": "00000000-0000-0000-0000-000000000000",
            "expires_in": str(lifetime),
            "expires_on": str(now + lifetime),
            "ext_expires_in": str(lifetime),
            "not_before": str(now),
            "resource": resource[0],
            "token_type": "Bearer",
        })


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--imds-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--key-name", required=True)
    args = parser.parse_args()
    state = State(args)

    vault_handler = type("VaultHandler", (KeyVault,), {"state": state})
    imds_handler = type("ImdsHandler", (Imds,), {"state": state})
    vault = ThreadingHTTPServer((args.host, args.port), vault_handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    vault.socket = context.wrap_socket(vault.socket, server_side=True)
    vault.daemon_threads = True
    imds = ThreadingHTTPServer((args.host, args.imds_port), imds_handler)
    imds.daemon_threads = True
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    vault.serve_forever()


if __name__ == "__main__":
    main()
