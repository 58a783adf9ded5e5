"""HR scenario schemas, loaded from ``schemas.yaml`` (the schemas are data, not code)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from hrsignal.errors import UsageError

FieldType = Literal["upn", "datetime", "text"]

#: The name of the scenario whose rows are routed by an identifier column.
MULTI = "multi"


def fold(name: str) -> str:
    """Fold a column name for matching: case-insensitive, whitespace-insensitive."""
    return re.sub(r"\s+", "", name).casefold()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a scenario: its canonical name, type and constraints."""

    name: str
    type: FieldType
    required: bool = False
    max_length: int | None = None
    aliases: tuple[str, ...] = ()
    window: str | None = None

    def matches(self, column: str) -> bool:
        """True when a CSV column name is this field's name or one of its aliases."""
        folded = fold(column)
        return folded == fold(self.name) or any(folded == fold(a) for a in self.aliases)


@dataclass(frozen=True, slots=True)
class Scenario:
    """An HR scenario: the fields of its records and the rules between them."""

    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    identifier_values: tuple[str, ...] = ()
    primary_date: str | None = None
    reject_file_on_missing_column: bool = False
    not_after: tuple[tuple[str, str], ...] = ()
    field_names: tuple[str, ...] = field(default=())

    def field(self, name: str) -> FieldSpec:
        """The field called ``name`` (canonical)."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def required(self) -> tuple[FieldSpec, ...]:
        """The mandatory fields."""
        return tuple(f for f in self.fields if f.required)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every scenario, plus the identifier column names the ``multi`` scenario recognises."""

    scenarios: dict[str, Scenario]
    identifier_aliases: tuple[str, ...]


def _field(raw: dict[str, Any]) -> FieldSpec:
    return FieldSpec(
        name=raw["name"],
        type=raw["type"],
        required=bool(raw.get("required", False)),
        max_length=raw.get("max_length"),
        aliases=tuple(raw.get("aliases", ())),
        window=raw.get("window"),
    )


@functools.cache
def catalogue() -> Catalogue:
    """Load and cache the scenario catalogue shipped with hrsignal."""
    text = resources.files("hrsignal.scenarios").joinpath("schemas.yaml").read_text("utf-8")
    # libyaml's loader when PyYAML has it: 1 ms instead of 8 on every start of the CLI
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)
    scenarios: dict[str, Scenario] = {}
    for name, body in raw["scenarios"].items():
        fields = tuple(_field(f) for f in body["fields"])
        rules = body.get("rules", [])
        scenarios[name] = Scenario(
            name=name,
            title=body["title"],
            fields=fields,
            identifier_values=tuple(body.get("identifier_values", ())),
            primary_date=body.get("primary_date"),
            reject_file_on_missing_column=bool(body.get("reject_file_on_missing_column")),
            not_after=tuple(tuple(r["not_after"]) for r in rules if "not_after" in r),
            field_names=tuple(f.name for f in fields),
        )
    return Catalogue(
        scenarios=scenarios,
        identifier_aliases=tuple(raw["multi"]["identifier_aliases"]),
    )


def scenario_names() -> list[str]:
    """All scenario names, ``multi`` last."""
    return [*catalogue().scenarios, MULTI]


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; a :class:`UsageError` naming the choices otherwise."""
    try:
        return catalogue().scenarios[name]
    except KeyError:
        choices = ", ".join(scenario_names())
        raise UsageError(f"unknown scenario {name!r}; choose one of: {choices}") from None


def canonical_fields(scenarios: list[str]) -> list[str]:
    """The union of the canonical field names of ``scenarios``, in schema order."""
    seen: dict[str, None] = {}
    for name in scenarios:
        for spec in get_scenario(name).fields:
            seen.setdefault(spec.name, None)
    return list(seen)
