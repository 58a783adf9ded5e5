"""One chunk to ``/api/signals``: the multipart body, the POST, and its retries.

The body is built here rather than by httpx so that it is exactly reproducible (the same bytes
on every retry, hashed into the checkpoint) and shaped like the official client's: one part
named ``file`` holding UTF-8 CSV with the header.
"""

from __future__ import annotations

import secrets as pysecrets
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from hrsignal import __version__
from hrsignal.client.clouds import Endpoints
from hrsignal.client.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after
from hrsignal.client.tokens import TLS_HINT, BearerAuth, TlsError, TokenProvider
from hrsignal.errors import AuthError, ForbiddenError, RemoteRejectedError, TransportError

USER_AGENT = f"hrsignal/{__version__} (upload)"


def ssl_context(verify: str | bool) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the system CAs, or only those of ``--ca-bundle``."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def encode_multipart(csv_bytes: bytes, filename: str) -> tuple[str, bytes]:
    """The content type and body of a one-part ``multipart/form-data`` request."""
    boundary = "hrsignal-" + pysecrets.token_hex(16)
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
        "Content-Type: text/csv; charset=utf-8\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head + csv_bytes + tail


@dataclass(slots=True)
class Delivery:
    """The server's acknowledgement of one chunk."""

    status: int
    body: str
    attempts: int
    upload_id: str | None
    rejected: int = 0  # records the server said it rejected (hrsignal serve reports them)


class Sender:
    """POSTs chunks with the bearer token, retrying transient failures."""

    def __init__(
        self,
        endpoints: Endpoints,
        tokens: TokenProvider,
        *,
        verify: str | bool = True,
        connect_timeout: float = 30.0,
        read_timeout: float = 400.0,
        policy: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.auth = BearerAuth(tokens)
        self.policy = policy or RetryPolicy()
        self.stop = stop or threading.Event()
        self.on_retry = on_retry
        #: retries made so far, over all chunks
        self.retries = 0
        self._client = httpx.Client(
            verify=ssl_context(verify),
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            headers={"User-Agent": USER_AGENT},
            trust_env=True,  # HTTPS_PROXY / NO_PROXY, as the user's environment says
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, csv_bytes: bytes, filename: str) -> Delivery:
        """Deliver one chunk; return on a 2xx, raise when it cannot be delivered."""
        content_type, body = encode_multipart(csv_bytes, filename)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self._client.post(
                    self.endpoints.signals_url,
                    params={"jobid": self.endpoints.job_id},
                    content=body,
                    headers={"Content-Type": content_type},
                    auth=self.auth,
                )
            except httpx.TimeoutException as exc:
                # Ambiguous: the server may have saved the chunk. It is sent again; the
                # self-hosted server is idempotent, so a resend saves nothing twice.
                reason = f"timed out ({type(exc).__name__})"
            except httpx.ConnectError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in type(exc).__name__:
                    raise TlsError(
                        f"TLS to {self.endpoints.ingestion_url} failed: {str(exc)[:200]}",
                        hint=TLS_HINT,
                    ) from None
                reason = f"connection failed ({type(exc).__name__}: {str(exc)[:120]})"
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__}: {str(exc)[:120]})"
            except TlsError:
                raise
            except TransportError as exc:  # the token endpoint is unreachable or failing
                reason = exc.message
            else:
                status = response.status_code
                if 200 <= status < 300:
                    upload_id, rejected = _answer(response)
                    return Delivery(status, response.text, attempt, upload_id, rejected)
                if status == 401:
                    raise AuthError(
                        f"{self.endpoints.signals_url} refused the token twice (HTTP 401): "
                        f"{_body(response)}",
                        hint="the token's audience or app is not what the server expects; "
                        "check --resource and --cloud, and run `hrsignal doctor`",
                    )
                if status == 403:
                    raise ForbiddenError(
                        f"HTTP 403 {response.reason_phrase}: {_body(response)}",
                        hint="the job ID does not belong to this app ID (the reason "
                        "'jobId and corresponding appId do not match.'): check --job-id "
                        "and --app-id against the connector's flyout",
                    )
                if status not in RETRYABLE_STATUS:
                    raise RemoteRejectedError(
                        f"the server rejected {filename} with HTTP {status} "
                        f"{response.reason_phrase}: {_body(response)}",
                        status=status,
                        body=response.text,
                        hint="nothing was marked as sent; fix the cause and run the same "
                        "command again to resume from this chunk",
                    )
                reason = f"HTTP {status} {response.reason_phrase}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            retry = attempt  # the number of the retry about to be made
            delay = self.policy.delay(retry, retry_after)
            if retry > self.policy.max_retries or waited + delay > self.policy.max_wait:
                raise TransportError(
                    f"{filename} not delivered after {attempt} attempts "
                    f"({waited:.0f}s of waiting): last error {reason}",
                    hint="nothing was marked as sent; run the same command again later to "
                    "resume, or raise --max-retries / --max-wait",
                )
            self.retries += 1
            if self.on_retry is not None:
                self.on_retry(reason, delay)
            if self.stop.wait(delay):
                raise TransportError(f"stopped while waiting to retry {filename}")
            waited += delay


def _body(response: httpx.Response, limit: int = 2000) -> str:
    text = response.text.strip()
    if not text:
        return "(empty body)"
    return text if len(text) <= limit else text[:limit] + "..."


def _answer(response: httpx.Response) -> tuple[str | None, int]:
    """The upload id and rejected-record count of a JSON answer (hrsignal serve sends
    ``{"uploadId", "recordsRejected", ...}``; Microsoft's success body is undocumented)."""
    try:
        data = response.json()
    except ValueError:
        return None, 0
    if not isinstance(data, dict):
        return None, 0
    value = data.get("uploadId") or data.get("upload_id")
    rejected = data.get("recordsRejected", 0)
    return (
        str(value) if value is not None else None,
        rejected if isinstance(rejected, int) and rejected > 0 else 0,
    )
