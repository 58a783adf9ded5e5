"""A policy file being edited (half-written, invalid) in DATA_DIR/policies is reported for that
file; every other policy keeps working, and the policy it names is withheld, not replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hrsignal.errors import ConfigError
from hrsignal.risk.policy import find_policies
from tests.risk.conftest import EXAMPLES, THEFT, template_doc
from tests.risk.test_cli import hrs

HALF_WRITTEN = "name: my-usb-watch\ntitle: USB watch\nindicators:\n  - id: usb\n    where: [\n"


def _policies_dir(data: Path) -> Path:
    folder = data / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_half_written_file_is_a_finding_not_a_failure(tmp_path: Path) -> None:
    """Unparseable YAML is reported with its file, line and intended name; the templates and
    a valid custom policy still load."""
    folder = _policies_dir(tmp_path)
    (folder / "usb.yaml").write_text(HALF_WRITTEN, encoding="utf-8")
    doc = template_doc()
    doc["name"] = "mine"
    (folder / "mine.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    catalogue = find_policies(folder)
    assert THEFT in catalogue.policies and "mine" in catalogue.policies
    [bad] = catalogue.broken
    assert (bad.file, bad.name) == (str(folder / "usb.yaml"), "my-usb-watch")
    assert bad.problems[0].path.startswith("line ")
    assert "not valid YAML" in bad.problems[0].message


def test_a_broken_override_withholds_the_template(tmp_path: Path) -> None:
    """An invalid file that overrides a template (by its name: value) hides the template too:
    the run must not fall back to the settings the file replaces. Selecting it by name is a
    ConfigError quoting the problem; selecting all leaves it out."""
    folder = _policies_dir(tmp_path)
    doc = template_doc()
    doc["windows"]["activation_days"] = 99
    (folder / "theft.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    catalogue = find_policies(folder)
    assert THEFT not in catalogue.policies
    assert [b.name for b in catalogue.broken] == [THEFT]
    with pytest.raises(ConfigError, match=r"99 is out of range") as info:
        catalogue.select(THEFT)
    assert str(folder / "theft.yaml") in str(info.value)
    assert THEFT not in {p.name for p in catalogue.select(None)}
    assert len(catalogue.select(None)) == len(find_policies().select(None)) - 1


def test_unreadable_yaml_without_a_name_line_uses_the_file_stem(tmp_path: Path) -> None:
    """With no readable name: line, the broken file stands for the policy named like the file."""
    folder = _policies_dir(tmp_path)
    (folder / "data-leaks-risky-users.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    [bad] = find_policies(folder).broken
    assert bad.name == "data-leaks-risky-users"


def test_cli_lists_validates_and_runs_around_a_broken_file(tmp_path: Path) -> None:
    """list shows the file as INVALID with a warning; validate (no FILES) names it and exits 1;
    run skips it with a warning and runs the rest (exit 0, JSON lists the skipped policy);
    run --policy naming it is refused with exit 2; show of a valid policy still works."""
    data = tmp_path / "risk"
    folder = _policies_dir(data)
    broken = folder / "usb.yaml"
    broken.write_text(HALF_WRITTEN, encoding="utf-8")

    r = hrs(data, "policies", "list")
    assert r.returncode == 0, r.stderr
    assert THEFT in r.stdout
    assert "my-usb-watch" in r.stdout and "INVALID" in r.stdout
    assert f"warning: policy 'my-usb-watch' invalid, it does not run: {broken}: line" in r.stderr

    r = hrs(data, "policies", "validate")
    assert r.returncode == 1
    assert f"{broken}: line 6, column 1: not valid YAML: expected the node content" in r.stdout
    assert "ok (data-theft-departing-users, 15 indicators)" in r.stdout
    assert "1 of 4 policy file(s) have problems" in r.stderr

    assert hrs(data, "policies", "show", THEFT).returncode == 0

    r = hrs(data, "run", "--hr", str(EXAMPLES / "hr-resignations.csv"), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert f"warning: policy 'my-usb-watch' skipped: {broken}: line" in r.stderr
    out = json.loads(r.stdout)
    assert THEFT in {run["policy"] for run in out["runs"]}
    assert [s["name"] for s in out["skipped_policies"]] == ["my-usb-watch"]

    r = hrs(data, "run", "--policy", "my-usb-watch")
    assert r.returncode == 2
    assert f"policy 'my-usb-watch' cannot run, {broken} is invalid" in r.stderr
    assert "Traceback" not in r.stderr

    r = hrs(data, "run", "--policy", THEFT)
    assert r.returncode == 0, r.stderr
    assert "skipped" not in r.stderr
