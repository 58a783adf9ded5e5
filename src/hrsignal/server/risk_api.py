"""The risk API: alerts and each user's insider risk level, for other controls to act on.

``GET /api/risk/levels`` (``?format=csv`` for an export), ``GET /api/risk/alerts``
(``?policy=&severity=&status=``) and ``GET /api/risk/alerts/{alert_id}`` (with its
explanation). Protected like the admin API. Users are pseudonymised unless ``?reveal=true``;
every reveal is written to the risk store's audit with the caller's identity.

The analytics store is the server's ``risk_dir`` setting (``hrsignal serve --risk-dir``,
default: the one ``hrsignal risk`` uses). A store that does not exist yet answers empty lists
(nothing has been run), never creates one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from hrsignal.errors import NotFoundError
from hrsignal.server.admin import require_admin
from hrsignal.server.context import state

router = APIRouter(prefix="/api/risk", tags=["risk"])

#: Columns of the levels export, in order.
LEVEL_FIELDS = ("user", "level", "previous", "since", "alert_id")


def _risk_dir(request: Request) -> Path:
    from hrsignal.risk.store import default_data_dir

    configured = state(request).settings.risk_dir
    return Path(configured) if configured else default_data_dir()


def _exists(data_dir: Path) -> bool:
    return (data_dir / "risk.duckdb").exists()


def _actor(who: str) -> str:
    return f"api:{who}"


@router.get("/levels", response_model=None)
async def risk_levels(
    request: Request,
    reveal: bool = False,
    format: Literal["json", "csv"] = "json",
    who: str = Depends(require_admin),
) -> Response:
    """Every user's current insider risk level (minor / moderate / elevated, or none)."""
    from hrsignal.risk.alerts import user_risk_levels

    data_dir = _risk_dir(request)
    levels: list[dict[str, Any]] = []
    if _exists(data_dir):
        levels = await anyio.to_thread.run_sync(
            lambda: user_risk_levels(data_dir, reveal=reveal, actor=_actor(who))
        )
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LEVEL_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: level.get(k) for k in LEVEL_FIELDS} for level in levels)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="risk-levels.csv"'},
        )
    return JSONResponse({"levels": levels, "revealed": reveal})


@router.get("/alerts")
async def alerts(
    request: Request,
    policy: str | None = None,
    severity: Literal["low", "medium", "high"] | None = None,
    status: Literal["needs_review", "confirmed", "dismissed", "resolved"] | None = None,
    reveal: bool = False,
    who: str = Depends(require_admin),
) -> JSONResponse:
    """Alerts, most severe first, optionally filtered."""
    from hrsignal.risk.alerts import list_alerts

    data_dir = _risk_dir(request)
    found: list[dict[str, Any]] = []
    if _exists(data_dir):
        found = await anyio.to_thread.run_sync(
            lambda: list_alerts(
                data_dir,
                reveal=reveal,
                policy=policy,
                severity=severity,
                status=status,
                actor=_actor(who),
            )
        )
    return JSONResponse({"alerts": found, "revealed": reveal})


@router.get("/alerts/{alert_id}")
async def alert(
    request: Request, alert_id: str, reveal: bool = False, who: str = Depends(require_admin)
) -> JSONResponse:
    """One alert with its explanation (trigger, indicators, baseline, peers, sequences,
    timeline and the events behind it)."""
    from hrsignal.risk.alerts import get_alert

    data_dir = _risk_dir(request)
    if not _exists(data_dir):
        raise NotFoundError(f"no alert {alert_id!r}: no risk data yet")
    found = await anyio.to_thread.run_sync(
        lambda: get_alert(data_dir, alert_id, reveal=reveal, actor=_actor(who))
    )
    return JSONResponse(found)
