"""Policies as data: templates load, and every kind of mistake is reported with its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hrsignal.errors import ConfigError, NotFoundError
from hrsignal.risk.policy import (
    available_policies,
    builtin_policy_files,
    check_policy_file,
    load_policy_file,
    parse_policy,
    select_policies,
)
from tests.risk.conftest import THEFT, template_doc


def test_templates_are_valid_and_follow_the_spec_ranges() -> None:
    """The three templates load, with Purview's default windows for departing users."""
    pols = available_policies()
    assert set(pols) == {THEFT, "data-leaks-risky-users", "security-violations-departing-users"}
    theft = pols[THEFT]
    assert (theft.windows.activation_days, theft.windows.past_activity_days) == (30, 90)
    assert [t.scenario for t in theft.triggers] == ["resignations"]
    leaks = pols["data-leaks-risky-users"]
    assert {t.scenario for t in leaks.triggers} == {
        "performance-improvement-plans",
        "performance-reviews",
        "job-level-changes",
    }
    assert len(builtin_policy_files()) == 3


def _problems(doc: Any) -> list[str]:
    pol, problems = parse_policy(doc, file="p.yaml")
    assert pol is None
    return [f"{p.path}: {p.message}" for p in problems]


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(template_doc())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ["windows", "activation_days"],
            31,
            "windows.activation_days: 31 is out of range; allowed 1-30",
        ),
        (["windows", "activation_days"], 0, "windows.activation_days: 0 is out of range"),
        (
            ["windows", "past_activity_days"],
            181,
            "windows.past_activity_days: 181 is out of range; allowed 0-180",
        ),
        (
            ["windows", "past_activity_days"],
            "ninety",
            "windows.past_activity_days: expected a whole number",
        ),
        (
            ["indicators", 3, "where", "activity"],
            "FileTeleported",
            "indicators[3].where.activity: 'FileTeleported' is not an activity",
        ),
        (
            ["indicators", 3, "where", "colour"],
            "red",
            "indicators[3].where.colour: unknown event field 'colour'",
        ),
        (
            ["indicators", 3, "where", "bytes|around"],
            5,
            "indicators[3].where.bytes|around: unknown operator 'around'",
        ),
        (
            ["indicators", 3, "thresholds"],
            {"low": 9, "medium": 5, "high": 30},
            "indicators[3].thresholds: must satisfy low <= medium <= high",
        ),
        (
            ["indicators", 3, "thresholds"],
            {"low": 1},
            "indicators[3].thresholds: required: low, medium and high",
        ),
        (
            ["indicators", 3, "id"],
            "cloud_download",
            "indicators[3].id: 'cloud_download' is used twice",
        ),
        (
            ["sequences", 0, "steps", 1, "indicators"],
            ["rename", "teleport"],
            "sequences[0].steps[1].indicators: 'teleport' is not an indicator",
        ),
        (["triggers", 0, "scenario"], "birthdays", "triggers[0].scenario: 'birthdays'"),
        (
            ["triggers", 0, "date"],
            "EffectiveDate",
            "triggers[0].date: 'EffectiveDate' is not a date of resignations",
        ),
        (
            ["scoring", "severity"],
            {"medium": 80, "high": 50},
            "scoring.severity: medium must not be above high",
        ),
        (
            ["boosters", "cumulative_exfiltration", "quantile"],
            1.5,
            "boosters.cumulative_exfiltration.quantile: 1.5 must be between 0 and 1",
        ),
        (["colour"], "blue", "colour: unknown key"),
    ],
)
def test_each_mistake_is_reported_at_its_key_path(
    path: list[Any], value: Any, expected: str
) -> None:
    """A wrong value is reported with the key path and what is allowed."""
    assert any(p.startswith(expected) for p in _problems(_with(path, value))), _problems(
        _with(path, value)
    )


def test_all_problems_are_collected_not_just_the_first() -> None:
    """Validation lists every problem in one pass."""
    doc = _with(["windows", "activation_days"], 99)
    doc["indicators"][0]["where"] = {"activity": "Nope"}
    assert len(_problems(doc)) == 2


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported with its line."""
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nindicators: [\n  {id: a\n", encoding="utf-8")
    pol, problems = check_policy_file(path)
    assert pol is None
    assert problems[0].path.startswith("line ")
    assert "not valid YAML" in problems[0].message


def test_loading_a_bad_policy_raises_one_config_error(tmp_path: Path) -> None:
    """load_policy_file raises ConfigError quoting file and key."""
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntriggers: []\nindicators: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_policy_file(path)
    assert f"{path}: triggers: required" in str(info.value)
    assert f"{path}: indicators: required" in str(info.value)


def test_data_dir_policies_override_templates(tmp_path: Path) -> None:
    """A policy in DATA_DIR/policies with a template's name replaces it; new names add."""
    import yaml

    doc = template_doc()
    doc["windows"]["activation_days"] = 7
    (tmp_path / "theft.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    doc["name"] = "my-policy"
    doc["enabled"] = False
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    pols = available_policies(tmp_path)
    assert pols[THEFT].windows.activation_days == 7
    assert "my-policy" in pols
    assert "my-policy" not in [p.name for p in select_policies(pols, None)]  # disabled
    assert select_policies(pols, "my-policy")[0].name == "my-policy"
    with pytest.raises(NotFoundError, match="no policy named 'nope'"):
        select_policies(pols, "nope")


def test_fingerprint_changes_with_thresholds() -> None:
    """A threshold change changes the policy's fingerprint (forcing a full re-run)."""
    base, _ = parse_policy(template_doc(), file="a")
    changed, _ = parse_policy(_with(["indicators", 3, "thresholds", "low"], 4), file="b")
    assert base is not None and changed is not None
    assert base.fingerprint() != changed.fingerprint()
    same, _ = parse_policy(template_doc(), file="c")
    assert same is not None and same.fingerprint() == base.fingerprint()
