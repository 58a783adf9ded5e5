"""``hrsignal serve``, ``apps``, ``connectors`` and ``purge``: thin commands over the library.

Every command takes ``--db URL`` (or ``$HRSIGNAL_DB``; default: SQLite in the user's data
directory). Secrets are printed once, at creation; ``--format json`` gives machine output.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from hrsignal.errors import UsageError
from hrsignal.scenarios import MULTI, DateWindow, load_mapping, open_validation, scenario_names
from hrsignal.server.admin import build_mapping, log_csv
from hrsignal.server.settings import DEFAULT_RESOURCES, Settings
from hrsignal.store import connectors as conns
from hrsignal.store import identity
from hrsignal.store import uploads as log_store
from hrsignal.store.engine import DB_ENV, Store, open_store, resolve_db_url
from hrsignal.store.records import purge
from hrsignal.web.csvsafe import neutralise

db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV,
    default=None,
    metavar="URL",
    help="Database URL: sqlite:///PATH or postgresql://... (env HRSIGNAL_DB).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def _store(db_url: str | None) -> Store:
    return open_store(resolve_db_url(db_url))


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    help="Listen on a non-loopback address without TLS (tokens and HR data travel in clear).",
)
@click.option("--public-url", default=None, help="Base URL clients use, when behind a proxy.")
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="Accepted token resource (repeatable); default: Microsoft's ingestion resources.",
)
@click.option("--max-body-mb", default=100, show_default=True, type=click.IntRange(1, 4096))
@click.option("--token-lifetime", default=3600, show_default=True, type=click.IntRange(60, 86400))
@click.option(
    "--retention-days",
    default=None,
    type=click.IntRange(1, 36500),
    help="Purge records whose last working/effective date is older than this (automatic).",
)
@click.option("--no-date-window", is_flag=True, help="Do not check the LastWorkingDate window.")
@click.option(
    "--risk-dir",
    type=click.Path(file_okay=False),
    envvar="HRSIGNAL_RISK_DIR",
    default=None,
    help="The risk engine's data directory read by /api/risk (default: hrsignal risk's).",
)
def serve_command(
    db_url: str | None,
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    allow_insecure_http: bool,
    public_url: str | None,
    resources: tuple[str, ...],
    max_body_mb: int,
    token_lifetime: int,
    retention_days: int | None,
    no_date_window: bool,
    risk_dir: str | None,
) -> None:
    """Run the connector service (token endpoints, /api/signals, admin API, dashboard)."""
    import uvicorn

    from hrsignal.server.app import create_app

    if bool(tls_cert) != bool(tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not tls_cert and not _is_loopback(host) and not allow_insecure_http:
        raise UsageError(
            f"refusing to listen on {host} without TLS: client secrets, tokens and HR data "
            "would cross the network in clear",
            hint="pass --tls-cert FILE --tls-key FILE, or --allow-insecure-http if a "
            "TLS-terminating proxy sits in front",
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at start
    settings = Settings(
        db_url=resolve_db_url(db_url),
        resources=tuple(resources) or DEFAULT_RESOURCES,
        token_lifetime_s=token_lifetime,
        max_body_bytes=max_body_mb * 1024 * 1024,
        retention_days=retention_days,
        public_url=public_url,
        date_window=None if no_date_window else DateWindow(),
        risk_dir=risk_dir,
    )
    store = open_store(settings.db_url)
    if not identity.has_admin_token(store) and sys.stderr.isatty():
        token = identity.create_admin_token(store, "first start")
        click.echo(
            f"admin API token (shown once; keep it safe): {token}\n"
            "  more with: hrsignal apps admin-token",
            err=True,
        )
    elif not identity.has_admin_token(store):
        # Not a terminal: this output goes to a journal or a container log, where a secret
        # would outlive its display. The admin creates the token interactively instead.
        click.echo(
            "no admin API token yet; create one with `hrsignal apps admin-token` (not printed "
            "here: this output is not a terminal and may be kept in a log)",
            err=True,
        )
    app = create_app(settings, store=store)
    scheme = "https" if tls_cert else "http"
    click.echo(
        f"hrsignal serving {scheme}://{host}:{port} (database {store.display_url})", err=True
    )
    from hrsignal.store.accounts import list_accounts

    click.echo(f"dashboard: {scheme}://{host}:{port}/", err=True)
    if not list_accounts(store):
        click.echo(
            "  no dashboard account yet; create one with: "
            "hrsignal users create NAME --role admin|analyst|investigator",
            err=True,
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        access_log=False,  # our AccessLog middleware logs without query strings or headers
        timeout_graceful_shutdown=60,  # finish in-flight uploads on SIGTERM/SIGINT
        log_level="info",
    )


@click.group("apps")
def apps_group() -> None:
    """Register applications (client id + secrets or certificates) that may upload."""


@apps_group.command("create")
@click.argument("name")
@click.option("--expires-in-days", default=730, show_default=True, type=int)
@db_option
@format_option
def apps_create(name: str, expires_in_days: int, db_url: str | None, fmt: str) -> None:
    """Register an application and print its tenant id, app id and secret (once)."""
    store = _store(db_url)
    tenant = identity.default_tenant(store)
    new = identity.create_app(store, name, tenant_id=tenant, expires_in_days=expires_in_days)
    data = {
        "tenant_id": new.app.tenant_id,
        "app_id": new.app.app_id,
        "secret": new.secret,
        "secret_expires": new.expires_at.isoformat(),
    }
    if fmt == "json":
        _json(data)
        return
    click.echo(f"tenant_id:      {data['tenant_id']}")
    click.echo(f"app_id:         {data['app_id']}")
    click.echo(f"secret:         {data['secret']}")
    click.echo(f"secret_expires: {data['secret_expires']}")
    click.echo("The secret is shown only now; store it safely.", err=True)


@apps_group.command("list")
@db_option
@format_option
def apps_list(db_url: str | None, fmt: str) -> None:
    """List applications with their secrets (hints only) and certificates."""
    store = _store(db_url)
    rows: list[dict[str, Any]] = []
    for app in identity.list_apps(store):
        rows.append(
            {
                "app_id": app.app_id,
                "tenant_id": app.tenant_id,
                "name": app.name,
                "secrets": [
                    {
                        "secret_id": s.secret_id,
                        "hint": s.hint + "...",
                        "expires": s.expires_at.isoformat(),
                    }
                    for s in identity.list_secrets(store, app.app_id)
                ],
                "certificates": [
                    {"x5t": c.x5t, "not_after": c.not_after.isoformat()}
                    for c in identity.list_certificates(store, app.app_id)
                ],
            }
        )
    if fmt == "json":
        _json(rows)
        return
    if not rows:
        click.echo("no applications; create one with: hrsignal apps create NAME")
    for r in rows:
        click.echo(f"{r['app_id']}  {r['name']}  (tenant {r['tenant_id']})")
        for s in r["secrets"]:
            click.echo(f"    secret {s['secret_id']}  {s['hint']}  expires {s['expires']}")
        for c in r["certificates"]:
            click.echo(f"    certificate x5t={c['x5t']}  not after {c['not_after']}")


@apps_group.command("add-secret")
@click.argument("app_id")
@click.option("--expires-in-days", default=730, show_default=True, type=int)
@db_option
@format_option
def apps_add_secret(app_id: str, expires_in_days: int, db_url: str | None, fmt: str) -> None:
    """Add another secret to an app (rotation); printed once."""
    new = identity.add_secret(_store(db_url), app_id, expires_in_days=expires_in_days)
    data = {
        "app_id": app_id,
        "secret_id": new.secret_id,
        "secret": new.secret,
        "secret_expires": new.expires_at.isoformat(),
    }
    if fmt == "json":
        _json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key + ':':15} {value}")


@apps_group.command("remove-secret")
@click.argument("app_id")
@click.argument("secret_id")
@db_option
def apps_remove_secret(app_id: str, secret_id: str, db_url: str | None) -> None:
    """Remove a secret (tokens already issued stay valid until they expire)."""
    identity.remove_secret(_store(db_url), app_id, secret_id)
    click.echo(f"removed secret {secret_id} of {app_id}")


@apps_group.command("add-certificate")
@click.argument("app_id")
@click.option("--public-cert", type=click.Path(exists=True, dir_okay=False), required=True)
@db_option
def apps_add_certificate(app_id: str, public_cert: str, db_url: str | None) -> None:
    """Register a certificate (PEM) whose key signs client assertions."""
    cert = identity.add_certificate(_store(db_url), app_id, Path(public_cert).read_bytes())
    click.echo(f"added certificate x5t={cert.x5t} (not after {cert.not_after.isoformat()})")


@apps_group.command("delete")
@click.argument("app_id")
@db_option
def apps_delete(app_id: str, db_url: str | None) -> None:
    """Delete an application and its credentials."""
    identity.delete_app(_store(db_url), app_id)
    click.echo(f"deleted application {app_id}")


@apps_group.command("admin-token")
@click.option("--name", default="admin", show_default=True)
@db_option
def apps_admin_token(name: str, db_url: str | None) -> None:
    """Create an admin API token (for /api/connectors); printed once."""
    click.echo(identity.create_admin_token(_store(db_url), name))


@click.group("connectors")
def connectors_group() -> None:
    """Connectors: a job id bound to an app, HR scenarios and a file mapping."""


def _header_of(sample: Path, scenario: str) -> list[str]:
    with open_validation(sample, scenario=scenario) as run:
        for _ in run:
            break
        return run.header


@connectors_group.command("create")
@click.option("--name", required=True)
@click.option("--app-id", required=True)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    required=True,
    type=click.Choice([s for s in scenario_names() if s != MULTI]),
)
@click.option("--sample", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), default=None)
@db_option
@format_option
def connectors_create(
    name: str,
    app_id: str,
    scenarios: tuple[str, ...],
    sample: str | None,
    mapping: str | None,
    db_url: str | None,
    fmt: str,
) -> None:
    """Create a connector; its mapping is proposed from a sample file's header or read."""
    if bool(sample) == bool(mapping):
        raise UsageError("give exactly one of --sample FILE or --mapping FILE")
    chosen = list(scenarios)
    if mapping:
        file_mapping = build_mapping(chosen, load_mapping(mapping).to_dict(), None)
    else:
        assert sample is not None
        header = _header_of(Path(sample), chosen[0] if len(chosen) == 1 else MULTI)
        file_mapping = build_mapping(chosen, None, header)
    connector = conns.create_connector(
        _store(db_url), name=name, app_id=app_id, scenarios=chosen, mapping=file_mapping
    )
    if fmt == "json":
        _json(connector.to_dict())
        return
    click.echo(f"job_id: {connector.job_id}")
    click.echo(f"mapping: {json.dumps(connector.mapping)}")


@connectors_group.command("list")
@db_option
@format_option
def connectors_list(db_url: str | None, fmt: str) -> None:
    """List connectors."""
    items = conns.list_connectors(_store(db_url))
    if fmt == "json":
        _json([c.to_dict() for c in items])
        return
    if not items:
        click.echo("no connectors; create one with: hrsignal connectors create ...")
    for c in items:
        state = "enabled" if c.enabled else "disabled"
        click.echo(f"{c.job_id}  {c.name}  app {c.app_id}  {','.join(c.scenarios)}  {state}")


@connectors_group.command("show")
@click.argument("job_id")
@db_option
def connectors_show(job_id: str, db_url: str | None) -> None:
    """Show a connector as JSON."""
    _json(conns.get_connector(_store(db_url), job_id).to_dict())


@connectors_group.command("disable")
@click.argument("job_id")
@db_option
def connectors_disable(job_id: str, db_url: str | None) -> None:
    """Disable a connector: uploads to it answer 404."""
    conns.set_enabled(_store(db_url), job_id, False)
    click.echo(f"disabled {job_id}")


@connectors_group.command("enable")
@click.argument("job_id")
@db_option
def connectors_enable(job_id: str, db_url: str | None) -> None:
    """Enable a disabled connector."""
    conns.set_enabled(_store(db_url), job_id, True)
    click.echo(f"enabled {job_id}")


@connectors_group.command("delete")
@click.argument("job_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def connectors_delete(job_id: str, yes: bool, db_url: str | None) -> None:
    """Delete a connector with its HR records and upload log."""
    store = _store(db_url)
    conns.get_connector(store, job_id)
    if not yes:
        click.confirm(f"delete connector {job_id}, its records and its log?", abort=True)
    conns.delete_connector(store, job_id)
    click.echo(f"deleted {job_id}")


@connectors_group.command("log")
@click.argument("job_id")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True
)
@click.option("--upload", "upload_id", default=None, help="Show one upload's rejected rows.")
@db_option
def connectors_log(job_id: str, fmt: str, upload_id: str | None, db_url: str | None) -> None:
    """The connector's upload log (Purview's "Download log")."""
    store = _store(db_url)
    conns.get_connector(store, job_id)
    if upload_id:
        entry = log_store.get_upload(store, upload_id)
        findings = log_store.list_findings(store, upload_id)
        if fmt == "json":
            _json({**entry.to_dict(), "Findings": findings})
        elif fmt == "csv":
            fields = ["record", "line", "column", "severity", "code", "message"]
            writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            # Messages quote HR cells: a spreadsheet must read them as text, not formulas.
            writer.writerows({k: neutralise(v) for k, v in f.items()} for f in findings)
        else:
            click.echo(_entry_line(entry.to_dict()))
            for f in findings:
                click.echo(f"  record {f['record']} line {f['line']} {f['column']}: {f['message']}")
        return
    entries = log_store.list_uploads(store, job_id)
    if fmt == "json":
        _json([e.to_dict() for e in entries])
    elif fmt == "csv":
        click.echo(log_csv(entries), nl=False)
    else:
        if not entries:
            click.echo("no uploads yet")
        for e in entries:
            click.echo(_entry_line(e.to_dict()))


def _entry_line(d: dict[str, Any]) -> str:
    return (
        f"{d['Timestamp']}  {d['UploadId']}  {d['Status']:8}  received {d['RecordsReceived']}"
        f"  saved {d['RecordsSaved']}  unchanged {d['RecordsUnchanged']}"
        f"  rejected {d['RecordsRejected']}  {d['FileName']}"
    )


@click.command("purge")
@click.option("--older-than", "days", required=True, type=click.IntRange(0, 36500), metavar="DAYS")
@click.option("--profile-days", default=30, show_default=True, type=click.IntRange(0, 36500))
@db_option
@format_option
def purge_command(days: int, profile_days: int, db_url: str | None, fmt: str) -> None:
    """Delete HR records past retention (and upload-log entries older than DAYS)."""
    counts = purge(_store(db_url), older_than_days=days, profile_days=profile_days)
    data = counts.__dict__
    if fmt == "json":
        _json(data)
    else:
        click.echo(
            f"purged {counts.records} record(s), {counts.versions} version(s), "
            f"{counts.profiles} employee profile(s), {counts.uploads} upload log entr(ies)"
        )
