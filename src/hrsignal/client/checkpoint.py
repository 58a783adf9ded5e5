"""The durable upload checkpoint and the lock against concurrent runs.

One JSON file per (job ID, SHA-256 of the file's content): renaming, touching or copying the
file keeps its checkpoint, and any change to its bytes starts afresh. The file is replaced
atomically (temp file, fsync, rename, fsync of the directory) and only after the server
acknowledged a chunk with a 2xx, so a crash at any instant leaves either the old or the new
checkpoint, never a torn one. Progress is kept as the last acknowledged *record number*, so a
rerun with another ``--records-per-call`` still resumes at the right record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from hrsignal.errors import ConflictError, InputFileError, StoreError

VERSION = 1


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes, streamed."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(block):
                digest.update(chunk)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise InputFileError(f"{path} is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None
    return digest.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _safe(job_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in job_id)


class Checkpoint:
    """What has been acknowledged for one file content and one job."""

    def __init__(self, state_dir: Path, job_id: str, sha256: str) -> None:
        self.dir = state_dir / "uploads"
        self.path = self.dir / f"{_safe(job_id)}-{sha256}.json"
        self.job_id = job_id
        self.sha256 = sha256
        self.data: dict[str, Any] = {
            "version": VERSION,
            "job_id": job_id,
            "file_sha256": sha256,
            "created_at": _now(),
            "updated_at": _now(),
            "acknowledged_through_record": 0,
            "acknowledged_records": 0,
            "completed": False,
            "chunks": [],
        }

    @classmethod
    def load(cls, state_dir: Path, job_id: str, sha256: str) -> Checkpoint:
        """The checkpoint on disk, or a fresh one."""
        cp = cls(state_dir, job_id, sha256)
        try:
            text = cp.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cp
        except OSError as exc:
            raise StoreError(f"cannot read checkpoint {cp.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            if data.get("version") != VERSION or data.get("file_sha256") != sha256:
                raise ValueError("other version")
        except ValueError:
            raise StoreError(
                f"checkpoint {cp.path} is unreadable",
                hint="move it away to start this file afresh (chunks it recorded would be "
                "sent again)",
            ) from None
        cp.data = data
        return cp

    @property
    def through_record(self) -> int:
        """The last data record number acknowledged (0: none)."""
        return int(self.data["acknowledged_through_record"])

    @property
    def chunks_acknowledged(self) -> int:
        """How many chunks the server acknowledged so far."""
        return len(self.data["chunks"])

    @property
    def completed(self) -> bool:
        """True once every chunk of the file was acknowledged."""
        return bool(self.data["completed"])

    def acknowledge(self, entry: dict[str, Any], *, last_record: int, records: int) -> None:
        """Record an acknowledged chunk and persist it (only ever after a 2xx)."""
        self.data["chunks"].append({**entry, "acknowledged_at": _now()})
        self.data["acknowledged_through_record"] = last_record
        self.data["acknowledged_records"] = int(self.data["acknowledged_records"]) + records
        self.save()

    def complete(self, summary: dict[str, Any]) -> None:
        """Mark the file done."""
        self.data["completed"] = True
        self.data["summary"] = summary
        self.save()

    def reset(self) -> None:
        """Forget progress (``--force``)."""
        fresh = Checkpoint(self.dir.parent, self.job_id, self.sha256)
        self.data = fresh.data

    def save(self) -> None:
        """Write atomically: temp file, fsync, rename, fsync the directory."""
        self.data["updated_at"] = _now()
        write_atomic(self.path, json.dumps(self.data, indent=1).encode())


def write_atomic(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` so a crash leaves the old or the new content."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``path``; refuse when another process has it.

    The operating system releases the lock when the holder dies, so a killed run never leaves
    a stale lock behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fh: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise StoreError(f"cannot create lock file {path}: {exc.strerror}") from None
    try:
        if not _try_lock(fh):
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise ConflictError(
                f"{what} is already being uploaded by {holder}",
                hint="wait for that run to finish; two runs would send the same chunks",
            )
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()


def _try_lock(fh: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
