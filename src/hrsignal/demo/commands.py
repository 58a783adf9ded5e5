"""``hrsignal demo``: run the whole chain on the bundled example, then keep the dashboard up.

Exit codes as elsewhere: 0 ok (also after Ctrl-C or SIGTERM while serving), 2 usage or
configuration (a busy port, a foreign ``--dir``), and the chain's own error codes otherwise.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click
from rich import box
from rich.console import Console
from rich.table import Table

from hrsignal.demo.chain import (
    HR_FILE,
    REFERENCE_NOW,
    DemoResult,
    bundled,
    default_demo_dir,
    run_demo,
)
from hrsignal.errors import HrsignalError, UsageError


class ConsoleNarrator:
    """Prints each step as ``  title  text`` lines."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, title: str, text: str) -> None:
        """A step's line."""
        self.console.print(f"  [bold]{title:<10}[/bold] {text}", highlight=False)

    def detail(self, text: str) -> None:
        """A line under the step."""
        self.console.print(f"  {'':<10} {text}", highlight=False)


def _parse_now(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--now {text!r} is not an ISO 8601 date-time; expected e.g. 2026-10-01T00:00:00Z"
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def alerts_table(result: DemoResult) -> Table:
    """The alerts, most severe first (names revealed for the demo; the reveal is audited).

    Cells hold two short lines rather than one long one, so the table reads in an
    80-column terminal too.
    """
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("alert", no_wrap=True, min_width=12)
    table.add_column("severity", no_wrap=True, min_width=8)
    table.add_column("user (pseudonym)", overflow="fold", min_width=16)
    table.add_column("policy, alerting days", overflow="fold", min_width=16)
    table.add_column("top indicators (events)", overflow="fold", min_width=12)
    for a in result.alerts:
        table.add_row(
            a["id"],
            f"{a['severity']} {a['score']}",
            f"{a['user']}\n({a['pseudonym']})",
            f"{a['policy']}\n{a['days']} days: {a['first_day']}..{a['last_day'][5:]}",
            a["top"],
        )
    return table


def _signin(console: Console, result: DemoResult, serving: bool, now_text: str) -> None:
    if serving:
        console.print(f"\n[bold]dashboard[/bold]  {result.url}/", highlight=False)
        console.print(
            f"  the certificate is the demo's own: trust {result.ca_path} in the browser, or "
            "accept the warning",
            highlight=False,
        )
    if result.accounts:
        console.print("  sign in as (passwords are new on every run):", highlight=False)
        for account in result.accounts:
            console.print(
                f"    {account.name:<18} {account.password}   ({account.role})", highlight=False
            )
    elif result.accounts_note:
        console.print(f"  no sign-in: {result.accounts_note}", highlight=False)
    if serving and result.secret_file is not None:
        console.print(
            "\nupload by hand to the same connector (re-sending saves nothing twice; "
            "--force sends again):",
            highlight=False,
        )
        console.print(
            f"  hrsignal upload {bundled(HR_FILE)} --tenant-id {result.tenant_id} "
            f"--app-id {result.app_id} --job-id {result.job_id} "
            f"--app-secret-file {result.secret_file} --login-url {result.url} "
            f"--ingestion-url {result.url} --ca-bundle {result.ca_path} "
            f"--now {now_text}",
            highlight=False,
        )
    if not serving:
        home = result.directory
        console.print(
            "\nthe service has stopped (--no-serve); to serve this data again: hrsignal serve "
            f"--db sqlite:///{home / 'hrsignal.db'} --risk-dir {home / 'risk'} --port 8443 "
            f"--tls-cert {home / 'tls' / 'server.pem'} --tls-key {home / 'tls' / 'server.key'}",
            highlight=False,
        )


class _StopOnSignal:
    """SIGINT and SIGTERM set an event (the main thread waits on it) instead of raising."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self.stop

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]  # a previous handler


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Demo data directory, started afresh on every run "
    "(default: the user data dir's hrsignal/demo).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8443,
    show_default=True,
    help="Loopback port of the service (0: any free port).",
)
@click.option(
    "--now",
    "now_text",
    default=REFERENCE_NOW.isoformat().replace("+00:00", "Z"),
    show_default=True,
    metavar="DATETIME",
    help="The uploader's clock for the LastWorkingDate window: the example's reference date.",
)
@click.option(
    "--no-serve",
    "--once",
    "no_serve",
    is_flag=True,
    help="Run the chain, then stop the service and exit (for scripts and CI).",
)
def demo_command(directory: Path | None, port: int, now_text: str, no_serve: bool) -> None:
    """Run the whole chain on the bundled example organisation, then serve its dashboard.

    Starts the connector service with TLS on loopback, registers an app, creates a resignations
    connector, uploads the example HR file with the real uploader, imports the example activity,
    runs the policies and prints the alerts; then keeps the service and its dashboard running
    until Ctrl-C (unless --no-serve).
    """
    # Lines are never wrapped (they are copied into scripts and bug reports); the table is
    # laid out for a wide log when the output is not a terminal.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 130)
    try:
        now = _parse_now(now_text)
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(exc.exit_code) from None
    home = directory or default_demo_dir()
    narrator = ConsoleNarrator(console)
    console.print(
        "[bold]hrsignal demo[/bold]: Contoso, 50 users, activity 2026-08-20..2026-10-15; "
        "four resign, one takes data",
        highlight=False,
    )
    narrator.step(
        "data",
        f"{home} (started afresh); uploader clock {now.isoformat().replace('+00:00', 'Z')} (--now)",
    )
    try:
        with run_demo(home, port=port, now=now, narrator=narrator) as (
            result,
            service,
        ):
            console.print()
            if result.alerts:
                console.print(
                    "alerts, most severe first (names revealed for the demo, and the reveal "
                    "audited; analysts see pseudonyms):",
                    highlight=False,
                )
                console.print(alerts_table(result))
            else:
                console.print("no alerts")
            _signin(console, result, serving=not no_serve, now_text=now_text)
            if no_serve:
                return
            console.print("\nserving until Ctrl-C", highlight=False)
            with _StopOnSignal() as stop:
                while not stop.wait(0.5):
                    if not service.running:
                        raise HrsignalError("the demo service stopped unexpectedly")
            console.print("stopping the service", highlight=False)
    except HrsignalError as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(exc.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C before serving: the service was stopped on the way out
        click.echo("interrupted; run 'hrsignal demo' again to start afresh", err=True)
        raise click.exceptions.Exit(130) from None
