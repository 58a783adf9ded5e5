"""``hrsignal eval ...``: evaluate detection on public benchmark data.

``hrsignal eval cert DIR --release r4.2`` runs the whole harness on a CERT release folder the
user downloaded (see EVALUATION.md). Progress goes to stderr with rich, only on a terminal;
results go to stdout; errors are :class:`~hrsignal.errors.HrsignalError` and become a message
and an exit code in ``hrsignal.cli``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from hrsignal.errors import UsageError


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected integers separated by commas") from None
    if not values:
        raise UsageError(f"{option}: give at least one value")
    return values


@contextmanager
def _progress() -> Iterator[Callable[[str], None] | None]:
    """A rich status line on a terminal; nothing otherwise (logs and pipes stay clean)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True, log_path=False)
    with console.status("evaluating") as status:

        def show(message: str) -> None:
            status.update(message)
            if "%" not in message:  # per-cent updates only refresh the status line
                console.log(message)

        yield show


@click.group("eval")
def eval_group() -> None:
    """Evaluate detection quality on public benchmark data."""


@eval_group.command("cert")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--release", type=click.Choice(["r4.2", "r5.2"]), required=True, help="CERT release in DIR."
)
@click.option(
    "--notice-days",
    default="14,30,60",
    show_default=True,
    help="Assumed notice periods: resignation = last logon - N days (one report each).",
)
@click.option(
    "--budget",
    default="5,10,20,50",
    show_default=True,
    help="Analyst budgets K: recall among the first K alerted leavers.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the slim copy and the stores go (default: the temp folder).",
)
@click.option("--keep-work", is_flag=True, help="Keep the working files (for inspection).")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A policy YAML to evaluate (default: the built-in data-theft-departing-users).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Isolation forest seed.")
@click.option("--memory-limit", default="2GB", show_default=True, help="DuckDB memory limit.")
def cert_command(
    directory: Path,
    release: str,
    notice_days: str,
    budget: str,
    fmt: str,
    work_dir: Path | None,
    keep_work: bool,
    policy_file: Path | None,
    seed: int,
    memory_limit: str,
) -> None:
    """Evaluate the departing-users policy on a CERT insider-threat release in DIR.

    DIR holds logon.csv, device.csv, file.csv, email.csv, http.csv, LDAP/ and answers/.
    """
    from hrsignal.evaluation.harness import EvalOptions, evaluate
    from hrsignal.evaluation.report import render_text

    options = EvalOptions(
        release=release,
        notice_days=_ints(notice_days, "--notice-days"),
        budgets=_ints(budget, "--budget"),
        work_dir=work_dir,
        keep_work=keep_work,
        seed=seed,
        memory_limit=memory_limit,
        policy=policy_file,
    )
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with _progress() as progress:
        result = evaluate(directory, options, progress)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_text(result))


@eval_group.command("synth")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--users", type=int, default=300, show_default=True)
@click.option("--days", type=int, default=240, show_default=True)
@click.option("--http-per-day", type=float, default=12.0, show_default=True)
@click.option("--seed", type=int, default=20100102, show_default=True)
@click.option("--layout", type=click.Choice(["r4.2", "r5.2"]), default="r4.2", show_default=True)
def synth_command(
    directory: Path, users: int, days: int, http_per_day: float, seed: int, layout: str
) -> None:
    """Write a synthetic organisation in the CERT layout into DIR (for trying the harness)."""
    from hrsignal.evaluation.synth import SynthConfig, generate

    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory}: not empty", hint="pass a new or empty folder")
    try:
        config = SynthConfig(
            users=users, days=days, http_per_day=http_per_day, seed=seed, layout=layout
        )
        result = generate(directory, config)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    click.echo(f"wrote {result.total_rows:,} activity rows for {users} users into {directory}")
