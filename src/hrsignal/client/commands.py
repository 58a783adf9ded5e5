"""CLI: ``hrsignal upload``, ``hrsignal doctor`` and ``hrsignal watch``.

Exit codes: 0 every valid record acknowledged, 1 validation errors refused the upload,
2 usage/configuration, 3 the server rejected a chunk (4xx), 4 authentication, 5 transport.
Every option naming the target can also come from the environment (``HRSIGNAL_TENANT_ID``,
``HRSIGNAL_APP_ID``, ``HRSIGNAL_JOB_ID``, ...), so a scheduler never needs a secret on argv.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click
import platformdirs

from hrsignal.client.clouds import CLOUDS, Endpoints, resolve_endpoints
from hrsignal.client.credentials import Credential, resolve_credential
from hrsignal.client.progress import RichObserver
from hrsignal.client.retry import RetryPolicy
from hrsignal.client.uploader import UploadSettings, UploadSummary, upload_file
from hrsignal.errors import HrsignalError
from hrsignal.scenarios.commands import (
    build_options,
    load_optional_mapping,
    print_report,
    validation_options,
)


def default_state_dir() -> Path:
    """The user's state directory (checkpoints, locks, the watch ledger)."""
    return Path(platformdirs.user_state_dir("hrsignal"))


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options naming the connector, the hosts and the credential (shared by all three)."""
    options = [
        click.option("--tenant-id", envvar="HRSIGNAL_TENANT_ID", required=True,
                     help="Entra Directory (tenant) ID. [env HRSIGNAL_TENANT_ID]"),
        click.option("--app-id", envvar="HRSIGNAL_APP_ID", required=True,
                     help="Entra Application (client) ID. [env HRSIGNAL_APP_ID]"),
        click.option("--job-id", envvar="HRSIGNAL_JOB_ID", required=True,
                     help="The HR connector's Job ID. [env HRSIGNAL_JOB_ID]"),
        click.option("--app-secret", default=None,
                     help="Client secret (prefer HRSIGNAL_APP_SECRET or --app-secret-file: "
                     "argv is visible to other users)."),
        click.option("--app-secret-file", type=click.Path(dir_okay=False), default=None,
                     help="File holding the client secret."),
        click.option("--key-vault-url", default=None,
                     help="Azure Key Vault URL holding the secret (extra 'keyvault')."),
        click.option("--secret-name", default=None, help="Secret name in --key-vault-url."),
        click.option("--certificate", type=click.Path(dir_okay=False), default=None,
                     help="PEM file with the app's certificate and private key."),
        click.option("--certificate-password", envvar="HRSIGNAL_CERTIFICATE_PASSWORD",
                     default=None, help="Password of the private key."),
        click.option("--cloud", type=click.Choice(list(CLOUDS)), default="public",
                     envvar="HRSIGNAL_CLOUD", show_default=True,
                     help="Microsoft cloud: picks the login and ingestion hosts."),
        click.option("--login-url", envvar="HRSIGNAL_LOGIN_URL", default=None,
                     help="Authority host (e.g. https://login.microsoftonline.com); the "
                     "tenant is appended."),
        click.option("--ingestion-url", envvar="HRSIGNAL_INGESTION_URL", default=None,
                     help="Ingestion base (e.g. https://webhook.ingestion.office.com); "
                     "/api/signals is appended."),
        click.option("--resource", envvar="HRSIGNAL_RESOURCE", default=None,
                     help="The connector's resource (default: the current Microsoft one)."),
        click.option("--ca-bundle", envvar="HRSIGNAL_CA_BUNDLE",
                     type=click.Path(dir_okay=False, exists=True), default=None,
                     help="PEM bundle of CAs to trust (a private CA or a TLS proxy)."),
        click.option("--timeout", type=click.FloatRange(min=1), default=400.0,
                     show_default=True, help="Read timeout per request, seconds."),
        click.option("--connect-timeout", type=click.FloatRange(min=1), default=30.0,
                     show_default=True, help="Connect timeout, seconds."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def build_target(params: dict[str, Any]) -> tuple[Endpoints, Credential]:
    """Endpoints and credential from the target options."""
    endpoints = resolve_endpoints(
        tenant_id=params["tenant_id"],
        app_id=params["app_id"],
        job_id=params["job_id"],
        cloud=params["cloud"],
        login_url=params["login_url"],
        ingestion_url=params["ingestion_url"],
        resource=params["resource"],
    )
    credential = resolve_credential(
        app_secret=params["app_secret"],
        app_secret_file=params["app_secret_file"],
        key_vault_url=params["key_vault_url"],
        secret_name=params["secret_name"],
        certificate=params["certificate"],
        certificate_password=params["certificate_password"],
    )
    return endpoints, credential


def upload_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of how to upload (shared by ``upload`` and ``watch``)."""
    options = [
        click.option("--records-per-call", type=click.IntRange(min=1), default=5000,
                     show_default=True, help="Records per request (whole records)."),
        click.option("--skip-invalid", is_flag=True,
                     help="Upload only the valid records; write the others to a rejects "
                     "file."),
        click.option("--state-dir", type=click.Path(file_okay=False), default=None,
                     envvar="HRSIGNAL_STATE_DIR",
                     help="Checkpoints and locks (default: the user's state directory)."),
        click.option("--quarantine", is_flag=True,
                     help="On a 400, bisect the chunk to find the records the server refuses, "
                     "set them aside in FILE.quarantine.csv and deliver the rest (exit 3)."),
        click.option("--max-retries", type=click.IntRange(min=0), default=10,
                     show_default=True, help="Retries per chunk for transient failures."),
        click.option("--max-wait", type=click.FloatRange(min=0), default=900.0,
                     show_default=True, help="Seconds of waiting between retries, per chunk."),
        click.option("--retry-backoff", type=click.FloatRange(min=0), default=1.0,
                     show_default=True, help="First backoff step, seconds (doubles, cap 60)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(params: dict[str, Any], *, dry_run: bool = False) -> UploadSettings:
    """UploadSettings from the CLI options."""
    endpoints, credential = build_target(params)
    options = build_options(
        now=params["now"],
        delimiter=params["delimiter"],
        encoding=params["encoding"],
        date_window=params["date_window"],
    )
    rejects = params.get("rejects")
    return UploadSettings(
        endpoints=endpoints,
        credential=credential,
        state_dir=Path(params["state_dir"]) if params["state_dir"] else default_state_dir(),
        scenario=params["scenario"],
        mapping=load_optional_mapping(params["mapping_path"]),
        options=options,
        records_per_call=params["records_per_call"],
        skip_invalid=params["skip_invalid"],
        rejects_path=Path(rejects) if rejects else None,
        quarantine=params.get("quarantine", False),
        dry_run=dry_run,
        force=params.get("force", False),
        verify=params["ca_bundle"] or True,
        connect_timeout=params["connect_timeout"],
        read_timeout=params["timeout"],
        policy=RetryPolicy(
            max_retries=params["max_retries"],
            max_wait=params["max_wait"],
            base=params["retry_backoff"],
        ),
    )


def fail(exc: HrsignalError) -> click.exceptions.Exit:
    """Print the error (never a traceback) and return the exit to raise."""
    click.echo(f"error: {exc}", err=True)
    return click.exceptions.Exit(exc.exit_code)


@click.command("upload")
@click.argument("file", type=click.Path(dir_okay=False))
@target_options
@validation_options
@upload_options
@click.option("--rejects", type=click.Path(dir_okay=False), default=None,
              help="With --skip-invalid: where to write rejected records "
              "(default: FILE.rejects.csv).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Validate, chunk and authenticate; send nothing.")
@click.option("--force", is_flag=True, help="Ignore the checkpoint and send every chunk again.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def upload_command(file: str, dry_run: bool, fmt: str, **params: Any) -> None:
    """Validate FILE, then upload it to the HR connector in resumable chunks."""
    try:
        settings = build_settings(params, dry_run=dry_run)
        observer = RichObserver(enabled=fmt == "text" and sys.stderr.isatty())
        stop = threading.Event()
        with observer, _stop_on_sigterm(stop):
            summary = upload_file(file, settings, observer=observer, stop=stop)
    except HrsignalError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        click.echo("interrupted: acknowledged chunks are saved; rerun to resume", err=True)
        raise click.exceptions.Exit(130) from None
    emit_summary(summary, fmt)
    raise click.exceptions.Exit(summary.exit_code)


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (systemd, a scheduler's timeout) stops after the chunk in flight, so the
    checkpoint records it; the rerun resumes from there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        """Ask the upload to stop between chunks."""
        click.echo("SIGTERM: stopping after the chunk in flight", err=True)
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _count(n: int, noun: str) -> str:
    """``1 record``, ``5,000 records``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def emit_summary(summary: UploadSummary, fmt: str) -> None:
    """The final summary: JSON on stdout, or a few lines of text."""
    if fmt == "json":
        click.echo(json.dumps(summary.to_dict(), indent=2))
        if summary.status == "refused" and summary.report is not None:
            # stdout stays one JSON document; the findings go to stderr for the log
            click.echo(json.dumps(summary.report.to_dict(), indent=2), err=True)
        if summary.error is not None:
            click.echo(f"error: {summary.error}", err=True)
        return
    if summary.report is not None and (
        summary.status == "refused" or summary.report.error_count or summary.report.warnings
    ):
        print_report(summary.report)
    lines = {
        "uploaded": "uploaded "
        + _count(summary.valid_records if summary.rejects else summary.records, "record")
        + " in "
        + _count(summary.chunks_sent, "chunk")
        + (
            f" ({summary.chunks_skipped_from_checkpoint} acknowledged earlier)"
            if summary.chunks_skipped_from_checkpoint
            else ""
        ),
        "already_uploaded": "already uploaded: every chunk of this content was acknowledged "
        "for this job (use --force to send it again)",
        "dry_run": f"dry run: {_count(summary.chunks_planned, 'chunk')} would be sent; "
        "authenticated; nothing sent",
        "nothing_to_send": "the file has a header but no records: nothing to send",
        "refused": "upload refused: fix the errors above, or pass --skip-invalid to upload "
        "only the valid records",
    }
    text = lines.get(summary.status)
    if text:
        click.echo(f"{summary.file}: {text}")
    if summary.rejects is not None:
        click.echo(f"rejected records written to {summary.rejects}")
    if summary.quarantined:
        click.echo(
            f"{summary.quarantined:,} record(s) refused by the server are in "
            f"{summary.quarantine}; everything else was acknowledged",
            err=True,
        )
    if summary.server_rejected:
        click.echo(
            f"warning: the server accepted the requests but rejected "
            f"{summary.server_rejected:,} records (its connector mapping may differ from "
            "the file's columns); see its upload log (hrsignal connectors log JOB)",
            err=True,
        )
    if summary.retries:
        click.echo(f"{summary.retries} retries after transient failures")
    if summary.error is not None:
        click.echo(
            f"{summary.file}: failed after {summary.chunks_sent} chunks sent "
            f"(those are saved in the checkpoint)",
            err=True,
        )
        click.echo(f"error: {summary.error}", err=True)


@click.command("doctor")
@target_options
@click.option("--probe-job", is_flag=True,
              help="Also POST a header-only CSV (no records) to check that the job belongs "
              "to the app.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def doctor_command(probe_job: bool, fmt: str, **params: Any) -> None:
    """Check DNS, TLS, the proxy and the token for these settings; explain what is wrong."""
    from hrsignal.client.doctor import run_doctor

    try:
        endpoints, credential = build_target(params)
        code = run_doctor(
            endpoints,
            credential,
            verify=params["ca_bundle"] or True,
            timeout=params["connect_timeout"],
            probe_job=probe_job,
            fmt=fmt,
        )
    except HrsignalError as exc:
        raise fail(exc) from None
    raise click.exceptions.Exit(code)


@click.command("watch")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--pattern", default="*.csv", show_default=True, help="File name pattern.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between rescans (and retries when the target is down).",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="A file is ready when its size and mtime are unchanged this long.",
)
@click.option("--once", is_flag=True, help="Process what is there, then exit.")
@target_options
@validation_options
@upload_options
def watch_command(directory: str, pattern: str, interval: float, settle: float, once: bool,
                  **params: Any) -> None:  # fmt: skip
    """Upload each new or changed export in DIRECTORY once its writer has finished."""
    from hrsignal.client.watch import Watcher

    try:
        settings = build_settings(params)
        watcher = Watcher(
            Path(directory), settings, pattern=pattern, interval=interval, settle=settle
        )
        watcher.run(once=once)
    except HrsignalError as exc:
        raise fail(exc) from None
