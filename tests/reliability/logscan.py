"""Secrets never in logs: a scanner over every log record of a whole test session.

``tests/conftest.py`` installs :class:`SecretScanner` on the root logger when the session
starts (and raises the levels of hrsignal's, msal's and uvicorn's loggers to DEBUG so
their chattiest paths are exercised), and the log files of processes the tests start (the
service, uploaders) are registered with :func:`watch_file`. At the end of the session every
record and file is checked; a hit fails the session with the offending line.

What counts as a secret: values with hrsignal's greppable prefixes (client secrets ``hrs_``,
admin tokens ``hrsadm_``, dashboard session ids ``hrsess_``), JWTs (bearer tokens and client
assertions: three base64url parts starting ``eyJ``), a ``client_secret=`` form field with a
value, and every exact value registered with :func:`register_secret`.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

PATTERNS = [
    re.compile(r"\bhrs_[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bhrsadm_[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bhrsess_[A-Za-z0-9_-]{16,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    re.compile(r"client_secret=[^&\s]{8,}"),
]
#: Loggers that see requests, tokens and sign-ins: turned up to DEBUG for the whole session.
#: (httpx is left alone: its INFO line is the caller's own URL, and tests of the service's
#: access log read every captured record.)
VERBOSE = ["hrsignal", "msal", "uvicorn", "hrsignal.access"]

_lock = threading.Lock()
_exact: set[str] = set()
_files: list[Path] = []
_hits: list[str] = []
_scanned = {"records": 0, "files": 0, "bytes": 0}


def register_secret(value: str) -> None:
    """Also look for this exact value (a secret a test created)."""
    with _lock:
        _exact.add(value)


def watch_file(path: Path) -> None:
    """Scan this log file at the end of the session."""
    with _lock:
        _files.append(path)


def find_secrets(text: str) -> list[str]:
    """The secret-looking substrings of ``text``."""
    found = [m.group(0) for p in PATTERNS for m in p.finditer(text)]
    with _lock:
        exact = list(_exact)
    found += [v for v in exact if v in text]
    return found


class SecretScanner(logging.Handler):
    """Checks every record reaching the root logger (formatted, with its traceback)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad format string must not break the test being run
            line = str(record.msg)
        with _lock:
            _scanned["records"] += 1
        hits = find_secrets(line)
        if hits:
            with _lock:
                _hits.append(f"log record {record.name}: {line[:300]!r} (found {hits[0][:12]}…)")


_scanner = SecretScanner()


def install() -> None:
    """Attach the scanner to the root logger and turn the verbose loggers up."""
    logging.getLogger().addHandler(_scanner)
    for name in VERBOSE:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)


def finish() -> tuple[list[str], dict[str, int]]:
    """Scan the registered files; return every hit and what was scanned."""
    logging.getLogger().removeHandler(_scanner)
    with _lock:
        files = list(_files)
    for path in files:
        try:
            data = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        _scanned["files"] += 1
        _scanned["bytes"] += len(data)
        for number, line in enumerate(data.splitlines(), 1):
            hits = find_secrets(line)
            if hits:
                _hits.append(f"{path}:{number}: {line[:300]!r} (found {hits[0][:12]}…)")
    return list(_hits), dict(_scanned)


def hits() -> list[str]:
    """Hits found so far in log records (files are scanned at the end)."""
    with _lock:
        return list(_hits)
