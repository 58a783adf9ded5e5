"""The insider risk engine: HR-triggered policies over activity logs (``hrsignal risk``).

Python API for the dashboard and the server (see docs/risk.md)::

    from hrsignal.risk import list_alerts, get_alert, user_risk_levels, users_in_scope

    list_alerts(data_dir, reveal=False, policy=None, severity=None, status=None)
    get_alert(data_dir, "A-64ee14497f", reveal=False)     # with its explanation
    user_risk_levels(data_dir, reveal=False)              # minor / moderate / elevated
    users_in_scope(data_dir, policy=None, reveal=False)

``data_dir`` is the analytics store (``None``: the default ``hrsignal/risk`` user data dir).
Users are pseudonymised unless ``reveal=True``, and every reveal is recorded. The names are
imported lazily so that ``import hrsignal.risk`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "get_alert",
    "list_alerts",
    "reveal_user",
    "set_alert_status",
    "triage_history",
    "user_risk_levels",
    "users_in_scope",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("hrsignal.risk.alerts"), name)
    raise AttributeError(f"module 'hrsignal.risk' has no attribute {name!r}")
