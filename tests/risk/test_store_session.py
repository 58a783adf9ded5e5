"""RiskStore.session(): several reads on one connection (the dashboard's alert page)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from hrsignal.risk.store import RiskStore


def test_connect_inside_a_session_is_the_sessions_connection(tmp_path: Path) -> None:
    """On the session's thread every connect() yields the session's connection, which stays
    open across them and is closed when the session ends; writes are seen by later reads."""
    store = RiskStore(tmp_path / "risk")
    with store.session() as con:
        with store.connect() as first:
            assert first is con
            first.execute("CREATE TABLE t (x INTEGER)")
            first.execute("INSERT INTO t VALUES (1)")
        with store.connect(read_only=True) as second, store.session() as nested:
            assert second is con and nested is con
            assert second.execute("SELECT x FROM t").fetchall() == [(1,)]
        con.execute("SELECT 1")  # still open after the inner blocks
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
    with store.connect() as after:
        assert after is not con
        assert after.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_another_thread_does_not_share_the_session(tmp_path: Path) -> None:
    """A session belongs to its thread: another thread's connect() is its own connection."""
    store = RiskStore(tmp_path / "risk")
    seen: list[object] = []
    with store.session() as con:

        def other() -> None:
            try:
                with store.connect() as mine:
                    seen.append(mine)
            except Exception as exc:
                seen.append(exc)

        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
    assert len(seen) == 1 and seen[0] is not con
    assert isinstance(seen[0], duckdb.DuckDBPyConnection)
