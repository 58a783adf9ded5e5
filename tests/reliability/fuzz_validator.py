"""Coverage-guided fuzzing of the validator with atheris (libFuzzer), run as its own process.

    python tests/reliability/fuzz_validator.py -max_total_time=60 [-dict=...] [corpus dir]

Each input is an HR file's bytes, validated once as resignations (the schema detected from
the header) and once as multi-scenario, tab- and pipe-separated, UTF-16 and UTF-8. An
:class:`~hrsignal.errors.HrsignalError` is an answer (the file was refused); any other
exception is a crash, which libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import io
import sys

import atheris

with atheris.instrument_imports(include=["hrsignal"]):
    from hrsignal.errors import HrsignalError
    from hrsignal.scenarios import DateWindow, ValidationOptions, validate

_OPTIONS = [
    (None, ValidationOptions()),
    ("multi", ValidationOptions(date_window=None)),
    ("resignations", ValidationOptions(delimiter="\t", date_window=DateWindow())),
    ("employee-profile", ValidationOptions(delimiter="|")),
]


def test_one_input(data: bytes) -> None:
    """Validate ``data``; only hrsignal's own errors may escape."""
    if not data:
        return
    scenario, options = _OPTIONS[data[0] % len(_OPTIONS)]
    try:
        report = validate(io.BytesIO(data[1:]), scenario=scenario, options=options, name="f.csv")
    except HrsignalError:
        return
    if report.valid_records > report.records or report.records < 0:
        raise AssertionError(f"inconsistent counts: {report.records} {report.valid_records}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
