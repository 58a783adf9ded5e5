"""A rich progress bar for ``hrsignal upload`` on a terminal (records, chunks, rate, ETA)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hrsignal.client.uploader import UploadObserver
from hrsignal.scenarios import ValidationReport


class _RecordsPerSecond(TransferSpeedColumn):
    """The rate in records/s (rich's own column speaks in bytes)."""

    def render(self, task: object) -> str:  # type: ignore[override]
        """The speed of the task as records per second."""
        speed = getattr(task, "finished_speed", None) or getattr(task, "speed", None)
        return f"{speed:,.0f} rec/s" if speed else "- rec/s"


class RichObserver(UploadObserver):
    """Draws the bar on stderr when enabled; silent otherwise (pipes, cron, --format json)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._chunks = 0
        self._total_chunks = 0
        self._console = Console(stderr=True)

    def __enter__(self) -> RichObserver:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("records, chunk {task.fields[chunks]}"),
                _RecordsPerSecond(),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def validated(self, report: ValidationReport) -> None:
        """Say how validation went."""
        if self._progress is not None:
            self._progress.console.print(
                f"validated {report.records:,} records: {report.valid_records:,} valid, "
                f"{report.error_count:,} errors, {report.warning_count:,} warnings"
            )

    def sending(self, records: int, chunks: int, done_records: int, done_chunks: int) -> None:
        """Start the bar at the checkpoint."""
        self._chunks, self._total_chunks = done_chunks, chunks
        if self._progress is not None:
            self._task = self._progress.add_task(
                "uploading",
                total=records,
                completed=done_records,
                chunks=f"{done_chunks}/{chunks}",
            )

    def sent(self, records: int) -> None:
        """Advance by one acknowledged chunk."""
        self._chunks += 1
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                advance=records,
                chunks=f"{self._chunks}/{self._total_chunks}",
            )

    def retrying(self, reason: str, delay: float) -> None:
        """Show a transient failure."""
        if self._progress is not None:
            self._progress.console.print(f"[yellow]{reason}; retrying in {delay:.1f}s")
