"""Dashboard accounts and sessions: local users with a role, signed in with a password.

Roles follow Purview's role groups:

* ``admin`` - connectors, apps and secrets, settings (and everything an analyst sees);
* ``analyst`` - people in scope and alerts, with users shown as pseudonyms, and triage;
* ``investigator`` - what an analyst does, and may reveal identities (each reveal audited).

Passwords are stored as argon2id hashes (salted and slow: a stolen database does not yield
them). Sign-in is throttled per account: after :data:`FREE_FAILURES` consecutive failures the
account is locked for 30 s, doubling with each further failure up to 15 minutes; a success
resets the count. An unknown name costs the same hash verification as a known one, so the
answer time does not tell which names exist.

Sessions are server-side: the cookie carries a random 256-bit token, the database keeps only
its SHA-256 (a stolen database holds no usable cookie), the account, the session's CSRF token
and its expiry. Signing out, changing a password or deleting an account ends the sessions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hrsignal.errors import AuthError, ConflictError, NotFoundError, UsageError
from hrsignal.store.engine import Store
from hrsignal.store.identity import as_utc, utcnow
from hrsignal.store.schema import accounts, web_sessions

#: The roles, least to most privileged on identities (admin is about configuration).
ROLES = ("admin", "analyst", "investigator")
#: Shortest password accepted (NIST SP 800-63B's minimum for user-chosen secrets).
MIN_PASSWORD = 8
#: Consecutive failed sign-ins allowed before the account is locked for a while.
FREE_FAILURES = 5
_LOCK_BASE_S = 30
_LOCK_MAX_S = 15 * 60
#: Session lifetime unless the caller chooses another.
SESSION_HOURS = 8

_HASHER = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _HASHER.hash("hrsignal: no such account")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class SignInThrottledError(AuthError):
    """Too many failed sign-ins for this account: wait ``retry_after`` seconds."""

    http_status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    """A dashboard account (never its password hash)."""

    name: str
    role: str
    created_at: dt.datetime


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``token`` goes in the cookie and is not stored."""

    token: str
    csrf_token: str
    account: Account
    expires_at: dt.datetime


@dataclass(frozen=True)
class Session:
    """A live session found from its cookie token."""

    account: Account
    csrf_token: str
    expires_at: dt.datetime


def _as_store(store: Store | Engine) -> Store:
    if isinstance(store, Store):
        return store
    return Store(url=store.url.render_as_string(hide_password=False), engine=store)


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"account name {name!r} is not allowed",
            hint="use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise UsageError("the password must have at most 1024 characters")
    return password


def _account(row: object) -> Account:
    r = row._mapping  # type: ignore[attr-defined]
    return Account(r["name"], r["role"], as_utc(r["created_at"]))


def create_account(store: Store | Engine, *, name: str, role: str, password: str) -> Account:
    """Create a dashboard account; :class:`ConflictError` when the name is taken."""
    st = _as_store(store)
    account = Account(_check_name(name), _check_role(role), utcnow())
    hashed = _HASHER.hash(_check_password(password))
    try:
        with st.write() as conn:
            conn.execute(
                insert(accounts).values(
                    name=account.name,
                    role=account.role,
                    password_hash=hashed,
                    created_at=account.created_at,
                    failed_signins=0,
                    locked_until=None,
                )
            )
    except IntegrityError:
        raise ConflictError(
            f"an account named {name!r} already exists",
            hint="choose another name, or change its password with 'hrsignal users password'",
        ) from None
    return account


def get_account(store: Store | Engine, name: str) -> Account:
    """The account ``name``; :class:`NotFoundError` otherwise."""
    with _as_store(store).read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no account {name!r}; list them with 'hrsignal users list'")
    return _account(row)


def list_accounts(store: Store | Engine) -> list[Account]:
    """Every account, by name."""
    with _as_store(store).read() as conn:
        rows = conn.execute(select(accounts).order_by(accounts.c.name)).all()
    return [_account(r) for r in rows]


def delete_account(store: Store | Engine, name: str) -> None:
    """Delete an account and end its sessions."""
    with _as_store(store).write() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.account == name))
        result = conn.execute(delete(accounts).where(accounts.c.name == name))
    if result.rowcount == 0:
        raise NotFoundError(f"no account {name!r}; list them with 'hrsignal users list'")


def set_password(store: Store | Engine, name: str, password: str) -> None:
    """Change an account's password, clear its lock and end its sessions."""
    hashed = _HASHER.hash(_check_password(password))
    with _as_store(store).write() as conn:
        result = conn.execute(
            update(accounts)
            .where(accounts.c.name == name)
            .values(password_hash=hashed, failed_signins=0, locked_until=None)
        )
        conn.execute(delete(web_sessions).where(web_sessions.c.account == name))
    if result.rowcount == 0:
        raise NotFoundError(f"no account {name!r}; list them with 'hrsignal users list'")


def authenticate(
    store: Store | Engine, name: str, password: str, *, now: dt.datetime | None = None
) -> Account:
    """The account when ``password`` is right; :class:`AuthError` (the same message for an
    unknown name and a wrong password) or :class:`SignInThrottledError` while locked."""
    st = _as_store(store)
    now = now or utcnow()
    with st.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
    refused = AuthError("wrong account name or password")
    if row is None:
        _verify(_DUMMY_HASH, password)  # same cost as a known name
        raise refused
    r = row._mapping
    locked_until = r["locked_until"]
    if locked_until is not None and as_utc(locked_until) > now:
        wait = int((as_utc(locked_until) - now).total_seconds()) + 1
        raise SignInThrottledError(
            f"account {name!r} is locked after repeated failed sign-ins", retry_after=wait
        )
    if not _verify(r["password_hash"], password):
        failures = int(r["failed_signins"]) + 1
        lock = None
        if failures >= FREE_FAILURES:
            seconds = min(_LOCK_BASE_S * 2 ** (failures - FREE_FAILURES), _LOCK_MAX_S)
            lock = now + dt.timedelta(seconds=seconds)
        with st.write() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.name == name)
                .values(failed_signins=failures, locked_until=lock)
            )
        raise refused
    with st.write() as conn:
        if r["failed_signins"] or locked_until is not None:
            conn.execute(
                update(accounts)
                .where(accounts.c.name == name)
                .values(failed_signins=0, locked_until=None)
            )
        if _HASHER.check_needs_rehash(r["password_hash"]):
            conn.execute(
                update(accounts)
                .where(accounts.c.name == name)
                .values(password_hash=_HASHER.hash(password))
            )
    return _account(row)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(
    store: Store | Engine,
    account: Account,
    *,
    hours: float = SESSION_HOURS,
    now: dt.datetime | None = None,
) -> NewSession:
    """Open a session for ``account`` (expired sessions of anyone are swept meanwhile)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=hours)
    with _as_store(store).write() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
        conn.execute(
            insert(web_sessions).values(
                sha256=_digest(token),
                account=account.name,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires,
            )
        )
    return NewSession(token, csrf, account, expires)


def find_session(
    store: Store | Engine, token: str, *, now: dt.datetime | None = None
) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, or account deleted)."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    query = (
        select(web_sessions.c.csrf_token, web_sessions.c.expires_at, accounts)
        .join(accounts, accounts.c.name == web_sessions.c.account)
        .where(web_sessions.c.sha256 == _digest(token))
    )
    with _as_store(store).read() as conn:
        row = conn.execute(query).first()
    if row is None or as_utc(row.expires_at) <= now:
        return None
    return Session(_account(row), row.csrf_token, as_utc(row.expires_at))


def end_session(store: Store | Engine, token: str) -> None:
    """Sign out: the cookie's session is deleted (revoked) server-side."""
    with _as_store(store).write() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.sha256 == _digest(token)))
