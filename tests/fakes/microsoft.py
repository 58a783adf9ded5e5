"""A faithful local stand-in for Microsoft's side of the HR connector, for tests.

One HTTPS server (a test CA's certificate) plays both hosts:

* Entra ID: OIDC discovery at ``/{tenant}/v2.0/.well-known/openid-configuration`` (what msal
  fetches for a custom authority with instance discovery off), the v2 token endpoint
  (``scope=<resource>/.default``) and the v1 one (``resource=``), client secrets and
  certificate client assertions (RS256/PS256, ``x5t``/``x5t#S256``, ``aud`` = token endpoint),
  with Entra's error bodies (AADSTS7000215, 700016, 90002, 700027, 500011).
* The ingestion webhook: ``POST /api/signals?jobid=`` (multipart part ``file``), the 403
  reason ``jobId and corresponding appId do not match.``, 401 for a bad or expired token.

Fault injection (:meth:`FakeMicrosoft.on_upload`, :meth:`on_token`): status codes with
headers (429 + Retry-After, 503 storms, 400 on a given chunk), connection resets, slow
responses, accepting a chunk and then hanging, and revoking issued tokens.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.fakes.ca import TestCA, make_ca

RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
_SIGNING_KEY = "fake-entra-signing-key-not-a-secret-0123456789"


@dataclass
class App:
    """An app registration: a secret and/or a certificate."""

    app_id: str
    tenant_id: str
    secret: str | None = None
    certificate: x509.Certificate | None = None


@dataclass
class UploadRequest:
    """One request to /api/signals, as the fake saw it."""

    seq: int
    job_id: str | None
    filename: str | None
    header: list[str]
    rows: list[list[str]]
    raw_body: bytes
    content_type: str

    @property
    def part(self) -> int | None:
        """The chunk number in an hrsignal file name (``x.part0002.csv`` -> 2)."""
        if self.filename and ".part" in self.filename:
            with contextlib.suppress(ValueError):
                return int(self.filename.rsplit(".part", 1)[1].split(".")[0])
        return None


@dataclass
class Action:
    """What the fake does with a request that matches a rule."""

    kind: str  # "status" | "reset" | "delay" | "accept_then_hang"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    seconds: float = 0.0


def status(code: int, body: str = "", **headers: str) -> Action:
    """Answer ``code`` (headers given as keyword arguments, ``Retry_After`` -> Retry-After)."""
    return Action("status", code, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def reset() -> Action:
    """Close the connection with a TCP reset, without answering."""
    return Action("reset")


def delay(seconds: float) -> Action:
    """Wait, then process the request normally."""
    return Action("delay", seconds=seconds)


def accept_then_hang(seconds: float) -> Action:
    """Save the chunk, then wait before answering (the ambiguous timeout)."""
    return Action("accept_then_hang", seconds=seconds)


@dataclass
class Rule:
    """Apply ``action`` to requests matching ``match``, ``times`` times (None: always)."""

    match: Callable[[UploadRequest], bool]
    action: Action
    times: int | None = 1


class FakeMicrosoft:
    """The fake Entra + ingestion service; use as a context manager."""

    def __init__(
        self, tls_dir: Path, *, token_lifetime: int = 3599, keep_rows: bool = True
    ) -> None:
        self.ca: TestCA = make_ca(tls_dir)
        #: False: count records but keep no rows or bodies (benchmarks of large files)
        self.keep_rows = keep_rows
        self.records_accepted = 0
        #: seconds added to the Date header (a server whose clock differs from ours)
        self.clock_offset = 0.0
        self.token_lifetime = token_lifetime
        self.apps: dict[str, App] = {}
        self.jobs: dict[str, str] = {}  # job id -> app id
        self.tenants: set[str] = set()
        self.accepted: list[UploadRequest] = []
        self.requests: list[UploadRequest] = []
        self.token_requests: list[dict[str, str]] = []
        self.discovery_requests = 0
        self.revoked: set[str] = set()
        self.upload_rules: list[Rule] = []
        self.token_rules: list[tuple[Action, int | None]] = []
        self.used_jti: set[str] = set()
        self.lock = threading.RLock()  # rules may call back into the fake
        self.received = threading.Event()  # set whenever an upload request arrives
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ----------------------------------------------------------------------------
    def add_app(
        self,
        tenant_id: str,
        app_id: str,
        *,
        secret: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> App:
        """Register an app (and its tenant)."""
        self.tenants.add(tenant_id)
        app = App(app_id, tenant_id, secret, certificate)
        self.apps[app_id] = app
        return app

    def add_job(self, job_id: str, app_id: str) -> None:
        """Create an HR connector bound to ``app_id``."""
        self.jobs[job_id] = app_id

    def on_upload(
        self,
        action: Action,
        *,
        when: Callable[[UploadRequest], bool] = lambda r: True,
        times: int | None = 1,
    ) -> None:
        """Inject a fault into uploads matching ``when``."""
        with self.lock:
            self.upload_rules.append(Rule(when, action, times))

    def on_token(self, action: Action, *, times: int | None = 1) -> None:
        """Inject a fault into the token endpoint."""
        with self.lock:
            self.token_rules.append((action, times))

    def revoke_tokens(self) -> None:
        """Treat every token issued so far as expired (the server says 401)."""
        with self.lock:
            self.revoked.update(t["jti"] for t in self.token_requests if "jti" in t)

    # -- results ---------------------------------------------------------------------------
    def rows(self, job_id: str | None = None) -> list[list[str]]:
        """Every accepted record, in arrival order."""
        with self.lock:
            return [
                row
                for req in self.accepted
                if job_id is None or req.job_id == job_id
                for row in req.rows
            ]

    @property
    def tokens_issued(self) -> int:
        """Tokens handed out."""
        with self.lock:
            return sum(1 for t in self.token_requests if "jti" in t)

    # -- server ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (both the login and the ingestion base)."""
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeMicrosoft:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _QuietServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.ca.cert_path, self.ca.key_path)
        server.socket = ctx.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- behaviour -------------------------------------------------------------------------
    def _next_upload_action(self, req: UploadRequest) -> Action | None:
        with self.lock:
            for rule in self.upload_rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.match(req):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.action
        return None

    def _next_token_action(self) -> Action | None:
        with self.lock:
            for i, (action, times) in enumerate(self.token_rules):
                if times is None:
                    return action
                if times > 0:
                    self.token_rules[i] = (action, times - 1)
                    return action
        return None

    def issue(self, app: App, resource: str) -> tuple[str, dict[str, Any]]:
        """A signed access token and its claims."""
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{app.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": app.app_id,
            "tid": app.tenant_id,
            "ver": "1.0",
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, _SIGNING_KEY, algorithm="HS256"), claims

    def check_token(self, header: str | None) -> tuple[int, str, dict[str, Any]]:
        """(status, reason, claims) for an Authorization header."""
        if not header or not header.lower().startswith("bearer "):
            return 401, "Unauthorized", {}
        token = header[7:].strip()
        try:
            claims = jwt.decode(token, _SIGNING_KEY, algorithms=["HS256"], audience=[RESOURCE])
        except jwt.PyJWTError:
            return 401, "Unauthorized", {}
        with self.lock:
            if claims.get("jti") in self.revoked:
                return 401, "Unauthorized", {}
        return 200, "OK", claims


def entra_error(code: str, number: int, text: str) -> dict[str, Any]:
    """Entra's error body."""
    trace, corr = uuid.uuid4(), uuid.uuid4()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": code,
        "error_description": f"AADSTS{number}: {text} Trace ID: {trace} Correlation ID: "
        f"{corr} Timestamp: {stamp}",
        "error_codes": [number],
        "timestamp": stamp,
        "trace_id": str(trace),
        "correlation_id": str(corr),
        "error_uri": f"https://login.microsoftonline.com/error?code={number}",
    }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # TLS handshakes refused on purpose, clients killed mid-request


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMicrosoft
    protocol_version = "HTTP/1.1"
    _reset = False

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def date_time_string(self, timestamp: float | None = None) -> str:
        return super().date_time_string(time.time() + self.fake.clock_offset)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def _send(
        self,
        code: int,
        body: bytes | str | dict[str, Any],
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        if isinstance(body, dict):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        self.send_response(code, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset_connection(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    # -- GET -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        if path.endswith("/v2.0/.well-known/openid-configuration") and len(parts) == 4:
            tenant = parts[0]
            with self.fake.lock:
                self.fake.discovery_requests += 1
            if tenant not in self.fake.tenants:
                self._send(
                    400,
                    entra_error(
                        "invalid_tenant",
                        90002,
                        f"Tenant '{tenant}' not found. Check to make sure you have the "
                        "correct tenant ID and are signing into the correct cloud.",
                    ),
                )
                return
            base = self.fake.url
            self._send(
                200,
                {
                    "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/{tenant}/v2.0",
                    "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                    ],
                    "response_types_supported": ["code", "token"],
                },
            )
            return
        if path.rstrip("/") == "/api/signals":
            self._send(200, "hrsignal fake ingestion endpoint", content_type="text/plain")
            return
        self._send(404, {"error": "not_found"})

    # -- POST ------------------------------------------------------------------------------
    def do_POST(self) -> None:
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        if split.path.rstrip("/") in ("/api/signals", "/api/signals/hr/termination/csv"):
            self._upload(split.query)
        elif len(parts) >= 3 and parts[1] == "oauth2" and parts[-1] == "token":
            self._token(parts[0], v2=parts[2] == "v2.0")
        else:
            self._body()
            self._send(404, {"error": "not_found"})

    def _token(self, tenant: str, *, v2: bool) -> None:
        fake = self.fake
        form = dict(parse_qsl(self._body().decode()))
        action = fake._next_token_action()
        if action is not None:
            if action.kind == "reset":
                self._reset_connection()
                return
            if action.kind == "delay":
                time.sleep(action.seconds)
            else:
                self._send(action.status, action.body or "{}", headers=action.headers)
                return
        record = {k: v for k, v in form.items() if k not in ("client_secret", "client_assertion")}
        with fake.lock:
            fake.token_requests.append(record)
        if tenant not in fake.tenants:
            self._send(400, entra_error("invalid_request", 90002, f"Tenant '{tenant}' not found."))
            return
        client_id = form.get("client_id", "")
        app = fake.apps.get(client_id)
        if app is None or app.tenant_id != tenant:
            self._send(
                400,
                entra_error(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the "
                    f"directory '{tenant}'. This can happen if the application has not been "
                    "installed by the administrator of the tenant.",
                ),
            )
            return
        endpoint = f"{fake.url}/{tenant}/oauth2/{'v2.0/' if v2 else ''}token"
        if "client_assertion" in form:
            problem = self._check_assertion(app, form["client_assertion"], endpoint)
            if problem:
                self._send(401, entra_error("invalid_client", 700027, problem))
                return
        elif app.secret is None or form.get("client_secret") != app.secret:
            self._send(
                401,
                entra_error(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{client_id}'.",
                ),
            )
            return
        resource = (
            form.get("scope", "").removesuffix("/.default") if v2 else form.get("resource", "")
        )
        if resource != RESOURCE:
            self._send(
                400,
                entra_error(
                    "invalid_resource",
                    500011,
                    f"The resource principal named {resource} was not found in the tenant "
                    f"named {tenant}.",
                ),
            )
            return
        token, claims = fake.issue(app, resource)
        with fake.lock:
            record["jti"] = claims["jti"]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": fake.token_lifetime,
            "ext_expires_in": fake.token_lifetime,
            "access_token": token,
        }
        if not v2:  # v1 answers strings, as Power Automate's schema expects
            body = {k: str(v) for k, v in body.items()}
            body.update(
                expires_on=str(claims["exp"]), not_before=str(claims["nbf"]), resource=resource
            )
        self._send(200, body)

    def _check_assertion(self, app: App, assertion: str, endpoint: str) -> str | None:
        if app.certificate is None:
            return "The app has no certificate credential."
        header = jwt.get_unverified_header(assertion)
        cert = app.certificate
        s256 = cert.fingerprint(hashes.SHA256())
        s1 = cert.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by definition
        if _thumb(header.get("x5t#S256")) != s256 and _thumb(header.get("x5t")) != s1:
            used = header.get("x5t#S256") or header.get("x5t")
            return (
                "Client assertion contains an invalid signature. [Reason - The key was not "
                f"found., Thumbprint of key used by client: '{used}']"
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=endpoint,
                options={"require": ["exp", "aud", "iss", "sub", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return f"Client assertion failed signature validation: {exc}"
        if claims["iss"] != app.app_id or claims["sub"] != app.app_id:
            return "Client assertion issuer or subject is not the client id."
        with self.fake.lock:
            if claims["jti"] in self.fake.used_jti:
                return "The jti of the client assertion was already used."
            self.fake.used_jti.add(claims["jti"])
        return None

    def _upload(self, query: str) -> None:
        fake = self.fake
        params = {k.lower(): v for k, v in parse_qsl(query)}
        body = self._body()
        ctype = self.headers.get("Content-Type", "")
        filename, header, rows = _parse_upload(ctype, body)
        with fake.lock:
            fake._seq += 1
            req = UploadRequest(fake._seq, params.get("jobid"), filename, header, rows, body, ctype)
            fake.requests.append(req)
        fake.received.set()
        action = fake._next_upload_action(req)
        if action is not None:
            if action.kind == "reset":
                self._reset_connection()
                return
            if action.kind == "status":
                self._send(action.status, action.body, headers=action.headers)
                return
            if action.kind == "delay":
                time.sleep(action.seconds)
        code, reason, claims = fake.check_token(self.headers.get("Authorization"))
        if code != 200:
            self._send(
                401,
                "",
                reason=reason,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
            return
        job = req.job_id
        if job is None or fake.jobs.get(job) != claims.get("appid"):
            self._send(403, "", reason="jobId and corresponding appId do not match.")
            return
        if not header:
            self._send(400, {"error": "BadRequest", "message": "no CSV part named 'file'"})
            return
        with fake.lock:
            fake.records_accepted += len(rows)
            if fake.keep_rows:
                fake.accepted.append(req)
        if action is not None and action.kind == "accept_then_hang":
            time.sleep(action.seconds)
        self._send(200, {"uploadId": uuid.uuid4().hex, "recordsReceived": len(rows)})


def _thumb(value: object) -> bytes | None:
    """A JWT thumbprint header: base64url per RFC 7515, though padded standard base64 (what
    msal writes) is accepted by Entra too."""
    if not isinstance(value, str):
        return None
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


def _parse_upload(ctype: str, body: bytes) -> tuple[str | None, list[str], list[list[str]]]:
    """(filename, header, rows) of a multipart upload with a part named ``file``."""
    if "boundary=" not in ctype:
        return None, [], []
    boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    for part in body.split(b"--" + boundary.encode()):
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        lines = head.decode("utf-8", "replace").split("\r\n")
        disposition = next((h for h in lines if h.lower().startswith("content-disposition:")), "")
        if 'name="file"' not in disposition and "name=file" not in disposition:
            continue
        filename = None
        if "filename=" in disposition:
            filename = disposition.split("filename=", 1)[1].split(";")[0].strip().strip('"')
        text = content.removesuffix(b"\r\n").decode("utf-8")
        records = list(csv.reader(io.StringIO(text, newline="")))
        if not records:
            return filename, [], []
        return filename, records[0], records[1:]
    return None, [], []


@contextlib.contextmanager
def running(tls_dir: Path, **kwargs: Any) -> Iterator[FakeMicrosoft]:
    """Start a fake for the duration of a ``with`` block."""
    with FakeMicrosoft(tls_dir, **kwargs) as fake:
        yield fake
