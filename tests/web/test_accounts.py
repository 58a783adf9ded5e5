"""Dashboard accounts and sessions in the store (SQLite and PostgreSQL), and ``hrsignal users``."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hrsignal.cli import cli
from hrsignal.errors import AuthError, ConflictError, NotFoundError, UsageError
from hrsignal.store import accounts, open_store
from hrsignal.store.engine import Store
from hrsignal.store.schema import accounts as accounts_table
from hrsignal.store.schema import web_sessions


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store."""
    opened = open_store(db_url)
    yield opened
    opened.dispose()


def test_create_and_authenticate_stores_only_an_argon2_hash(store: Store) -> None:
    """An account signs in with its password; the database holds an argon2id hash only."""
    accounts.create_account(store, name="alice", role="analyst", password="correct horse")
    assert accounts.authenticate(store, "alice", "correct horse").role == "analyst"
    with store.read() as conn:
        stored = conn.execute(select(accounts_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_create_account_accepts_an_engine(store: Store) -> None:
    """``create_account`` takes a SQLAlchemy engine as well as a Store (the demo passes one)."""
    account = accounts.create_account(store.engine, name="demo", role="admin", password="x" * 12)
    assert accounts.get_account(store, "demo") == account


def test_bad_role_name_password_and_duplicate_are_refused(store: Store) -> None:
    """Unknown role, unsafe name and short password are usage errors; a taken name conflicts."""
    with pytest.raises(UsageError, match="role 'boss'"):
        accounts.create_account(store, name="a", role="boss", password="long enough")
    with pytest.raises(UsageError, match="not allowed"):
        accounts.create_account(store, name="<script>", role="admin", password="long enough")
    with pytest.raises(UsageError, match="at least 8"):
        accounts.create_account(store, name="a", role="admin", password="short")
    accounts.create_account(store, name="a", role="admin", password="long enough")
    with pytest.raises(ConflictError, match="already exists"):
        accounts.create_account(store, name="a", role="analyst", password="long enough")


def test_unknown_name_and_wrong_password_get_the_same_answer(store: Store) -> None:
    """Sign-in does not tell which account names exist."""
    accounts.create_account(store, name="alice", role="admin", password="correct horse")
    with pytest.raises(AuthError) as wrong:
        accounts.authenticate(store, "alice", "battery staple")
    with pytest.raises(AuthError) as unknown:
        accounts.authenticate(store, "mallory", "battery staple")
    assert str(wrong.value) == str(unknown.value) == "wrong account name or password"


def test_repeated_failures_lock_the_account_then_expire(store: Store) -> None:
    """Five failures lock the account for 30 s (even the right password is refused with a
    wait time); after the lock the right password works and resets the count."""
    accounts.create_account(store, name="alice", role="admin", password="correct horse")
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    for _ in range(accounts.FREE_FAILURES):
        with pytest.raises(AuthError):
            accounts.authenticate(store, "alice", "guess", now=now)
    with pytest.raises(accounts.SignInThrottledError) as locked:
        accounts.authenticate(store, "alice", "correct horse", now=now)
    assert locked.value.http_status == 429 and 1 <= locked.value.retry_after <= 31
    later = now + dt.timedelta(seconds=31)
    assert accounts.authenticate(store, "alice", "correct horse", now=later).name == "alice"
    with store.read() as conn:
        row = conn.execute(select(accounts_table)).one()
    assert row.failed_signins == 0 and row.locked_until is None


def test_sessions_store_a_digest_and_end_on_signout_password_change_and_delete(
    store: Store,
) -> None:
    """A session is found by its token (only its SHA-256 is stored); sign-out, a password
    change and deleting the account each revoke it; an expired one is not found."""
    account = accounts.create_account(store, name="ivy", role="investigator", password="p" * 10)
    first = accounts.open_session(store, account)
    found = accounts.find_session(store, first.token)
    assert found is not None and found.account == account and found.csrf_token
    with store.read() as conn:
        digests = conn.execute(select(web_sessions.c.sha256)).scalars().all()
    assert first.token not in digests and len(digests) == 1
    accounts.end_session(store, first.token)
    assert accounts.find_session(store, first.token) is None

    second = accounts.open_session(store, account)
    accounts.set_password(store, "ivy", "q" * 10)
    assert accounts.find_session(store, second.token) is None

    third = accounts.open_session(store, account)
    late = third.expires_at + dt.timedelta(seconds=1)
    assert accounts.find_session(store, third.token, now=late) is None
    accounts.delete_account(store, "ivy")
    assert accounts.find_session(store, third.token) is None
    with pytest.raises(NotFoundError):
        accounts.get_account(store, "ivy")


def test_users_cli_creates_from_stdin_and_never_echoes_the_password(tmp_path: Path) -> None:
    """``hrsignal users create NAME --role ROLE --password-stdin`` creates the account (exit 0);
    a duplicate exits 2 with a hint and no traceback; ``users list`` shows name and role, no
    password; without a terminal and without --password-stdin it says how (exit 2)."""
    db = f"sqlite:///{tmp_path}/h.db"
    runner = CliRunner()
    create = ["users", "create", "ana", "--role", "analyst", "--password-stdin", "--db", db]
    created = runner.invoke(cli, create, input="s3cret passphrase\n")
    assert created.exit_code == 0, created.output
    assert created.stdout == "created analyst account 'ana'\n"
    # error conversion happens in hrsignal.cli:main, so run the real command for this one
    again = subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", *create],
        input="s3cret passphrase\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    listing = runner.invoke(cli, ["users", "list", "--db", db])
    assert listing.stdout.startswith("ana ") and "analyst" in listing.stdout
    assert "s3cret" not in listing.output + created.output
    no_tty = runner.invoke(cli, ["users", "create", "bo", "--role", "admin", "--db", db])
    assert isinstance(no_tty.exception, UsageError)
    assert "--password-stdin" in str(no_tty.exception)
    assert accounts.authenticate(open_store(db), "ana", "s3cret passphrase").role == "analyst"


def test_serve_prints_the_dashboard_url_and_how_to_make_a_first_account(
    tmp_path: Path,
) -> None:
    """``hrsignal serve`` names the dashboard's URL and, while no account exists, the command
    that creates one; the dashboard answers there (the sign-in page)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = f"sqlite:///{tmp_path}/h.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrsignal.cli", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("  no dashboard account") for line in lines):
            assert proc.stderr and time.monotonic() < deadline, lines
            lines.append(proc.stderr.readline())
        assert f"dashboard: http://127.0.0.1:{port}/\n" in lines
        assert "hrsignal users create NAME --role admin|analyst|investigator" in lines[-1]
        for _ in range(100):
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page.status_code == 200 and "Sign in" in page.text
    finally:
        proc.terminate()
        proc.wait(30)
