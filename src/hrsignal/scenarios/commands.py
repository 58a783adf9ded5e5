"""CLI: ``hrsignal validate``, ``hrsignal normalize`` and ``hrsignal scenarios``.

Exit codes: 0 no errors (warnings allowed), 1 errors found (data rejected), 2 usage error or
a file that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import click

from hrsignal.errors import HrsignalError, UsageError
from hrsignal.scenarios.findings import Finding
from hrsignal.scenarios.mapping import FileMapping, load_mapping
from hrsignal.scenarios.normalize import normalize_file
from hrsignal.scenarios.schema import catalogue, get_scenario, scenario_names
from hrsignal.scenarios.validator import (
    DateWindow,
    ValidationOptions,
    ValidationReport,
    validate,
)


def parse_now(value: str | None) -> dt.datetime | None:
    """Parse ``--now`` (an ISO 8601 date or date-time; UTC when no offset is given)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--now {value!r} is not an ISO 8601 date-time; e.g. 2026-11-25T00:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def validation_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that reads an HR file shares."""
    options = [
        click.option(
            "--scenario",
            type=click.Choice(scenario_names()),
            default=None,
            help="HR scenario of the file (default: detected from the header).",
        ),
        click.option(
            "--mapping",
            "mapping_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="File mapping (YAML/JSON): scenario field -> column.",
        ),
        click.option(
            "--now",
            default=None,
            help="Reference time of the date window (ISO 8601; default: now, UTC).",
        ),
        click.option(
            "--delimiter",
            default=",",
            show_default=True,
            help="Field delimiter: comma, tab, pipe (or ';').",
        ),
        click.option(
            "--encoding",
            default=None,
            help="Text encoding (default: UTF-8, or UTF-16 by its byte-order mark).",
        ),
        click.option(
            "--date-window",
            default="183:365",
            show_default=True,
            help="LastWorkingDate window in days PAST:FUTURE around --now, "
            "':warning' to only warn, or 'off'.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_options(
    *,
    now: str | None,
    delimiter: str,
    encoding: str | None,
    date_window: str,
    max_findings: int = 1000,
) -> ValidationOptions:
    """Turn CLI option values into :class:`ValidationOptions`."""
    return ValidationOptions(
        now=parse_now(now),
        delimiter=delimiter,
        encoding=encoding,
        max_findings=max_findings,
        date_window=DateWindow.parse(date_window),
    )


def load_optional_mapping(path: str | None) -> FileMapping | None:
    """Load ``--mapping`` when given."""
    return load_mapping(path) if path else None


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@validation_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--max-findings",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Findings listed per file (counts stay exact).",
)
def validate_command(
    files: tuple[str, ...],
    scenario: str | None,
    mapping_path: str | None,
    now: str | None,
    delimiter: str,
    encoding: str | None,
    date_window: str,
    fmt: str,
    max_findings: int,
) -> None:
    """Check HR CSV files against the scenario schemas; list every problem found."""
    try:
        options = build_options(
            now=now,
            delimiter=delimiter,
            encoding=encoding,
            date_window=date_window,
            max_findings=max_findings,
        )
        mapping = load_optional_mapping(mapping_path)
    except HrsignalError as exc:
        raise click.exceptions.Exit(_fail(exc)) from None
    reports: list[ValidationReport] = []
    worst = 0
    for path in files:
        try:
            report = validate(path, scenario=scenario, mapping=mapping, options=options)
        except HrsignalError as exc:
            worst = max(worst, _fail(exc))
            continue
        reports.append(report)
        if not report.ok:
            worst = max(worst, 1)
        if fmt == "text":
            print_report(report)
    if fmt == "json":
        docs = [r.to_dict() for r in reports]
        click.echo(json.dumps(docs[0] if len(files) == 1 and docs else docs, indent=2))
    raise click.exceptions.Exit(worst)


def _fail(exc: HrsignalError) -> int:
    click.echo(f"error: {exc}", err=True)
    return exc.exit_code


def print_report(report: ValidationReport) -> None:
    """Human output: a summary line, then findings grouped by code, errors first."""
    color = sys.stdout.isatty()

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    verdict = (
        style("rejected", fg="red", bold=True)
        if report.file_rejected
        else style("ok", fg="green", bold=True)
        if report.ok
        else style("errors", fg="red", bold=True)
    )
    click.echo(
        f"{report.file}: {verdict} - {report.scenario}, {report.records:,} records, "
        f"{report.valid_records:,} valid; {report.error_count:,} errors, "
        f"{report.warning_count:,} warnings"
        + (f" ({report.encoding})" if report.encoding and report.encoding != "UTF-8" else "")
    )
    for findings, mark, colour in ((report.errors, "x", "red"), (report.warnings, "!", "yellow")):
        groups: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            groups[str(f.code)].append(f)
        for code, items in groups.items():
            total = report.counts.get(code, len(items))
            click.echo(
                f"  {style(mark, fg=colour, bold=True)} {style(code, fg=colour)} ({total:,})"
            )
            for f in items:
                click.echo(f"      {f.location()}: {f.message}")
            if total > len(items):
                click.echo(f"      ... and {total - len(items):,} more")
    if report.truncated:
        click.echo("  (more findings than --max-findings; counts above are complete)")


@click.command("normalize")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the clean file.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write rejected records (default: OUTPUT.rejects.csv).",
)
@validation_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def normalize_command(
    file: str,
    output: str,
    rejects: str | None,
    scenario: str | None,
    mapping_path: str | None,
    now: str | None,
    delimiter: str,
    encoding: str | None,
    date_window: str,
    fmt: str,
) -> None:
    """Write the valid records as clean UTF-8 CSV (canonical names, ISO 8601 UTC dates)."""
    try:
        options = build_options(
            now=now, delimiter=delimiter, encoding=encoding, date_window=date_window
        )
        result = normalize_file(
            file,
            output,
            rejects=rejects,
            scenario=scenario,
            mapping=load_optional_mapping(mapping_path),
            options=options,
        )
    except HrsignalError as exc:
        raise click.exceptions.Exit(_fail(exc)) from None
    report = result.report
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    **report.to_dict(),
                    "output": str(result.output) if result.output else None,
                    "rejects": str(result.rejects) if result.rejects else None,
                    "written": result.written,
                    "rejected": result.rejected,
                    "duplicates_dropped": result.duplicates_dropped,
                },
                indent=2,
            )
        )
    else:
        print_report(report)
        if result.output is None:
            click.echo("nothing written: the file is rejected as a whole")
        else:
            click.echo(
                f"wrote {result.written:,} records to {result.output}"
                + (
                    f"; {result.rejected:,} rejected records to {result.rejects}"
                    if result.rejects
                    else ""
                )
                + (
                    f"; dropped {result.duplicates_dropped:,} exact duplicates"
                    if result.duplicates_dropped
                    else ""
                )
            )
    raise click.exceptions.Exit(0 if report.ok else 1)


@click.group("scenarios")
def scenarios_group() -> None:
    """List the HR scenarios and their columns."""


@scenarios_group.command("list")
def scenarios_list() -> None:
    """Every scenario, with its title and required columns."""
    for name, spec in catalogue().scenarios.items():
        required = ", ".join(f.name for f in spec.required)
        click.echo(f"{name:32} {spec.title} (required: {required})")
    click.echo(f"{'multi':32} one file, an identifier column (HRScenario) routes each row")


@scenarios_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def scenarios_show(name: str, fmt: str) -> None:
    """The columns of one scenario: type, required, limits, accepted names."""
    try:
        spec = get_scenario(name)
    except HrsignalError as exc:
        raise click.exceptions.Exit(_fail(exc)) from None
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "name": spec.name,
                    "title": spec.title,
                    "identifier_values": list(spec.identifier_values),
                    "fields": [
                        {
                            "name": f.name,
                            "type": f.type,
                            "required": f.required,
                            "max_length": f.max_length,
                            "aliases": list(f.aliases),
                        }
                        for f in spec.fields
                    ],
                },
                indent=2,
            )
        )
        return
    click.echo(f"{spec.name}: {spec.title}")
    for f in spec.fields:
        limit = f" max {f.max_length}" if f.max_length else ""
        need = "required" if f.required else "optional"
        click.echo(f"  {f.name:24} {f.type:9} {need}{limit}; also: {', '.join(f.aliases)}")
    if spec.reject_file_on_missing_column:
        click.echo("  a missing required column rejects the whole file")
