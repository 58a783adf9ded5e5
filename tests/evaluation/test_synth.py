"""The synthetic organisation: deterministic, in the CERT r4.2 layout, with what was planted."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path

from hrsignal.evaluation.prepare import DEFAULT_HEADERS
from hrsignal.evaluation.synth import SynthConfig, SynthResult, generate


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    """The generator is deterministic in its seed."""
    config = SynthConfig(users=40, days=200, benign_leavers=3, http_per_day=3, email_per_day=2)
    a = generate(tmp_path / "a", config)
    b = generate(tmp_path / "b", config)
    c = generate(tmp_path / "c", dataclasses.replace(config, seed=7))
    assert _digest(a.path) == _digest(b.path)
    assert _digest(a.path) != _digest(c.path)
    assert a.rows == b.rows


def test_layout_headers_and_date_format(org: SynthResult) -> None:
    """Each activity file has the r4.2 header and MM/DD/YYYY HH:MM:SS dates (some unpadded)."""
    for table, header in DEFAULT_HEADERS["r4.2"].items():
        with (org.path / f"{table}.csv").open(newline="") as stream:
            rows = csv.reader(stream)
            assert tuple(next(rows)) == header
            first = next(rows)
            assert len(first) == len(header)
            month, day, rest = first[1].split("/")
            assert len(rest.split(" ")[0]) == 4 and int(month) <= 12 and int(day) <= 31
        assert org.rows[table] > 0


def test_leavers_disappear_from_ldap_and_insiders_are_listed(org: SynthResult) -> None:
    """Every leaver is missing from the last snapshot; every insider is a leaver in the answers."""
    snapshots = sorted((org.path / "LDAP").glob("*.csv"))
    last = snapshots[-1].read_text()
    leavers = [org.org.ids[u] for u, d in enumerate(org.org.lwd.tolist()) if d >= 0]
    assert leavers and all(u not in last for u in leavers)
    assert all(u in snapshots[0].read_text() for u in leavers)
    index = (org.path / "answers" / "insiders.csv").read_text()
    scenarios = sorted(i.scenario for i in org.org.insiders)
    assert scenarios == [1, 2, 2, 3]
    for ins in org.org.insiders:
        assert org.org.ids[ins.user] in index and org.org.ids[ins.user] in leavers
