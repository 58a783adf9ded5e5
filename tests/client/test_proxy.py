"""HTTPS_PROXY is honoured by both the token requests (msal) and the uploads (httpx)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import JOB, Target, resignations, run_cli

pytestmark = pytest.mark.timeout(120)


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records the tunnels it opens."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tunnels: list[str] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = [client, upstream]
                while True:
                    ready, _, _ = select.select(pair, [], [], 30)
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (upstream if s is client else client).sendall(data)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy()
    yield p
    p.close()


def test_token_and_upload_go_through_https_proxy(
    target: Target, proxy: ConnectProxy, tmp_path: Path
) -> None:
    """With HTTPS_PROXY set, msal's token requests and the uploads are tunnelled through it."""
    path = resignations(tmp_path / "hr.csv", 3)
    host = target.fake.url.removeprefix("https://")
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "", "no_proxy": ""}
    result = run_cli(target.upload_args(path), env=env)
    assert result.exit_code == 0, result.output
    assert len(target.fake.rows(JOB)) == 3
    assert proxy.tunnels and set(proxy.tunnels) == {host}
    assert len(proxy.tunnels) >= 2  # one for the token client, one for the upload client
