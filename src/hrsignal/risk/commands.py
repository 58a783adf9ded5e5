"""``hrsignal risk ...``: import activity, manage policies, run them, read alerts and levels.

Each command parses its options, calls one library function and prints the result; errors are
:class:`~hrsignal.errors.HrsignalError` and become a message and an exit code in ``hrsignal.cli``.
Progress goes to stderr, results to stdout (so ``--format json`` output can be piped).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from hrsignal.errors import DataRejectedError, UsageError
from hrsignal.risk.store import RiskStore, StoreSettings, default_data_dir


def _store(ctx: click.Context) -> RiskStore:
    obj: RiskStore = ctx.obj
    return obj


def _progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


@click.group("risk")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HRSIGNAL_RISK_DIR",
    default=None,
    help="Analytics store (default: the user data dir's hrsignal/risk).",
)
@click.option(
    "--memory-limit",
    default="2GB",
    show_default=True,
    help="DuckDB memory limit; larger work spills to disk.",
)
@click.option("--threads", type=int, default=None, help="DuckDB threads (default: all cores).")
@click.pass_context
def risk_group(
    ctx: click.Context, data_dir: Path | None, memory_limit: str, threads: int | None
) -> None:
    """Insider risk: import activity, run HR-triggered policies, explain alerts."""
    ctx.obj = RiskStore(
        data_dir or default_data_dir(), StoreSettings(memory_limit=memory_limit, threads=threads)
    )


# -- import ------------------------------------------------------------------------------------


@risk_group.command("import")
@click.argument("source")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Mapping file (generic source).",
)
@click.option("--force", is_flag=True, help="Import again even if these files were imported.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def import_command(
    ctx: click.Context, source: str, path: Path, mapping: Path | None, force: bool, fmt: str
) -> None:
    """Import activity from PATH. SOURCE: purview-audit, o365-api, defender, cert, generic."""
    from hrsignal.risk.importers import import_activity

    report = import_activity(
        _store(ctx), source, path, mapping=mapping, force=force, progress=_progress
    )
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.skipped_duplicate:
        click.echo(f"{path}: already imported ({report.import_id}); use --force to import again")
    else:
        rate = report.read / report.seconds if report.seconds else 0
        click.echo(
            f"{path}: read {report.read:,} records, stored {report.stored:,} events "
            f"({report.first_day} to {report.last_day}), rejected "
            f"{report.rejected_total:,} [{rate:,.0f} records/s]"
        )
        for reason, n in sorted(report.rejected.items(), key=lambda kv: -kv[1]):
            click.echo(f"  rejected {n:,}: {reason}")
        for ex in report.examples[:3]:
            click.echo(f"  e.g. {ex['reason']}: {str(ex['record'])[:120]}")
    if report.read and not report.stored and not report.skipped_duplicate:
        raise DataRejectedError(f"{path}: no usable event", hint="is SOURCE right?")


@risk_group.command("sources")
def sources_command() -> None:
    """List the activity sources."""
    from hrsignal.risk.importers import SOURCES

    for name, what in SOURCES.items():
        click.echo(f"{name:14} {what}")


# -- policies ----------------------------------------------------------------------------------


@risk_group.group("policies")
def policies_group() -> None:
    """List, show and validate policies (templates and your own YAML)."""


@policies_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def policies_list(ctx: click.Context, fmt: str) -> None:
    """The available policies (built-in templates, and DATA_DIR/policies/*.yaml); invalid
    files are listed as such (they do not run until fixed)."""
    from hrsignal.risk.policy import find_policies

    catalogue = find_policies(_store(ctx).data_dir / "policies")
    pols = catalogue.policies
    if fmt == "json":
        entries: list[dict[str, Any]] = [
            {
                "name": p.name,
                "title": p.title,
                "enabled": p.enabled,
                "valid": True,
                "source": p.source,
                "indicators": len(p.indicators),
            }
            for p in pols.values()
        ]
        entries += [
            {
                "name": b.name,
                "enabled": False,
                "valid": False,
                "source": b.file,
                "problems": [str(p) for p in b.problems],
            }
            for b in catalogue.broken
        ]
        click.echo(json.dumps(entries, indent=2))
        return
    for p in pols.values():
        state = "enabled" if p.enabled else "disabled"
        triggers = ", ".join(t.scenario for t in p.triggers)
        click.echo(f"{p.name:38} {state:8} {len(p.indicators):2} indicators  triggers: {triggers}")
    for b in catalogue.broken:
        click.echo(f"{b.name:38} INVALID  {b.problems[0]}")
    _warn_broken(catalogue.broken)


@policies_group.command("show")
@click.argument("name")
@click.pass_context
def policies_show(ctx: click.Context, name: str) -> None:
    """Print a policy's YAML (copy it to DATA_DIR/policies/ to customise it)."""
    from hrsignal.risk.policy import find_policies

    pol = find_policies(_store(ctx).data_dir / "policies").select(name)[0]
    click.echo(Path(pol.source).read_text(encoding="utf-8"), nl=False)


@policies_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sql", is_flag=True, help="Also print the DuckDB query each policy compiles to.")
@click.pass_context
def policies_validate(ctx: click.Context, files: tuple[Path, ...], sql: bool) -> None:
    """Check policy FILES (default: the installed ones, templates and DATA_DIR/policies/*.yaml);
    list every problem (file, key, what is wrong)."""
    from hrsignal.risk.compiler import PolicyCompiler
    from hrsignal.risk.policy import builtin_policy_files, check_policy_file

    if not files:
        folder = _store(ctx).data_dir / "policies"
        files = tuple(builtin_policy_files())
        files += tuple(sorted(folder.glob("*.yaml"))) if folder.is_dir() else ()
    bad = 0
    for file in files:
        policy, problems = check_policy_file(file)
        if policy is None:
            bad += 1
            for p in problems:
                click.echo(str(p))
        else:
            click.echo(f"{file}: ok ({policy.name}, {len(policy.indicators)} indicators)")
            if sql:
                click.echo(PolicyCompiler(policy).compile())
    if bad:
        raise DataRejectedError(f"{bad} of {len(files)} policy file(s) have problems")


# -- run ---------------------------------------------------------------------------------------


@risk_group.command("run")
@click.option("--policy", "policy_name", help="Run one policy (default: every enabled one).")
@click.option("--since", help="Re-score from this day (YYYY-MM-DD); default: incremental.")
@click.option("--full", is_flag=True, help="Recompute everything.")
@click.option(
    "--hr",
    "hr_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="HR CSV(s) with the triggers (resignations, ...; employee-profile adds "
    "departments), or a Parquet export of the store's HR records (.parquet). Replaces the "
    "stored triggers.",
)
@click.option(
    "--db",
    "db_url",
    envvar="HRSIGNAL_DB",
    default=None,
    help="Read the triggers from the connector service's database instead.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Score with the stored triggers and show the alerts, storing nothing.",
)
@click.option(
    "--policy-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run this policy file instead of the installed policies (e.g. to test thresholds "
    "with --dry-run).",
)
@click.option(
    "--webhook",
    envvar="HRSIGNAL_RISK_WEBHOOK",
    default=None,
    help="POST risk level changes to this URL.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the scoring runs: DuckDB over DATA_DIR/events, or Apache Spark over --events "
    "(needs hrsignal[spark]).",
)
@click.option(
    "--events",
    "events_source",
    default=None,
    help="With --engine spark: Parquet path(s) in the event model (comma-separated; "
    "s3a://, abfss://, ... or DATA_DIR/events) or a catalog table name.",
)
@click.option(
    "--spark-master",
    envvar="HRSIGNAL_SPARK_MASTER",
    default=None,
    help="With --engine spark: the Spark master URL (default: spark-submit's or local[*]).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def run_command(
    ctx: click.Context,
    policy_name: str | None,
    since: str | None,
    full: bool,
    hr_files: tuple[Path, ...],
    db_url: str | None,
    dry_run: bool,
    policy_file: Path | None,
    webhook: str | None,
    engine: str,
    events_source: str | None,
    spark_master: str | None,
    fmt: str,
) -> None:
    """Score in-scope users and update alerts and risk levels."""
    from hrsignal.risk.engine import RunOptions, run_policies
    from hrsignal.risk.hr import as_of, hr_from_db, hr_from_file, save_triggers
    from hrsignal.risk.levels import notify, update_levels
    from hrsignal.risk.policy import BrokenPolicy, find_policies

    store = _store(ctx)
    if engine == "spark" and not events_source:
        raise UsageError(
            "--engine spark needs --events PATH_OR_TABLE",
            hint="e.g. --events s3a://lake/hrsignal/events or --events security.audit_events",
        )
    if engine == "duckdb" and (events_source or spark_master):
        raise UsageError(
            "--events and --spark-master go with --engine spark",
            hint="the DuckDB engine reads the imported events of --data-dir",
        )
    if hr_files and db_url and "HRSIGNAL_DB" not in os.environ:
        raise UsageError("give --hr or --db, not both")
    if dry_run and (hr_files or (db_url and "HRSIGNAL_DB" not in os.environ)):
        raise UsageError(
            "--dry-run uses the stored HR triggers; run once with --hr/--db first",
        )
    skipped: list[BrokenPolicy] = []
    if policy_file is not None:
        from hrsignal.risk.policy import load_policy_file

        policies = [load_policy_file(policy_file)]
    else:
        # A broken policy file named with --policy is refused; otherwise it is skipped with a
        # warning and the other policies run (docs/risk.md, "Policies").
        catalogue = find_policies(store.data_dir / "policies")
        policies = catalogue.select(policy_name)
        skipped = catalogue.broken if policy_name is None else []
        _warn_broken(skipped, running=True)
    notes: list[str] = []
    if hr_files:
        import pyarrow as pa

        tables, dirs, rejected = [], [], 0
        for file in hr_files:
            table, directory, bad = hr_from_file(file)
            tables.append(table)
            rejected += bad
            if directory is not None:
                dirs.append(directory)
        with store.connect() as con:
            n = save_triggers(
                con,
                pa.concat_tables(tables),
                origin="csv",
                directory=pa.concat_tables(dirs) if dirs else None,
            )
        notes.append(
            f"HR triggers: {n} record(s) from {len(hr_files)} file(s)"
            + (f", {rejected} invalid record(s) skipped" if rejected else "")
        )
    elif db_url and not dry_run:
        table = hr_from_db(db_url)
        with store.connect() as con:
            n = save_triggers(con, table, origin="db")
        notes.append(f"HR triggers: {n} record(s) from the connector store")
    options = RunOptions(since=as_of(since), full=full, progress=_progress, dry_run=dry_run)
    last_day = store.max_event_day
    if engine == "spark" and events_source:
        from hrsignal.risk.spark_backend import SparkBackend, spark_session

        backend = SparkBackend(spark_session(spark_master), events_source)
        options.backend, last_day = backend, backend.max_event_day
    summaries = run_policies(store, policies, options)
    if dry_run:
        _print_dry_run(store, summaries, fmt)
        return
    with store.connect() as con:
        changes = update_levels(con, as_of=last_day())
        sent, errors = notify(con, webhook) if webhook else (0, [])
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "notes": notes,
                    "runs": [s.to_dict() for s in summaries],
                    "level_changes": len(changes),
                    "webhook_sent": sent,
                    "webhook_errors": errors,
                    "skipped_policies": [
                        {"name": b.name, "file": b.file, "problems": [str(p) for p in b.problems]}
                        for b in skipped
                    ],
                },
                indent=2,
            )
        )
    else:
        for note in notes:
            click.echo(note)
        for s in summaries:
            click.echo(
                f"{s.policy}: {s.mode}, {s.users_in_scope} user(s) in scope, "
                f"{s.users_scored} scored over {s.first_day or '-'}..{s.last_day or '-'}, "
                f"{s.alerting_days} alerting day(s); alerts: {s.alerts_new} new, "
                f"{s.alerts_updated} updated, {s.alerts_total} total [{s.seconds:.2f}s]"
            )
        click.echo(
            f"risk levels: {len(changes)} change(s)"
            + (f", {sent} sent to the webhook" if webhook else "")
        )
        for e in errors:
            click.echo(f"warning: {e}", err=True)


def _warn_broken(broken: list[Any], *, running: bool = False) -> None:
    """One warning (stderr) per invalid policy file, with its first problem."""
    for b in broken:
        what = "skipped" if running else "invalid, it does not run"
        click.echo(
            f"warning: policy {b.name!r} {what}: {b.problems[0]}"
            + (f" (+{len(b.problems) - 1} more)" if len(b.problems) > 1 else ""),
            err=True,
        )
    if broken:
        click.echo(
            "  hint: fix the file; 'hrsignal risk policies validate' lists every problem",
            err=True,
        )


@risk_group.command("hr-export")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--db",
    "db_url",
    envvar="HRSIGNAL_DB",
    default=None,
    help="The connector service's database.",
)
@click.option(
    "--hr",
    "hr_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="HR CSV(s) instead (validated; employee-profile rows keep their department).",
)
def hr_export_command(output: Path, db_url: str | None, hr_files: tuple[Path, ...]) -> None:
    """Write the HR records as Parquet, for 'risk run --engine spark --hr OUTPUT' on a cluster
    that cannot reach the connector's database."""
    from hrsignal.risk.hr import export_hr

    n, rejected = export_hr(output, db_url=db_url, files=hr_files)
    click.echo(
        f"{n} HR record(s) -> {output}"
        + (f" ({rejected} invalid record(s) skipped)" if rejected else "")
    )


def _print_dry_run(store: RiskStore, summaries: list[Any], fmt: str) -> None:
    """The alerts a dry run would raise, users pseudonymised."""
    from hrsignal.risk.pseudonym import pseudonym

    key = store.pseudonym_key()
    for s in summaries:
        for alert in s.preview:
            alert["user"] = pseudonym(key, alert["user"])
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2, default=str))
        return
    for s in summaries:
        click.echo(
            f"{s.policy} (dry run, nothing stored): {s.users_in_scope} user(s) in scope, "
            f"{s.alerting_days} alerting day(s), {len(s.preview)} alert(s)"
        )
        for a in s.preview:
            click.echo(
                f"  {a['severity']:6} {a['score']:3}  {a['user']}  "
                f"{a['first_day']}..{a['last_day']} ({a['days']} day(s))"
            )


# -- alerts ------------------------------------------------------------------------------------

_ALERT_FIELDS = [
    "id",
    "policy",
    "user",
    "severity",
    "score",
    "status",
    "first_day",
    "last_day",
    "days",
    "top_indicators",
    "sequences",
]


def _flat(a: dict[str, Any]) -> dict[str, Any]:
    top = sorted(a["indicators"].items(), key=lambda kv: -kv[1]["events"])[:3]
    return {
        **{k: a[k] for k in _ALERT_FIELDS if k in a},
        "top_indicators": "; ".join(f"{k} {v['events']}" for k, v in top),
        "sequences": len(a["sequences"]),
    }


@risk_group.command("alerts")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
@click.option("--policy", default=None)
@click.option("--severity", type=click.Choice(["low", "medium", "high"]), default=None)
@click.option("--status", default=None)
@click.option("--reveal", is_flag=True, help="Show user names instead of pseudonyms (audited).")
@click.pass_context
def alerts_command(
    ctx: click.Context,
    fmt: str,
    policy: str | None,
    severity: str | None,
    status: str | None,
    reveal: bool,
) -> None:
    """List alerts (users pseudonymised unless --reveal)."""
    from hrsignal.risk.alerts import list_alerts

    alerts = list_alerts(
        _store(ctx), reveal=reveal, policy=policy, severity=severity, status=status
    )
    if fmt == "json":
        click.echo(json.dumps(alerts, indent=2, default=str))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_ALERT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for a in alerts:
            writer.writerow(_flat(a))
        click.echo(out.getvalue(), nl=False)
    else:
        if not alerts:
            click.echo("no alerts")
        for a in alerts:
            f = _flat(a)
            click.echo(
                f"{a['id']}  {a['severity']:6} {a['score']:3}  {a['user']:32} "
                f"{a['policy']}  {a['first_day']}..{a['last_day']}  {f['top_indicators']}"
            )


@risk_group.command("alert")
@click.argument("alert_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--reveal", is_flag=True, help="Show the user's name (audited).")
@click.option("--events", "max_events", type=int, default=20, show_default=True)
@click.pass_context
def alert_command(
    ctx: click.Context, alert_id: str, fmt: str, reveal: bool, max_events: int
) -> None:
    """Explain one alert: trigger, indicators vs baseline and peers, sequences, timeline."""
    from hrsignal.risk.alerts import get_alert
    from hrsignal.risk.explain import render_alert

    alert = get_alert(_store(ctx), alert_id, reveal=reveal, max_events=max_events)
    if fmt == "json":
        click.echo(json.dumps(alert, indent=2, default=str))
    else:
        click.echo(render_alert(alert))


@risk_group.command("status")
@click.argument("alert_id")
@click.argument("status", type=click.Choice(["needs_review", "confirmed", "dismissed", "resolved"]))
@click.pass_context
def status_command(ctx: click.Context, alert_id: str, status: str) -> None:
    """Triage an alert (a dismissed or resolved alert no longer raises the risk level)."""
    from hrsignal.risk.alerts import set_alert_status

    set_alert_status(_store(ctx), alert_id, status)
    click.echo(f"{alert_id}: {status}")


@risk_group.command("levels")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the export to this file instead of stdout.",
)
@click.option(
    "--reveal",
    is_flag=True,
    help="Export user names (audited); consumers such as DLP rules usually need them.",
)
@click.pass_context
def levels_command(ctx: click.Context, fmt: str, output: Path | None, reveal: bool) -> None:
    """Export each user's insider risk level (minor / moderate / elevated)."""
    from hrsignal.risk.alerts import user_risk_levels

    levels = user_risk_levels(_store(ctx), reveal=reveal)
    if fmt == "json":
        text = json.dumps(levels, indent=2) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(
            buf, fieldnames=["user", "level", "previous", "since", "alert_id"], lineterminator="\n"
        )
        w.writeheader()
        w.writerows(levels)
        text = buf.getvalue()
    else:
        text = (
            "".join(
                f"{x['user']:40} {x['level']:9} (was {x['previous']}) since {x['since']}\n"
                for x in levels
            )
            or "no risk levels yet\n"
        )
    if output:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)  # atomic: a consumer never reads half an export
        click.echo(f"{len(levels)} level(s) -> {output}", err=True)
    else:
        sys.stdout.write(text)


@risk_group.command("scope")
@click.option("--policy", default=None)
@click.option("--reveal", is_flag=True, help="Show user names (audited).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def scope_command(ctx: click.Context, policy: str | None, reveal: bool, fmt: str) -> None:
    """Users in each policy's scope, with their trigger and window."""
    from hrsignal.risk.alerts import users_in_scope

    rows = users_in_scope(_store(ctx), policy=policy, reveal=reveal)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['policy']:38} {r['user']:32} {r['trigger_scenario']:14} "
            f"{r['window_start']}..{r['window_end']}"
        )


@risk_group.command("reveal")
@click.argument("pseudonym")
@click.pass_context
def reveal_command(ctx: click.Context, pseudonym: str) -> None:
    """Show the user behind a pseudonym (recorded in the reveal audit)."""
    from hrsignal.risk.alerts import reveal_user

    click.echo(reveal_user(_store(ctx), pseudonym))
