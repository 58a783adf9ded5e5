"""Stable per-deployment pseudonyms for user names.

``pseudonym(key, user)`` is a keyed HMAC-SHA256 of the case-folded user name, shown as
``u-`` and 12 base32 characters: the same user gets the same pseudonym in every listing and
every run of one deployment (so analysts can follow a case), and a different one in another
deployment (the key lives in the data directory, ``pseudonym.key``). Without the key a pseudonym
cannot be reversed; with it, :func:`reveal` finds the user by recomputing the pseudonyms of the
known users. Every reveal is recorded in the ``reveals`` table.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac

import duckdb


def pseudonym(key: bytes, user: str) -> str:
    """The pseudonym of ``user`` under ``key``."""
    digest = hmac.new(key, user.casefold().encode("utf-8"), hashlib.sha256).digest()
    return "u-" + base64.b32encode(digest).decode("ascii")[:12].lower()


def known_users(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Users the store knows (alerts, scope, directory, HR triggers, risk levels)."""
    rows = con.execute(
        """SELECT "user" FROM alerts UNION SELECT "user" FROM scope_state
        UNION SELECT "user" FROM directory UNION SELECT "user" FROM hr_triggers
        UNION SELECT "user" FROM risk_levels"""
    ).fetchall()
    return [str(r[0]) for r in rows if r[0] is not None]


def reveal(
    con: duckdb.DuckDBPyConnection, key: bytes, alias: str, *, actor: str | None = None
) -> str | None:
    """The user behind ``alias`` (None if no known user has it); the reveal is recorded."""
    for user in known_users(con):
        if hmac.compare_digest(pseudonym(key, user), alias):
            record_reveal(con, f"pseudonym {alias}", actor=actor)
            return user
    return None


def record_reveal(con: duckdb.DuckDBPyConnection, what: str, *, actor: str | None = None) -> None:
    """Audit that identities were shown: when, by whom (``actor``: a dashboard account or an
    API token's name; else the OS account running the command), what."""
    con.execute("INSERT INTO reveals VALUES (now()::TIMESTAMP, ?, ?)", [actor or _actor(), what])


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without passwd entry
        return "unknown"
