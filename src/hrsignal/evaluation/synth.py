"""A synthetic organisation in the CERT r4.2 (or r5.2) layout, written for this project.

The CERT data may not be redistributed, so the tests and the benchmark run on this instead:
``logon.csv``, ``device.csv``, ``file.csv``, ``email.csv``, ``http.csv`` (r4.2 columns, dates
``MM/DD/YYYY HH:MM:SS``), monthly ``LDAP/YYYY-MM.csv`` snapshots from which leavers disappear,
and ``answers/insiders.csv`` with one ``answers/r4.2-<scenario>/`` folder per scenario.

Planted: two scenario-2 thieves (job hunting, then removable-media copies at rates far above their
own, then they leave), one scenario-1 insider (after-hours logons, thumb drive, uploads to
wikileaks.org, leaves days later), one scenario-3 system administrator (keylogger, logs on as the
supervisor, mass e-mail, leaves). Benign leavers job-hunt and copy a few files too, so the task
is not trivial. The dataset's quirks are reproduced on purpose: mixed date padding, a malformed
start date in ``insiders.csv``, ragged answer files, and CRLF/LF mixes.

Everything follows from :class:`SynthConfig` (``seed`` included): the same config writes the
same bytes. Bulk columns are built per day with numpy and written with Arrow, so an r4.2-sized
organisation (about 32 million rows) is written in minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrsignal.evaluation.synth_plan import Org, plan_org
from hrsignal.evaluation.synth_write import write_org

RELEASE_START = dt.date(2010, 1, 2)


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """Size and behaviour of the synthetic organisation (defaults: a CI-sized one)."""

    users: int = 300
    days: int = 240
    benign_leavers: int = 14
    http_per_day: float = 12.0  # web visits per user per working day (r4.2: about 80)
    email_per_day: float = 5.0  # e-mails sent per user per working day (r4.2: about 7)
    content_words: int = 4  # words in each content column (r4.2 http: about 60)
    seed: int = 20100102
    start: dt.date = RELEASE_START
    quirks: bool = True
    layout: str = "r4.2"  # or "r5.2" (its extra columns; same behaviour)


@dataclass(slots=True)
class SynthResult:
    """What was written: the folder, the planted answers, and the row count of each file."""

    path: Path
    org: Org
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        """Rows over the five activity files."""
        return sum(self.rows.values())


def generate(path: Path, config: SynthConfig | None = None) -> SynthResult:
    """Write a synthetic CERT-layout organisation into ``path`` (created; must be empty)."""
    config = config or SynthConfig()
    if config.layout not in ("r4.2", "r5.2"):
        raise ValueError(f"unknown layout {config.layout!r}; expected r4.2 or r5.2")
    if config.users < 40 or config.days < 200:
        raise ValueError("a synthetic organisation needs at least 40 users and 200 days")
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    org = plan_org(config, rng)
    rows = write_org(path, org, config, rng)
    return SynthResult(path=path, org=org, rows=rows)
