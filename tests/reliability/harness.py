"""The proving ground's real parts: ``hrsignal serve`` as a killable process, a fault-injecting
TLS proxy on loopback in front of it, provisioning, HR files, and an audit of the store.

The service runs as its own process (plain HTTP on 127.0.0.1) so it can be SIGKILLed and
restarted on the same port; clients reach it through :class:`FaultProxy`, which terminates
TLS with a certificate from a test CA (the token endpoint must be https) and can, per
request, pass, reset the connection, delay the answer, or answer 503 / 429 itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

from hrsignal.client.clouds import Endpoints
from hrsignal.client.credentials import Secret
from hrsignal.client.retry import RetryPolicy
from hrsignal.client.uploader import UploadSettings
from hrsignal.scenarios import ValidationOptions, propose_mapping
from hrsignal.store import connectors, identity, open_store
from hrsignal.store.engine import Store
from tests.fakes.ca import TestCA as CA

RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
HEADER = ["EmailAddress", "ResignationDate", "LastWorkingDate"]
HRSIGNAL = str(Path(sys.executable).with_name("hrsignal"))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- provisioning --------------------------------------------------------------------------


@dataclass
class Job:
    """An app (with its secret) and a resignations connector owned by it."""

    tenant_id: str
    app_id: str
    secret: str
    job_id: str


def make_job(store: Store, name: str = "reliability") -> Job:
    """Register an app and a resignations connector."""
    tenant = identity.default_tenant(store)
    new = identity.create_app(store, name, tenant_id=tenant, expires_in_days=30)
    conn = connectors.create_connector(
        store,
        name=name,
        app_id=new.app.app_id,
        scenarios=["resignations"],
        mapping=propose_mapping(HEADER, "resignations"),
    )
    return Job(new.app.tenant_id, new.app.app_id, new.secret, conn.job_id)


def resignations_csv(path: Path, n: int, *, start: int = 0, prefix: str = "user") -> Path:
    """``n`` valid resignation records (``{prefix}{i}@contoso.com``), one file."""
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    resigned = (today - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = (today + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [",".join(HEADER)]
    lines += [f"{prefix}{i}@contoso.com,{resigned},{last}" for i in range(start, start + n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def upload_settings(
    base_url: str,
    job: Job,
    state_dir: Path,
    ca: Path,
    *,
    records_per_call: int = 50,
    read_timeout: float = 30.0,
    policy: RetryPolicy | None = None,
) -> UploadSettings:
    """Uploader settings pointing at ``base_url`` (login and ingestion) with fast retries."""
    endpoints = Endpoints(
        tenant_id=job.tenant_id,
        app_id=job.app_id,
        job_id=job.job_id,
        login_url=base_url,
        ingestion_url=base_url,
        resource=RESOURCE,
    )
    return UploadSettings(
        endpoints=endpoints,
        credential=Secret(job.secret),
        state_dir=state_dir,
        options=ValidationOptions(date_window=None),
        records_per_call=records_per_call,
        verify=str(ca),
        connect_timeout=5.0,
        read_timeout=read_timeout,
        policy=policy or RetryPolicy(max_retries=40, max_wait=120.0, base=0.05, cap=0.5),
    )


def cli_args(base_url: str, job: Job, ca: Path, state_dir: Path, path: Path) -> list[str]:
    """``hrsignal upload`` arguments for ``path`` (the secret comes from the environment)."""
    return [
        "upload",
        str(path),
        "--tenant-id",
        job.tenant_id,
        "--app-id",
        job.app_id,
        "--job-id",
        job.job_id,
        "--login-url",
        base_url,
        "--ingestion-url",
        base_url,
        "--ca-bundle",
        str(ca),
        "--state-dir",
        str(state_dir),
        "--retry-backoff",
        "0.05",
        "--max-retries",
        "40",
        "--format",
        "json",
    ]


# --- the service as a process ----------------------------------------------------------------


@dataclass
class Service:
    """``hrsignal serve`` on 127.0.0.1:``port``; its output appended to ``log_path``."""

    db_url: str
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """The service's own (plain HTTP) base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until ``/healthz`` answers 200."""
        cmd = [HRSIGNAL, "serve", "--db", self.db_url, "--port", str(self.port), *self.extra]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hrsignal serve exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("hrsignal serve did not become healthy")

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL if it does not exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


# --- the fault-injecting proxy ---------------------------------------------------------------

#: What the proxy does with one request.
PASS = "pass"
RESET_BEFORE = "reset_before"  # the connection is reset before the server sees the request
RESET_AFTER = "reset_after"  # the server answered; the client gets a reset instead
DELAY = "delay"  # the server answered; the answer is held for ``delay_s``
ANSWER_503 = "503"
ANSWER_429 = "429"


@dataclass
class Seen:
    """One request through the proxy."""

    n: int
    method: str
    path: str
    action: str
    at: float
    status: int | None = None


Decide = Callable[[int, str, str], str]
OnEvent = Callable[[int, str, str], None]


class FaultProxy:
    """A TLS-terminating HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream_port``.

    ``decide(n, method, path)`` picks an action for the n-th request (1-based, every path);
    ``on_event(n, path, phase)`` is called at ``received``, ``answered`` (the upstream answer
    is in hand, not yet forwarded) and ``forwarded``.
    """

    def __init__(self, upstream_port: int, ca: CA) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.decide: Decide = lambda n, m, p: PASS
        self.on_event: OnEvent = lambda n, p, phase: None
        self.delay_s = 0.0
        self.retry_after = "1"
        self.seen: list[Seen] = []
        self._count = 0
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(ca.cert_path, ca.key_path)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's https base URL."""
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, ssl=self._tls
        )

    def requests(self, path_part: str = "/api/signals") -> list[Seen]:
        """The requests seen whose path contains ``path_part``."""
        with self._lock:
            return [s for s in self.seen if path_part in s.path]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_message(reader)
                if request is None:
                    return
                head, body = request
                method, path = head.split(b" ", 2)[:2]
                with self._lock:
                    self._count += 1
                    n = self._count
                    seen = Seen(n, method.decode(), path.decode(), PASS, time.monotonic())
                    self.seen.append(seen)
                seen.action = self.decide(n, seen.method, seen.path)
                self.on_event(n, seen.path, "received")
                if seen.action == RESET_BEFORE:
                    _reset(writer)
                    return
                if seen.action in (ANSWER_503, ANSWER_429):
                    seen.status = int(seen.action)
                    writer.write(self._refusal(seen.status))
                    await writer.drain()
                    continue
                # As a TLS-terminating reverse proxy does: the service builds its https URLs
                # (token endpoint, issuer) from this (uvicorn trusts it from 127.0.0.1).
                first, _, rest = head.partition(b"\r\n")
                head = first + b"\r\nX-Forwarded-Proto: https\r\n" + rest
                answer = await self._forward(head, body)
                if answer is None:  # the service is down: the client sees a reset
                    _reset(writer)
                    return
                seen.status = int(answer.split(b" ", 2)[1])
                self.on_event(n, seen.path, "answered")
                if seen.action == RESET_AFTER:
                    _reset(writer)
                    return
                if seen.action == DELAY:
                    await asyncio.sleep(self.delay_s)
                writer.write(answer)
                await writer.drain()
                self.on_event(n, seen.path, "forwarded")
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _refusal(self, status: int) -> bytes:
        if status == 503:
            body = b'{"error":{"status":503,"code":"unavailable","message":"proxy storm"}}'
            extra = b""
        else:
            body = b'{"error":{"status":429,"code":"throttled","message":"slow down"}}'
            extra = b"Retry-After: " + self.retry_after.encode() + b"\r\n"
        reason = b"Service Unavailable" if status == 503 else b"Too Many Requests"
        return (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (status, reason, len(body), extra)
        ) + body

    async def _forward(self, head: bytes, body: bytes) -> bytes | None:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            return None
        try:
            w.write(head + body)
            await w.drain()
            answer = await _read_message(r)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return None
        finally:
            w.close()
        if answer is None:
            return None
        return answer[0] + answer[1]


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head and Content-Length body); None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), no TLS close_notify."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- auditing the store ----------------------------------------------------------------------


@dataclass
class Audit:
    """What the store holds for one job, and its consistency with the upload log."""

    stored: int
    upns: set[str]
    saved_in_log: int
    versions: int
    uploads: int
    orphans: int  # stored records whose upload_id has no log entry
    torn: int  # log entries whose RecordsSaved differs from the records carrying their id

    def lost(self, sent: set[str]) -> int:
        """Records sent (and acknowledged) that the store does not hold."""
        return len(sent - self.upns)

    @property
    def duplicated(self) -> int:
        """Records saved more than once: log saves beyond the distinct records, plus versions
        (the same content saved again would have made one)."""
        return max(0, self.saved_in_log - self.stored) + self.versions


def audit(db_url: str, job_id: str) -> Audit:
    """Read the store behind ``db_url`` for ``job_id``."""
    store = open_store(db_url, migrate=False)
    try:
        with store.read() as conn:
            upns = {r[0] for r in conn.execute(
                text("SELECT upn FROM hr_current WHERE job_id = :j"), {"j": job_id}
            )}  # fmt: skip
            stored = conn.execute(
                text("SELECT count(*) FROM hr_current WHERE job_id = :j"), {"j": job_id}
            ).scalar_one()
            saved = conn.execute(
                text(
                    "SELECT coalesce(sum(records_saved), 0), count(*) FROM uploads "
                    "WHERE job_id = :j"
                ),
                {"j": job_id},
            ).one()
            versions = conn.execute(
                text("SELECT count(*) FROM hr_versions WHERE job_id = :j"), {"j": job_id}
            ).scalar_one()
            orphans = conn.execute(
                text(
                    "SELECT count(*) FROM hr_current c WHERE c.job_id = :j AND NOT EXISTS "
                    "(SELECT 1 FROM uploads u WHERE u.upload_id = c.upload_id)"
                ),
                {"j": job_id},
            ).scalar_one()
            torn = conn.execute(
                text(
                    "SELECT count(*) FROM uploads u WHERE u.job_id = :j AND u.records_saved <> "
                    "(SELECT count(*) FROM hr_current c WHERE c.upload_id = u.upload_id)"
                ),
                {"j": job_id},
            ).scalar_one()
    finally:
        store.dispose()
    return Audit(
        stored=int(stored),
        upns=upns,
        saved_in_log=int(saved[0]),
        versions=int(versions),
        uploads=int(saved[1]),
        orphans=int(orphans),
        torn=int(torn),
    )


def sqlite_integrity(db_url: str) -> str:
    """``PRAGMA integrity_check`` of a SQLite store (``ok`` when sound)."""
    import sqlite3

    path = db_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
