"""``hrsignal watch``: upload each export dropped into a folder, unattended.

A file is picked up once its size and mtime have not changed for ``settle`` seconds (the
writer has finished), uploaded through the same resumable path as ``hrsignal upload``, then
moved to ``processed/`` or ``failed/`` with a ``.report.json`` beside it. A ledger of content
hashes (in the state directory) makes a restart re-upload nothing already acknowledged, even
under another name. When the target is down the file stays where it is and is retried after
``interval`` seconds; its checkpoint keeps the chunks already acknowledged. SIGTERM and SIGINT
stop the loop after the chunk in flight.

Changes are noticed by a watchdog observer (inotify and friends) and, as a safety net for
network shares where events are not delivered, by a rescan every ``interval`` seconds.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from hrsignal.client.checkpoint import file_sha256, write_atomic
from hrsignal.client.tokens import TokenProvider
from hrsignal.client.uploader import UploadSettings, UploadSummary, upload_file
from hrsignal.errors import (
    AuthError,
    ConflictError,
    HrsignalError,
    InputFileError,
    RemoteRejectedError,
    StoreError,
    TransportError,
)

DONE = ("uploaded", "already_uploaded", "nothing_to_send")
#: Never picked up: our own outputs, and the temporary names writers use while writing.
SKIP_SUFFIXES = (".report.json", ".rejects.csv", ".quarantine.csv", ".tmp", ".part", ".partial")


@dataclass(slots=True)
class _Seen:
    stat: tuple[int, int]
    since: float


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Wake the loop: something changed in the folder."""
        self.event.set()


class Watcher:
    """Watches one folder and uploads what appears in it."""

    def __init__(
        self,
        directory: Path,
        settings: UploadSettings,
        *,
        pattern: str = "*.csv",
        interval: float = 60.0,
        settle: float = 5.0,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.pattern = pattern
        self.interval = interval
        self.settle = settle
        self.processed = directory / "processed"
        self.failed = directory / "failed"
        job = settings.endpoints.job_id
        self.ledger_path = settings.state_dir / "watch" / f"{job}.ledger.json"
        self.stop_event = threading.Event()
        # one token cache for every file (the official script asked for a token per chunk)
        self.tokens = TokenProvider(
            settings.endpoints,
            settings.credential,
            verify=settings.verify,
            timeout=settings.connect_timeout,
        )
        self._wake = threading.Event()
        self._seen: dict[str, _Seen] = {}
        self._retry_at: dict[str, float] = {}
        #: outcomes, in order: (file name, status)
        self.outcomes: list[tuple[str, str]] = []

    # -- ledger ----------------------------------------------------------------------------
    def _ledger(self) -> dict[str, Any]:
        try:
            data = json.loads(self.ledger_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the watch ledger {self.ledger_path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _remember(self, sha: str, name: str, summary: UploadSummary) -> None:
        ledger = self._ledger()
        ledger[sha] = {
            "file": name,
            "status": summary.status,
            "records": summary.records,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_atomic(self.ledger_path, json.dumps(ledger, indent=1).encode())

    # -- the loop --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop (after the chunk in flight)."""
        self.stop_event.set()
        self._wake.set()

    def run(self, *, once: bool = False) -> None:
        """Watch until stopped (or, with ``once``, until the folder has nothing pending)."""
        self.processed.mkdir(exist_ok=True)
        self.failed.mkdir(exist_ok=True)
        restore = self._install_signals()
        observer = Observer()
        observer.schedule(_Wake(self._wake), str(self.directory), recursive=False)
        observer.daemon = True
        observer.start()
        self._log(f"watching {self.directory} for {self.pattern} (every {self.interval:g}s)")
        try:
            while not self.stop_event.is_set():
                pending = self.scan()
                if once and not pending:
                    break
                wait = self.interval
                if pending:
                    wait = min(wait, max(self.settle / 2, 0.05))
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            observer.stop()
            observer.join(timeout=5)
            restore()
            self.tokens.close()
        self._log("stopped")

    def _install_signals(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, frame: FrameType | None) -> None:
            """Stop after the chunk in flight."""
            self._log(f"received {signal.Signals(signum).name}; stopping after this chunk")
            self.stop()

        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            """Put the previous signal handlers back."""
            for s, h in old.items():
                signal.signal(s, h)

        return restore

    def candidates(self) -> list[Path]:
        """Files in the folder matching the pattern (not reports, rejects or temp files)."""
        out = []
        for path in sorted(self.directory.iterdir()):
            name = path.name
            if not path.is_file() or name.startswith("."):
                continue
            if name.endswith(SKIP_SUFFIXES):
                continue
            if fnmatch.fnmatch(name, self.pattern):
                out.append(path)
        return out

    def scan(self) -> int:
        """Process the files that are ready; return how many are still pending."""
        pending = 0
        now = time.monotonic()
        present = set()
        for path in self.candidates():
            if self.stop_event.is_set():
                break
            name = path.name
            present.add(name)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stat = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(name)
            if seen is None or seen.stat != stat:
                self._seen[name] = _Seen(stat, now)
                if self.settle > 0 or seen is not None:
                    pending += 1
                    continue
            elif now - seen.since < self.settle:
                pending += 1
                continue
            if self._retry_at.get(name, 0) > now:
                continue
            self.process(path)
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        return pending

    def process(self, path: Path) -> str:
        """Upload one ready file and file it away; return its status."""
        name = path.name
        try:
            sha = file_sha256(path)
            if sha in self._ledger():
                summary = UploadSummary(file=str(path), job_id=self.settings.endpoints.job_id)
                summary.status = "already_uploaded"
            else:
                summary = upload_file(path, self.settings, stop=self.stop_event, tokens=self.tokens)
        except (ConflictError, StoreError) as exc:
            return self._later(name, exc)
        except HrsignalError as exc:
            summary = UploadSummary(file=str(path), job_id=self.settings.endpoints.job_id)
            summary.error = exc
        if summary.status in DONE:
            self._remember(sha, name, summary)
            self._file_away(path, self.processed, summary)
            self._log(
                f"{name}: {summary.status.replace('_', ' ')} ({summary.records:,} records, "
                f"{summary.chunks_sent} chunks sent) -> processed/"
            )
        elif _transient(summary):
            return self._later(name, summary.error or TransportError("unknown failure"))
        else:
            self._file_away(path, self.failed, summary)
            why = summary.error.message if summary.error else "validation errors"
            self._log(f"{name}: {summary.status} ({why}) -> failed/")
        self.outcomes.append((name, summary.status))
        self._retry_at.pop(name, None)
        self._seen.pop(name, None)
        return summary.status

    def _later(self, name: str, exc: HrsignalError) -> str:
        self._retry_at[name] = time.monotonic() + self.interval
        self._log(f"{name}: {exc.message}; will retry in {self.interval:g}s")
        self.outcomes.append((name, "retry_later"))
        return "retry_later"

    def _file_away(self, path: Path, folder: Path, summary: UploadSummary) -> None:
        dest = folder / path.name
        if dest.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            dest = folder / f"{path.stem}.{stamp}{path.suffix}"
        path.replace(dest)
        report: dict[str, Any] = {
            **summary.to_dict(),
            "file": str(dest),
            "original_name": path.name,
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if summary.report is not None:
            report["validation"] = summary.report.to_dict()
        # the rejects and quarantine files go with their export, out of the watched folder
        for key, made, suffix in (
            ("rejects", summary.rejects, ".rejects.csv"),
            ("quarantine", summary.quarantine, ".quarantine.csv"),
        ):
            if made is not None and made.exists() and made.parent == path.parent:
                moved = dest.with_name(dest.stem + suffix)
                made.replace(moved)
                report[key] = str(moved)
        write_atomic(
            dest.with_name(dest.name + ".report.json"), json.dumps(report, indent=2).encode()
        )

    def _log(self, message: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{stamp} {message}", err=True)


def _transient(summary: UploadSummary) -> bool:
    """Worth another try later: the target is down, the credential may be fixed, or the
    file was still changing. A refusal, a 4xx or a TLS failure goes to ``failed/``."""
    from hrsignal.client.tokens import TlsError

    error = summary.error
    if summary.status == "refused" or error is None:
        return False
    if isinstance(error, RemoteRejectedError | TlsError):
        return False
    return isinstance(error, AuthError | TransportError | InputFileError)
