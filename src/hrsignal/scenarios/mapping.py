"""File mappings: which CSV column holds which scenario field (Purview's "file mapping").

A mapping is what the Purview wizard stores for a connector: for each scenario, field ->
column name, and for a file with several scenarios the identifier column (``HRScenario``) and
the value that routes a row to each scenario. :func:`propose_mapping` builds one from a header,
as the wizard's "Upload a sample file" does; :func:`load_mapping` reads one from YAML or JSON::

    identifier_column: HRScenario          # only when the file holds several scenarios
    scenarios:
      resignations:
        identifier_value: Resignation
        columns: {EmailAddress: UPN, ResignationDate: ResignationDate, LastWorkingDate: LWD}

Matching rules (written down in docs/validation.md): a proposed mapping matches header names
case- and whitespace-insensitively against each field's name and aliases; an explicit mapping
matches case-insensitively, and spaces must match, as Microsoft documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hrsignal.errors import ConfigError, InputFileError
from hrsignal.scenarios.findings import Code, Finding, error, warning
from hrsignal.scenarios.schema import MULTI, catalogue, fold, get_scenario


@dataclass(slots=True)
class FileMapping:
    """Field -> column for each scenario, plus the identifier column for several scenarios."""

    scenarios: dict[str, dict[str, str]]
    identifier_column: str | None = None
    identifier_values: dict[str, list[str]] = field(default_factory=dict)
    #: True when built from aliases (matching is then whitespace-insensitive too).
    proposed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The mapping document (the format :func:`load_mapping` reads)."""
        out: dict[str, Any] = {}
        if self.identifier_column:
            out["identifier_column"] = self.identifier_column
        scen: dict[str, Any] = {}
        for name, columns in self.scenarios.items():
            body: dict[str, Any] = {"columns": dict(columns)}
            values = self.identifier_values.get(name)
            if self.identifier_column and values:
                body["identifier_value"] = values[0] if len(values) == 1 else list(values)
            scen[name] = body
        out["scenarios"] = scen
        return out

    @property
    def is_multi(self) -> bool:
        """True when rows are routed by an identifier column."""
        return self.identifier_column is not None


def load_mapping(path: str | Path) -> FileMapping:
    """Read a mapping file (YAML or JSON); a :class:`ConfigError` says what is wrong."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise InputFileError(f"cannot read mapping file {p}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"mapping file {p} is not valid YAML/JSON: {exc}") from None
    return mapping_from_dict(raw, source=str(p))


def mapping_from_dict(raw: Any, *, source: str = "mapping") -> FileMapping:
    """Build a :class:`FileMapping` from its document form, checking every part."""
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), dict):
        raise ConfigError(
            f"{source}: expected a 'scenarios' table, e.g. "
            "scenarios: {resignations: {columns: {EmailAddress: UPN, ...}}}"
        )
    ident = raw.get("identifier_column")
    if ident is not None and not isinstance(ident, str):
        raise ConfigError(f"{source}: identifier_column must be a column name")
    scenarios: dict[str, dict[str, str]] = {}
    values: dict[str, list[str]] = {}
    for name, body in raw["scenarios"].items():
        if name not in catalogue().scenarios:
            choices = ", ".join(catalogue().scenarios)
            raise ConfigError(f"{source}: unknown scenario {name!r}; choose from {choices}")
        spec = get_scenario(name)
        columns = (body or {}).get("columns", {})
        if not isinstance(columns, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
        ):
            raise ConfigError(f"{source}: scenarios.{name}.columns must map field -> column")
        for fname in columns:
            if fname not in spec.field_names:
                raise ConfigError(
                    f"{source}: scenario {name} has no field {fname!r}; "
                    f"its fields are {', '.join(spec.field_names)}"
                )
        scenarios[name] = dict(columns)
        value = (body or {}).get("identifier_value")
        if ident is not None:
            if value is None:
                raise ConfigError(
                    f"{source}: scenarios.{name}.identifier_value is required "
                    f"when identifier_column is set"
                )
            values[name] = [value] if isinstance(value, str) else [str(v) for v in value]
    if len(scenarios) > 1 and ident is None:
        raise ConfigError(
            f"{source}: several scenarios need an identifier_column (such as HRScenario) "
            "and an identifier_value for each scenario"
        )
    return FileMapping(scenarios=scenarios, identifier_column=ident, identifier_values=values)


def _find_column(header: list[str], names: list[str]) -> str | None:
    wanted = {fold(n) for n in names}
    for column in header:
        if fold(column) in wanted:
            return column
    return None


def propose_mapping(header: list[str], scenario: str) -> FileMapping:
    """Propose a mapping from a header, as Purview's "Upload a sample file" step does.

    For a single scenario every field is looked up by name and aliases. For ``multi`` the
    identifier column is found by its usual names, and every scenario whose required columns
    are present is included with its default identifier values.
    """
    cat = catalogue()
    if scenario != MULTI:
        spec = get_scenario(scenario)
        columns: dict[str, str] = {}
        for f in spec.fields:
            col = _find_column(header, [f.name, *f.aliases])
            if col is not None:
                columns[f.name] = col
        return FileMapping(scenarios={scenario: columns}, proposed=True)
    ident = _find_column(header, list(cat.identifier_aliases))
    scenarios: dict[str, dict[str, str]] = {}
    values: dict[str, list[str]] = {}
    for name, spec in cat.scenarios.items():
        columns = {}
        for f in spec.fields:
            col = _find_column(header, [f.name, *f.aliases])
            if col is not None:
                columns[f.name] = col
        if all(f.name in columns for f in spec.required):
            scenarios[name] = columns
            values[name] = list(spec.identifier_values)
    return FileMapping(
        scenarios=scenarios,
        identifier_column=ident or cat.identifier_aliases[0],
        identifier_values=values,
        proposed=True,
    )


@dataclass(slots=True)
class ResolvedScenario:
    """One scenario's fields resolved to column positions in a header."""

    name: str
    columns: dict[str, int]  # canonical field -> index in the header
    missing: list[str]  # required fields with no column
    values: list[str]  # identifier values routing rows here (multi only)


@dataclass(slots=True)
class ResolvedMapping:
    """A mapping applied to a concrete header."""

    header: list[str]
    scenarios: list[ResolvedScenario]
    identifier_index: int | None
    findings: list[Finding]
    reject_file: bool


def resolve_mapping(header: list[str], mapping: FileMapping) -> ResolvedMapping:
    """Place every mapped column in ``header``; report missing, duplicate and unknown columns."""
    findings: list[Finding] = []
    key = fold if mapping.proposed else str.casefold
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(key(name), []).append(i)
    used: set[int] = set()

    def locate(column: str, what: str) -> int | None:
        hits = positions.get(key(column), [])
        if len(hits) > 1:
            findings.append(
                error(
                    Code.DUPLICATE_COLUMN,
                    f"column {column!r} appears {len(hits)} times in the header (positions "
                    f"{', '.join(str(h + 1) for h in hits)}); rename or remove the copies so "
                    f"{what} is unambiguous",
                    line=1,
                    column=column,
                )
            )
            return None
        return hits[0] if hits else None

    ident_index: int | None = None
    if mapping.identifier_column is not None:
        ident_index = locate(mapping.identifier_column, "the scenario identifier")
        if ident_index is None and not any(f.code == Code.DUPLICATE_COLUMN for f in findings):
            findings.append(
                error(
                    Code.MISSING_COLUMN,
                    f"the scenario identifier column {mapping.identifier_column!r} is not in "
                    f"the header; add it (values such as 'Resignation') or validate with "
                    f"--scenario NAME for a single-scenario file",
                    line=1,
                    column=mapping.identifier_column,
                )
            )
        else:
            used.add(ident_index) if ident_index is not None else None
    resolved: list[ResolvedScenario] = []
    reject_file = False
    for name, columns in mapping.scenarios.items():
        spec = get_scenario(name)
        placed: dict[str, int] = {}
        missing: list[str] = []
        for f in spec.fields:
            column = columns.get(f.name)
            idx = locate(column, f.name) if column is not None else None
            if idx is None:
                if f.required:
                    missing.append(f.name)
                continue
            placed[f.name] = idx
            used.add(idx)
        for fname in missing:
            tried = columns.get(fname) or " / ".join([fname, *spec.field(fname).aliases])
            consequence = (
                "the whole file is rejected (Microsoft: a missing mandatory column means "
                "none of the file is imported)"
                if spec.reject_file_on_missing_column
                else f"no {spec.title.lower()} record can be saved"
            )
            findings.append(
                error(
                    Code.MISSING_COLUMN,
                    f"required column for {fname} ({spec.title}) not found; looked for "
                    f"{tried}; {consequence}. Rename the column or pass --mapping FILE",
                    line=1,
                    column=fname,
                )
            )
        if missing and spec.reject_file_on_missing_column:
            reject_file = True
        resolved.append(
            ResolvedScenario(
                name=name,
                columns=placed,
                missing=missing,
                values=mapping.identifier_values.get(name, []),
            )
        )
    for i, name in enumerate(header):
        if i not in used and name.strip() and len(positions.get(key(name), [])) == 1:
            findings.append(
                warning(
                    Code.UNKNOWN_COLUMN,
                    f"column {name!r} is not mapped to any field and will be ignored",
                    line=1,
                    column=name,
                )
            )
    if mapping.identifier_column is None and len(resolved) == 1 and resolved[0].missing:
        reject_file = True
    return ResolvedMapping(
        header=header,
        scenarios=resolved,
        identifier_index=ident_index,
        findings=findings,
        reject_file=reject_file,
    )
