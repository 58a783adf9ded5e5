"""The whole harness, end to end, on the synthetic organisation through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrsignal.evaluation.synth import SynthResult
from tests.evaluation.conftest import run_cli

METHODS = ["hrsignal", "removable-media rule", "isolation forest"]


def _methods(report: dict[str, Any], notice: str) -> dict[str, dict[str, Any]]:
    return {m["method"]: m for m in report["notice_days"][notice]}


def test_every_metric_is_produced_for_every_notice_period_and_method(
    report: dict[str, Any],
) -> None:
    """Each notice period reports hrsignal and both baselines with every metric of the issue."""
    assert sorted(report["notice_days"]) == ["14", "30", "60"]
    for notice in report["notice_days"]:
        methods = _methods(report, notice)
        assert list(methods) == METHODS
        for m in methods.values():
            for scenario in ("1", "2", "3"):
                assert sorted(m["recall_at"][scenario], key=int) == ["1", "2", "5", "10"]
                for value in m["recall_at"][scenario].values():
                    assert value is None or 0.0 <= value <= 1.0
            assert m["alerts_per_1000_users_per_day"] >= 0
            assert m["benign_leavers"] > 0 and m["other_users"] > 0
            assert set(m["lead_time_days"]) == {"median", "worst", "each"}
            assert m["precision"] is None or 0.0 <= m["precision"] <= 1.0


def test_hrsignal_finds_both_planted_thieves_with_its_policy(
    report: dict[str, Any], org: SynthResult
) -> None:
    """The departing-users policy alerts both planted scenario-2 thieves before they leave."""
    planted = sum(1 for i in org.org.insiders if i.scenario == 2)
    assert report["insiders"]["2"] == planted == 2
    for notice in report["notice_days"]:
        ours = _methods(report, notice)["hrsignal"]
        assert ours["detected"]["2"] == planted
        assert ours["recall_at"]["2"]["10"] == 1.0
        # lead time: the first alert comes on or before the last working day
        assert len(ours["lead_time_days"]["each"]) == planted
        assert ours["lead_time_days"]["worst"] >= 0


def test_metrics_are_consistent_with_each_other(report: dict[str, Any]) -> None:
    """Recall grows with the budget, and recall at a budget never exceeds detection."""
    for notice in report["notice_days"]:
        for m in _methods(report, notice).values():
            for scenario, by_k in m["recall_at"].items():
                values = [by_k[k] for k in sorted(by_k, key=int)]
                assert values == sorted(values)
                total = m["insiders"][scenario]
                if total:
                    assert values[-1] * total <= m["detected"][scenario] + 1e-9
            assert m["alerted_leavers"] <= m["alerts"]
            assert m["benign_alerted"] <= m["benign_leavers"]


def test_hr_input_goes_through_the_connector_path(report: dict[str, Any]) -> None:
    """The derived resignations are validated, ingested by the service and read back."""
    assert "connector service ingestion" in report["hr_route"]
    assert "current_hr_records" in report["hr_route"]


def test_each_planted_quirk_is_met_with_a_note(report: dict[str, Any]) -> None:
    """Mixed padding, the malformed start date, ragged answers and CRLF/LF mixes are noted."""
    kinds = {n["quirk"] for n in report["notes"]}
    assert {
        "mixed_date_padding",
        "malformed_date",
        "ragged_answer_files",
        "mixed_line_endings",
        "crlf_line_endings",
        "filtered_early",
    } <= kinds
    # the quirks cost nothing: every record of the slim copy was imported
    assert report["import"]["rejected_total"] == 0
    assert report["import"]["stored"] == sum(report["rows"]["kept"].values())


def test_text_report_shows_the_comparison_and_the_reference(org: SynthResult) -> None:
    """The text report has one table per notice period with the three methods, and the notes;
    without a terminal nothing is written to stderr."""
    done = run_cli("eval", "cert", str(org.path), "--release", "r4.2", "--notice-days", "30")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "notice period 30 days" in out
    for method in METHODS:
        assert method in out
    assert "Bertrand et al. 2022" in out
    assert "[malformed_date]" in out
    assert done.stderr == ""  # progress is shown on a terminal only, never in a pipe


def test_bad_options_and_missing_answers_get_a_clean_error(
    org: SynthResult, tmp_path: Path
) -> None:
    """A bad option or a folder without answers exits 2 with a message, never a traceback."""
    bad = run_cli("eval", "cert", str(org.path), "--release", "r4.2", "--notice-days", "x")
    assert bad.returncode == 2
    assert "--notice-days" in bad.stderr and "Traceback" not in bad.stderr
    empty = run_cli("eval", "cert", str(tmp_path), "--release", "r4.2")
    assert empty.returncode == 2
    assert "insiders.csv" in empty.stderr and "Traceback" not in empty.stderr


def test_r52_layout_is_read_with_its_extra_columns(tmp_path: Path) -> None:
    """An r5.2-layout release (file activities, listed attachments, file trees) imports with no
    rejected record, and both the policy and the rule find the planted thieves' USB copies."""
    import json

    from hrsignal.evaluation.synth import SynthConfig, generate

    config = SynthConfig(
        users=80, days=210, benign_leavers=6, http_per_day=5, email_per_day=3, layout="r5.2"
    )
    org = generate(tmp_path / "r5.2", config)
    done = run_cli(
        "eval", "cert", str(org.path), "--release", "r5.2", "--notice-days", "30",
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["import"]["rejected_total"] == 0
    methods = _methods(report, "30")
    assert methods["hrsignal"]["detected"]["2"] == 2
    assert methods["removable-media rule"]["detected"]["2"] == 2
    assert "other_releases" in {n["quirk"] for n in report["notes"]}


def test_a_release_where_nobody_leaves_is_rejected_clearly(tmp_path: Path) -> None:
    """Without any leaver (or with answers of another release) there is nothing to score: exit 1
    with the reason, and the working copy is removed."""
    from tests.evaluation.test_quirks import _release

    logon = b"id,date,user,pc,activity\n{A1},01/04/2010 08:03:00,ADL0001,PC-1,Logon\n"
    root = _release(tmp_path / "r", logon)
    (root / "answers").mkdir()
    (root / "answers" / "insiders.csv").write_text(
        "dataset,scenario,details,user,start,end\n"
        "4.2,2,r4.2-2-ADL0001.csv,ADL0001,01/04/2010 08:00:00,01/05/2010 08:00:00\n"
    )
    wrong = run_cli("eval", "cert", str(root), "--release", "r5.2")
    assert wrong.returncode == 1 and "no insider of r5.2" in wrong.stderr
    work = tmp_path / "work"
    done = run_cli("eval", "cert", str(root), "--release", "r4.2", "--work-dir", str(work))
    assert done.returncode == 1
    assert "nobody leaves" in done.stderr and "Traceback" not in done.stderr
    assert list(work.iterdir()) == []  # the working copy was removed
