"""``hrsignal users``: dashboard accounts (create, list, password, delete).

A password is read from standard input with ``--password-stdin`` (first line, for scripts),
else prompted for twice without echo. It never appears in arguments, output or logs.
"""

from __future__ import annotations

import json
import sys

import click

from hrsignal.errors import UsageError
from hrsignal.store import accounts
from hrsignal.store.engine import DB_ENV, Store, open_store, resolve_db_url

db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV,
    default=None,
    metavar="URL",
    help="Database URL: sqlite:///PATH or postgresql://... (env HRSIGNAL_DB).",
)
password_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


def _store(db_url: str | None) -> Store:
    return open_store(resolve_db_url(db_url))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input had no password line")
        return password
    if not sys.stdin.isatty():
        raise UsageError(
            "no terminal to prompt for the password on",
            hint="pipe it in with --password-stdin",
        )
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return value


@click.group("users")
def users_group() -> None:
    """Dashboard accounts: admins, analysts (pseudonyms) and investigators (may reveal)."""


@users_group.command("create")
@click.argument("name")
@click.option(
    "--role", required=True, type=click.Choice(accounts.ROLES), help="What the account may do."
)
@password_stdin_option
@db_option
def users_create(name: str, role: str, password_stdin: bool, db_url: str | None) -> None:
    """Create a dashboard account NAME with ROLE."""
    password = _password(password_stdin)
    account = accounts.create_account(_store(db_url), name=name, role=role, password=password)
    click.echo(f"created {account.role} account {account.name!r}")


@users_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@db_option
def users_list(fmt: str, db_url: str | None) -> None:
    """List the dashboard accounts and their roles."""
    rows = accounts.list_accounts(_store(db_url))
    if fmt == "json":
        data = [{"name": a.name, "role": a.role, "created": a.created_at.isoformat()} for a in rows]
        click.echo(json.dumps(data, indent=2))
        return
    if not rows:
        click.echo("no accounts; create one with: hrsignal users create NAME --role admin")
    for a in rows:
        click.echo(f"{a.name:<24} {a.role:<13} created {a.created_at:%Y-%m-%d %H:%M}Z")


@users_group.command("password")
@click.argument("name")
@password_stdin_option
@db_option
def users_password(name: str, password_stdin: bool, db_url: str | None) -> None:
    """Set NAME's password (its sessions end, a sign-in lock is cleared)."""
    store = _store(db_url)
    accounts.get_account(store, name)
    accounts.set_password(store, name, _password(password_stdin))
    click.echo(f"password of {name!r} changed; its sessions were ended")


@users_group.command("delete")
@click.argument("name")
@db_option
def users_delete(name: str, db_url: str | None) -> None:
    """Delete the account NAME and end its sessions."""
    accounts.delete_account(_store(db_url), name)
    click.echo(f"deleted account {name!r}")
