"""Fixtures of the proving ground: a test CA, the figures recorder, a clean environment."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.ca import TestCA as CA
from tests.fakes.ca import make_ca


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HRSIGNAL_* or proxy variable of the developer's shell reaches a test."""
    for name in list(os.environ):
        if name.startswith("HRSIGNAL_") or name.lower() in ("https_proxy", "http_proxy",
                                                              "all_proxy"):  # fmt: skip
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """A test CA and a certificate for 127.0.0.1 (the fault proxy's)."""
    return make_ca(tmp_path_factory.mktemp("reliability-ca"))


class Figures:
    """Rows of RELIABILITY.md, each from a run; written to ``--reliability-figures``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, scenario: str, *, node: str, **values: Any) -> None:
        """Record one scenario's outcome (``sent``, ``stored``, ``lost``, ``duplicated``...)."""
        self.rows.append({"scenario": scenario, "test": node, **values})


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """The session's figures; saved as JSON when ``--reliability-figures FILE`` is given."""
    recorder = Figures()
    yield recorder
    target = request.config.getoption("--reliability-figures")
    if target:
        doc = {"python": sys.version.split()[0], "argv": sys.argv[1:], "rows": recorder.rows}
        Path(target).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
