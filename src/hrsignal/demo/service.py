"""The demo's connector service: ``create_app`` served by uvicorn with TLS on loopback, in a
background thread of the demo's own process (so one Ctrl-C stops everything).

The listening socket is bound here, before uvicorn starts, so ``port=0`` picks a free port and
the URL printed is the one actually served, and a busy port is reported as a usage error instead
of a traceback from inside uvicorn.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from types import TracebackType

from hrsignal.demo.tls import DemoTLS
from hrsignal.errors import HrsignalError, UsageError
from hrsignal.server.app import create_app
from hrsignal.server.settings import Settings
from hrsignal.store.engine import Store


class DemoService:
    """A running service; use as a context manager (``stop`` on exit)."""

    def __init__(
        self, settings: Settings, store: Store, tls: DemoTLS, *, host: str, port: int
    ) -> None:
        import uvicorn

        self.sock = _bind(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(settings, store=store),
            log_level="warning",
            access_log=False,
            ssl_certfile=str(tls.cert_path),
            ssl_keyfile=str(tls.key_path),
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="hrsignal-demo-service")

    @property
    def url(self) -> str:
        """The base URL clients use (``https://127.0.0.1:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._failure = exc

    def start(self, *, timeout: float = 30.0) -> DemoService:
        """Start serving; return once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise HrsignalError(
                    f"the demo service did not start on {self.url} ({self._failure or 'timeout'})"
                )
            time.sleep(0.02)
        return self

    @property
    def running(self) -> bool:
        """The service thread is still serving."""
        return self._thread.is_alive()

    def stop(self, *, timeout: float = 15.0) -> None:
        """Ask uvicorn to finish in-flight requests and exit; wait for it."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> DemoService:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use (another 'hrsignal demo' or "
                "'hrsignal serve'?)",
                hint="stop it, or pass --port with another port (--port 0 picks a free one)",
            ) from None
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
