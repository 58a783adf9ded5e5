"""Findings: data problems reported as data, never as exceptions.

A finding names what is wrong, where (1-based data ``record``, header excluded, and the 1-based
physical ``line`` where that record starts), in which column, with the offending value and a
message that says what to try. The codes are stable: the server's upload log, the uploader's
report and ``hrsignal validate --format json`` all use them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Severity(enum.StrEnum):
    """How serious a finding is: an error keeps the row (or file) from being saved."""

    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Stable finding codes."""

    # file level
    EMPTY_FILE = "empty-file"
    NO_RECORDS = "no-records"
    NOT_TEXT = "not-text"
    ENCODING = "encoding"
    WRONG_DELIMITER = "wrong-delimiter"
    MISSING_COLUMN = "missing-column"
    DUPLICATE_COLUMN = "duplicate-column"
    UNKNOWN_COLUMN = "unknown-column"
    TOO_MANY_COLUMNS = "too-many-columns"
    UNTERMINATED_QUOTE = "unterminated-quote"
    TOO_MANY_FINDINGS = "too-many-findings"
    # record level
    FIELD_COUNT = "field-count"
    MISSING_VALUE = "missing-value"
    INVALID_DATE = "invalid-date"
    DATE_WITHOUT_OFFSET = "date-without-offset"
    DATE_ONLY = "date-only"
    DATE_OUT_OF_WINDOW = "date-out-of-window"
    DATE_ORDER = "date-order"
    INVALID_UPN = "invalid-upn"
    TOO_LONG = "too-long"
    UNKNOWN_SCENARIO_VALUE = "unknown-scenario-value"
    DUPLICATE_RECORD = "duplicate-record"
    FORMULA = "formula-like"
    BLANK_LINE = "blank-line"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in an HR file."""

    code: Code
    severity: Severity
    message: str
    record: int | None = None
    line: int | None = None
    column: str | None = None
    value: str | None = None

    @property
    def is_error(self) -> bool:
        """True when this finding keeps data from being saved."""
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: ``{"record","line","column","code","message","value"}``."""
        return {
            "record": self.record,
            "line": self.line,
            "column": self.column,
            "code": str(self.code),
            "message": self.message,
            "value": self.value,
        }

    def location(self) -> str:
        """A short human location such as ``record 14 (line 15), LastWorkingDate``."""
        parts = []
        if self.record is not None:
            where = f"record {self.record}"
            if self.line is not None and self.line != self.record + 1:
                where += f" (line {self.line})"
            parts.append(where)
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(self.column)
        return ", ".join(parts) if parts else "file"


def error(code: Code, message: str, **where: Any) -> Finding:
    """Build an error finding."""
    return Finding(code=code, severity=Severity.ERROR, message=message, **where)


def warning(code: Code, message: str, **where: Any) -> Finding:
    """Build a warning finding."""
    return Finding(code=code, severity=Severity.WARNING, message=message, **where)
