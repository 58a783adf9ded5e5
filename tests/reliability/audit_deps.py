"""``pip-audit`` of the project's environment, where "could not audit" is never "clean".

    python -m tests.reliability.audit_deps      (./run test runs it)

pip-audit exits 0 with "No known vulnerabilities found" even when it could not look a single
package up (its vulnerability source unreachable, or a registry mirror without PyPI's
per-version JSON API): that would be a silent pass. Here the outcome is one of

* ``clean``: every dependency audited, none vulnerable (exit 0);
* ``vulnerable``: the packages and their advisories are listed (exit 1);
* ``not audited``: how many packages could not be looked up, and why, in a banner (exit 0 so a
  CI without the vulnerability source still runs the tests, exit 3 when
  ``HRSIGNAL_REQUIRE_AUDIT=1``, which a CI with internet access should set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Outcome:
    """What pip-audit's JSON report says."""

    audited: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    vulnerable: dict[str, list[str]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``vulnerable``, ``not audited`` or ``clean``."""
        if self.vulnerable:
            return "vulnerable"
        if self.skipped or not self.audited:
            return "not audited"
        return "clean"


def classify(report: dict[str, Any]) -> Outcome:
    """Sort pip-audit's ``--format json`` report into audited, skipped and vulnerable."""
    outcome = Outcome()
    for dep in report.get("dependencies", []):
        name = f"{dep.get('name')} {dep.get('version', '')}".strip()
        if "skip_reason" in dep:
            outcome.skipped[name] = str(dep["skip_reason"])
            continue
        outcome.audited.append(name)
        vulns = dep.get("vulns") or []
        if vulns:
            outcome.vulnerable[name] = [
                f"{v.get('id')} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release'})"
                for v in vulns
            ]
    return outcome


def main() -> int:
    """Run pip-audit on this interpreter's environment and print the verdict."""
    audit = Path(sys.executable).with_name("pip-audit")
    done = subprocess.run(
        [str(audit), "--skip-editable", "--progress-spinner", "off", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        outcome = classify(json.loads(done.stdout))
    except ValueError:
        outcome = Outcome(skipped={"(all)": done.stderr.strip()[-500:] or "no report"})
    verdict = outcome.verdict
    if verdict == "clean":
        print(f"pip-audit: clean ({len(outcome.audited)} packages audited)")
        return 0
    if verdict == "vulnerable":
        print(f"pip-audit: VULNERABLE packages ({len(outcome.vulnerable)}):")
        for name, advisories in sorted(outcome.vulnerable.items()):
            print(f"  {name}: {'; '.join(advisories)}")
        return 1
    example = next(iter(outcome.skipped.values()))
    total = len(outcome.audited) + len(outcome.skipped)
    print(
        "pip-audit: NOT AUDITED - the vulnerability source could not be used for "
        f"{len(outcome.skipped)} of {total} packages (e.g. {example}); this is not a clean "
        "result. Run it where PyPI's JSON API is reachable (set HRSIGNAL_REQUIRE_AUDIT=1 "
        "there to make this fatal)."
    )
    return 3 if os.environ.get("HRSIGNAL_REQUIRE_AUDIT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
