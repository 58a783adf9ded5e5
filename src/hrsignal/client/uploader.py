"""Upload one HR file: validate it completely, then send it chunk by chunk, resumably.

1. Hash the file's bytes and take the lock for (job, content).
2. Pass 1: the shared validator reads the whole file. Errors refuse the upload (unless
   ``skip_invalid``, which writes the rejected records to a rejects file).
3. Pass 2: stream the chunks after the checkpoint; each one is acknowledged (2xx) before the
   checkpoint moves past it. Nothing is ever counted as sent that the server did not accept.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrsignal.client.checkpoint import Checkpoint, exclusive_lock, file_sha256
from hrsignal.client.chunks import Prefetched, RejectsWriter, iter_chunks
from hrsignal.client.clouds import Endpoints
from hrsignal.client.credentials import Credential
from hrsignal.client.delivery import Quarantine, deliver
from hrsignal.client.retry import RetryPolicy
from hrsignal.client.tokens import TokenProvider
from hrsignal.client.transport import Sender
from hrsignal.errors import HrsignalError, InputFileError, RemoteRejectedError, TransportError
from hrsignal.scenarios import FileMapping, ValidationOptions, ValidationReport, open_validation


@dataclass(slots=True)
class UploadSettings:
    """Everything one upload needs; built at the edge (CLI, watcher)."""

    endpoints: Endpoints
    credential: Credential
    state_dir: Path
    scenario: str | None = None
    mapping: FileMapping | None = None
    options: ValidationOptions = field(default_factory=ValidationOptions)
    records_per_call: int = 5000
    skip_invalid: bool = False
    rejects_path: Path | None = None
    dry_run: bool = False
    force: bool = False
    verify: str | bool = True
    connect_timeout: float = 30.0
    read_timeout: float = 400.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    quarantine: bool = False
    quarantine_path: Path | None = None


class UploadObserver:
    """Hooks for progress display; the defaults do nothing."""

    def validated(self, report: ValidationReport) -> None:
        """Pass 1 is complete."""

    def sending(self, records: int, chunks: int, done_records: int, done_chunks: int) -> None:
        """Pass 2 starts: totals, and what the checkpoint already covers."""

    def sent(self, records: int) -> None:
        """A chunk of ``records`` records was acknowledged."""

    def retrying(self, reason: str, delay: float) -> None:
        """A transient failure; the next attempt is in ``delay`` seconds."""


@dataclass(slots=True)
class UploadSummary:
    """The outcome; ``to_dict`` is the ``--format json`` document."""

    file: str
    job_id: str
    records: int = 0
    valid_records: int = 0
    chunks_sent: int = 0
    chunks_skipped_from_checkpoint: int = 0
    retries: int = 0
    status: str = "failed"
    report: ValidationReport | None = None
    rejects: Path | None = None
    error: HrsignalError | None = None
    token_refreshes: int = 0
    chunks_planned: int = 0
    server_rejected: int = 0
    quarantined: int = 0
    quarantine: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"file","job_id","records","valid_records","chunks_sent",
        "chunks_skipped_from_checkpoint","retries","status"}``, plus ``error`` on failure and
        ``server_rejected`` when the server refused records it acknowledged."""
        doc: dict[str, Any] = {
            "file": self.file,
            "job_id": self.job_id,
            "records": self.records,
            "valid_records": self.valid_records,
            "chunks_sent": self.chunks_sent,
            "chunks_skipped_from_checkpoint": self.chunks_skipped_from_checkpoint,
            "retries": self.retries,
            "status": self.status,
        }
        if self.server_rejected:
            doc["server_rejected"] = self.server_rejected
        if self.quarantined:
            doc["quarantined"] = self.quarantined
            doc["quarantine_file"] = str(self.quarantine)
        if self.error is not None:
            doc["error"] = self.error.message
        return doc

    @property
    def exit_code(self) -> int:
        """0 only when every valid record was acknowledged (or there was nothing to send)."""
        if self.status in ("uploaded", "already_uploaded", "dry_run", "nothing_to_send"):
            return 0
        if self.status == "refused":
            return 1
        return self.error.exit_code if self.error is not None else 5


def upload_file(
    path: str | os.PathLike[str],
    settings: UploadSettings,
    *,
    observer: UploadObserver | None = None,
    stop: threading.Event | None = None,
    tokens: TokenProvider | None = None,
) -> UploadSummary:
    """Validate and upload ``path``; failures are returned in the summary, not raised.

    ``tokens`` lets a caller that uploads many files (the watcher) reuse one token cache.

    Only a problem that prevents even starting (unreadable file, bad state directory, a
    concurrent run) raises an :class:`~hrsignal.errors.HrsignalError`.
    """
    observer = observer or UploadObserver()
    stop = stop or threading.Event()
    file = Path(path)
    job = settings.endpoints.job_id
    before = _stat(file)
    sha = file_sha256(file)
    summary = UploadSummary(file=str(file), job_id=job)
    lock = settings.state_dir / "locks" / f"{Checkpoint(settings.state_dir, job, sha).path.stem}"
    with exclusive_lock(lock.with_suffix(".lock"), f"{file.name} (job {job})"):
        checkpoint = Checkpoint.load(settings.state_dir, job, sha)
        if settings.force and not settings.dry_run:
            checkpoint.reset()
        report = _validate(file, settings, summary)
        observer.validated(report)
        summary.report = report
        summary.records, summary.valid_records = report.records, report.valid_records
        if report.file_rejected or (report.valid_records == 0 and report.records > 0):
            summary.status = "refused"
            return summary
        if report.error_count and not settings.skip_invalid:
            summary.status = "refused"
            return summary
        sendable = report.valid_records if settings.skip_invalid else report.records
        if sendable == 0:
            summary.status = "nothing_to_send"
            return summary
        total_chunks = math.ceil(sendable / settings.records_per_call)
        if checkpoint.completed and not settings.dry_run:
            summary.chunks_skipped_from_checkpoint = total_chunks
            summary.status = "already_uploaded"
            _partial(summary, checkpoint)
            return summary
        try:
            _send(
                file, settings, checkpoint, summary, observer, stop, total_chunks, sendable, tokens
            )
        except HrsignalError as exc:
            summary.error = exc
            summary.status = "failed"
            return summary
        if _stat(file) != before:
            summary.error = InputFileError(
                f"{file} changed while it was being uploaded",
                hint="upload it again once the export is complete",
            )
            summary.status = "failed"
            return summary
        if settings.dry_run:
            summary.status = "dry_run"
            return summary
        summary.status = "uploaded"
        checkpoint.complete(summary.to_dict())
        _partial(summary, checkpoint)
        return summary


def _partial(summary: UploadSummary, checkpoint: Checkpoint) -> None:
    """Records quarantined (now or by an earlier run) mean not every valid record was
    acknowledged: the status is ``partial`` and the exit code 3."""
    count = int(checkpoint.data.get("quarantined", 0))
    if not count:
        return
    where = checkpoint.data.get("quarantine_file", "the quarantine file")
    summary.quarantined = max(summary.quarantined, count)
    summary.quarantine = Path(where)
    summary.status = "partial"
    summary.error = RemoteRejectedError(
        f"the server refused {count} record(s); they are in {where}, everything else was "
        "acknowledged",
        status=400,
        hint="fix those rows and upload the quarantine file (it has the original header)",
    )


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None
    return st.st_size, st.st_mtime_ns


def _validate(path: Path, settings: UploadSettings, summary: UploadSummary) -> ValidationReport:
    rejects: RejectsWriter | None = None
    with open_validation(
        path, scenario=settings.scenario, mapping=settings.mapping, options=settings.options
    ) as run:
        ok = False
        try:
            for batch in run:
                if settings.skip_invalid and not batch.valid.all():
                    if rejects is None:
                        target = settings.rejects_path or path.with_name(path.stem + ".rejects.csv")
                        rejects = RejectsWriter(target, run.header)
                    rejects.add(batch)
            ok = True
        finally:
            if rejects is not None:
                summary.rejects = rejects.finish(ok)
        return run.report


def _send(
    file: Path,
    settings: UploadSettings,
    checkpoint: Checkpoint,
    summary: UploadSummary,
    observer: UploadObserver,
    stop: threading.Event,
    total_chunks: int,
    sendable: int,
    shared: TokenProvider | None,
) -> None:
    tokens = shared or TokenProvider(
        settings.endpoints,
        settings.credential,
        verify=settings.verify,
        timeout=settings.connect_timeout,
    )
    try:
        _send_with(
            tokens, file, settings, checkpoint, summary, observer, stop, total_chunks, sendable
        )
    finally:
        if shared is None:
            tokens.close()


def _send_with(
    tokens: TokenProvider,
    file: Path,
    settings: UploadSettings,
    checkpoint: Checkpoint,
    summary: UploadSummary,
    observer: UploadObserver,
    stop: threading.Event,
    total_chunks: int,
    sendable: int,
) -> None:
    after = 0 if settings.dry_run else checkpoint.through_record
    done = 0 if settings.dry_run else int(checkpoint.data["acknowledged_records"])
    chunks = iter_chunks(
        file,
        scenario=settings.scenario,
        mapping=settings.mapping,
        options=settings.options,
        records_per_call=settings.records_per_call,
        skip_invalid=settings.skip_invalid,
        after_record=after,
    )
    if settings.dry_run:
        tokens.get()  # authenticate: proves the credential without sending any data
        observer.sending(sendable, total_chunks, 0, 0)
        for chunk in chunks:
            summary.chunks_planned += 1
            observer.sent(chunk.records)
        return
    first_index: int | None = None
    quarantine = (
        Quarantine(settings.quarantine_path or file.with_name(file.stem + ".quarantine.csv"))
        if settings.quarantine
        else None
    )
    with Sender(
        settings.endpoints,
        tokens,
        verify=settings.verify,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        policy=settings.policy,
        stop=stop,
        on_retry=observer.retrying,
    ) as sender:
        observer.sending(sendable, total_chunks, done, checkpoint.chunks_acknowledged)
        ahead = Prefetched(chunks)
        try:
            for chunk in ahead:
                if first_index is None:
                    first_index = chunk.index
                    summary.chunks_skipped_from_checkpoint = chunk.index - 1
                if stop.is_set():
                    raise TransportError("stopped before all chunks were sent; rerun to resume")
                for piece in deliver(sender, chunk, file.stem, quarantine):
                    entry = {
                        "index": chunk.index,
                        "part": piece.chunk.name,
                        "first_record": piece.chunk.first_record,
                        "last_record": piece.chunk.last_record,
                        "records": piece.chunk.records,
                        "sha256": piece.chunk.sha256,
                    }
                    if piece.refused is not None and quarantine is not None:
                        # set aside (synced) before the checkpoint moves past it
                        quarantine.add(piece)
                        summary.quarantined += piece.chunk.records
                        summary.quarantine = quarantine.path
                        entry.update(
                            status=piece.refused.status,
                            quarantined=True,
                            response=piece.refused.body[:2000],
                        )
                        checkpoint.data["quarantined"] = (
                            int(checkpoint.data.get("quarantined", 0)) + piece.chunk.records
                        )
                        checkpoint.data["quarantine_file"] = str(quarantine.path)
                        checkpoint.acknowledge(
                            entry, last_record=piece.chunk.last_record, records=0
                        )
                        continue
                    delivery = piece.delivery
                    assert delivery is not None
                    summary.server_rejected += delivery.rejected
                    entry.update(
                        attempts=delivery.attempts,
                        status=delivery.status,
                        upload_id=delivery.upload_id,
                        response=delivery.body[:2000],
                    )
                    checkpoint.acknowledge(
                        entry,
                        last_record=piece.chunk.last_record,
                        records=piece.chunk.records,
                    )
                summary.chunks_sent += 1
                observer.sent(chunk.records)
        finally:
            ahead.close()
            summary.retries = sender.retries
            summary.token_refreshes = sender.auth.refreshes
    if first_index is None:  # every chunk was already acknowledged
        summary.chunks_skipped_from_checkpoint = total_chunks
