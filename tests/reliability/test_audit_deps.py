"""The dependency audit's verdicts: "could not audit" is never reported as clean."""

from __future__ import annotations

from tests.reliability.audit_deps import classify


def test_every_package_skipped_is_not_audited() -> None:
    """pip-audit's report when its source is unreachable (what it prints as 'No known
    vulnerabilities found' with exit 0) is 'not audited'."""
    reason = "Dependency not found on PyPI and could not be audited"
    report = {
        "dependencies": [
            {"name": "httpx", "skip_reason": reason},
            {"name": "jinja2", "skip_reason": reason},
        ],
        "fixes": [],
    }
    outcome = classify(report)
    assert outcome.verdict == "not audited"
    assert len(outcome.skipped) == 2


def test_one_skipped_package_is_enough_to_withhold_clean() -> None:
    """Audited packages beside one that could not be looked up: still not clean."""
    report = {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {"name": "private-pkg", "skip_reason": "not on PyPI"},
        ]
    }
    assert classify(report).verdict == "not audited"


def test_vulnerabilities_are_listed_with_their_fixes() -> None:
    """A vulnerable package is named with the advisory and the fixed versions."""
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [
                {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        ]
    }  # fmt: skip
    outcome = classify(report)
    assert outcome.verdict == "vulnerable"
    assert outcome.vulnerable == {"jinja2 3.1.2": ["GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"]}


def test_everything_audited_and_nothing_found_is_clean() -> None:
    """Only a report where every package was looked up and none is vulnerable is clean."""
    report = {"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}]}
    assert classify(report).verdict == "clean"
    assert classify({"dependencies": []}).verdict == "not audited"
