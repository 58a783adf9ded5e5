"""Sign-in, and the analysts' pages: people in scope, alerts, an alert, triage and reveal.

Analysts and investigators see these pages (admins do not: like Purview's role groups, the
people who configure connectors are not the people who read alerts). Names are pseudonyms
unless an investigator presses "Reveal identity", which is a POST (a prefetch or a link cannot
trigger it) and is written to the risk store's reveal audit with the account's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from hrsignal.errors import AuthError, NotFoundError, UsageError
from hrsignal.server.context import state
from hrsignal.store import accounts
from hrsignal.store.identity import utcnow
from hrsignal.web import auth
from hrsignal.web.auth import PAGES_RISK, REVEAL, SignedIn, Viewer
from hrsignal.web.charts import timeline_svg
from hrsignal.web.render import PageRoute, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SEVERITIES = ("high", "medium", "low")
STATUSES = ("needs_review", "confirmed", "dismissed", "resolved")
SORTS = ("score", "severity", "policy", "status", "user", "last_day", "days")
#: Triage button -> alert status.
ACTIONS = {
    "confirm": "confirmed",
    "dismiss": "dismissed",
    "resolve": "resolved",
    "reopen": "needs_review",
}
_throttle = auth.AddressThrottle()


def risk_dir(request: Request) -> Path:
    """The analytics store this server reads (``serve --risk-dir``)."""
    from hrsignal.risk.store import default_data_dir

    configured = state(request).settings.risk_dir
    return Path(configured) if configured else default_data_dir()


def _has_data(data_dir: Path) -> bool:
    return (data_dir / "risk.duckdb").exists()


def home_of(person: Viewer) -> str:
    """Where a role lands after signing in."""
    return "/connectors" if person.is_admin else "/alerts"


def _safe_next(target: str | None) -> str | None:
    """Only a local path (not ``//host``, not a scheme) may be the post-sign-in target."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


async def _form(request: Request) -> dict[str, str]:
    form = await auth.read_form(request)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.get("/")
async def home(request: Request, person: SignedIn) -> Response:
    """The signed-in role's start page."""
    return redirect(home_of(person))


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form (with a fresh double-submit CSRF cookie)."""
    return _signin_page(request, next=_safe_next(next))


def _signin_page(
    request: Request,
    *,
    next: str | None,
    error: str | None = None,
    name: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = auth.new_signin_token()
    response = page(
        request, "signin.html", None, status=status, csrf=token, next=next, error=error, name=name
    )
    auth.set_cookie(response, request, auth.SIGNIN_CSRF_COOKIE, token, max_age=3600)
    response.headers.update(headers or {})
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the password; on success open a session and set its cookie."""
    form = await _form(request)
    auth.check_signin_csrf(request, form.get("csrf_token"))
    name = form.get("name", "").strip()
    target = _safe_next(form.get("next"))
    address = request.client.host if request.client else "unknown"
    wait = _throttle.retry_after(address)
    if wait:
        return _signin_page(
            request,
            next=target,
            name=name,
            error=f"Too many failed sign-ins from your address; try again in {wait} s.",
            status=429,
            headers={"Retry-After": str(wait)},
        )
    store = state(request).store
    try:
        account = await anyio.to_thread.run_sync(
            lambda: accounts.authenticate(store, name, form.get("password", ""))
        )
    except accounts.SignInThrottledError as exc:
        return _signin_page(
            request,
            next=target,
            name=name,
            error=f"This account is locked after repeated failed sign-ins; "
            f"try again in {exc.retry_after} s.",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except AuthError:
        _throttle.failed(address)
        return _signin_page(
            request, next=target, name=name, error="Wrong account name or password.", status=401
        )
    previous = request.cookies.get(auth.SESSION_COOKIE, "")

    def switch() -> accounts.NewSession:
        if previous:  # signing in again (maybe as someone else) ends the old session
            accounts.end_session(store, previous)
        return accounts.open_session(store, account)

    session = await anyio.to_thread.run_sync(switch)
    person = Viewer(account.name, account.role, session.csrf_token)
    response = redirect(target or home_of(person))
    max_age = int((session.expires_at - utcnow()).total_seconds())
    auth.set_cookie(response, request, auth.SESSION_COOKIE, session.token, max_age=max_age)
    response.delete_cookie(auth.SIGNIN_CSRF_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request, person: SignedIn) -> Response:
    """End the session server-side and clear its cookie."""
    form = await _form(request)
    auth.check_csrf(request, person, form.get("csrf_token"))
    token = request.cookies.get(auth.SESSION_COOKIE, "")
    await anyio.to_thread.run_sync(lambda: accounts.end_session(state(request).store, token))
    response = redirect("/signin")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise UsageError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


@router.get("/alerts")
async def alerts_page(
    request: Request,
    person: SignedIn,
    severity: str | None = None,
    policy: str | None = None,
    status: str | None = None,
    sort: str = "score",
    order: str = "desc",
) -> Response:
    """Alerts, filterable by severity, policy and status, sortable by any column."""
    from hrsignal.risk.alerts import list_alerts

    auth.require_role(person, PAGES_RISK, "the alert list")
    sev = _choice(severity, SEVERITIES, "severity")
    stat = _choice(status, STATUSES, "status")
    key = _choice(sort, SORTS, "sort") or "score"
    direction = _choice(order, ("asc", "desc"), "order") or "desc"
    data_dir = risk_dir(request)
    items: list[dict[str, Any]] = []
    policies: list[str] = []
    if _has_data(data_dir):
        everything = await anyio.to_thread.run_sync(lambda: list_alerts(data_dir))
        policies = sorted({a["policy"] for a in everything})
        items = [
            a
            for a in everything
            if (sev is None or a["severity"] == sev)
            and (policy in (None, "") or a["policy"] == policy)
            and (stat is None or a["status"] == stat)
        ]
        rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}

        def sort_key(a: dict[str, Any]) -> Any:
            value = rank.get(a["severity"], -1) if key == "severity" else a[key]
            return (value is None, value if value is not None else 0, a["id"])

        items.sort(key=sort_key, reverse=direction == "desc")
    return page(
        request,
        "alerts.html",
        person,
        alerts=items,
        has_data=_has_data(data_dir),
        policies=policies,
        severities=SEVERITIES,
        statuses=STATUSES,
        filters={"severity": sev or "", "policy": policy or "", "status": stat or ""},
        sort=key,
        order=direction,
        columns=[
            ("id", "Alert"),
            ("severity", "Severity"),
            ("score", "Score"),
            ("user", "User"),
            ("policy", "Policy"),
            ("last_day", "Activity"),
            ("days", "Days"),
            ("status", "Status"),
        ],
    )


async def _alert_page(
    request: Request, person: Viewer, alert_id: str, *, reveal: bool, message: str | None = None
) -> Response:
    from hrsignal.risk.alerts import get_alert, triage_history
    from hrsignal.risk.people import alert_timeline
    from hrsignal.risk.store import RiskStore

    data_dir = risk_dir(request)
    if not _has_data(data_dir):
        raise NotFoundError(f"no alert {alert_id!r}: no risk data yet")

    def load() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        store = RiskStore(data_dir)
        with store.session():  # one connection for the three reads
            alert = get_alert(store, alert_id, reveal=reveal, actor=person.name, max_events=50)
            return alert, alert_timeline(store, alert_id), triage_history(store, alert_id)

    alert, days, history = await anyio.to_thread.run_sync(load)
    trig = alert.get("trigger") or {}
    trigger_day = str(trig.get("ResignationDate") or trig.get("EffectiveDate") or "")[:10]
    chart = timeline_svg(
        days,
        chart_id="alert-chart",
        title=f"Daily activity of {alert['user']} against their own baseline",
        trigger_day=trigger_day or None,
        last_day=str(trig.get("LastWorkingDate") or "")[:10] or None,
    )
    return page(
        request,
        "alert.html",
        person,
        alert=alert,
        days=days,
        chart=chart,
        history=history,
        revealed=reveal,
        message=message,
    )


@router.get("/alerts/{alert_id}")
async def alert_page(request: Request, alert_id: str, person: SignedIn) -> Response:
    """One alert: explanation, activity chart, events, triage."""
    auth.require_role(person, PAGES_RISK, "alerts")
    return await _alert_page(request, person, alert_id, reveal=False)


@router.post("/alerts/{alert_id}/reveal")
async def alert_reveal(request: Request, alert_id: str, person: SignedIn) -> Response:
    """Investigators only: the alert with real names (audited)."""
    form = await _form(request)
    auth.check_csrf(request, person, form.get("csrf_token"))
    auth.require_role(person, REVEAL, "revealing identities")
    return await _alert_page(
        request,
        person,
        alert_id,
        reveal=True,
        message=f"Identity revealed; recorded in the reveal audit as {person.name}.",
    )


@router.post("/alerts/{alert_id}/triage")
async def alert_triage(request: Request, alert_id: str, person: SignedIn) -> Response:
    """Confirm (a case), dismiss (with a reason), resolve or reopen; who and when recorded."""
    from hrsignal.risk.alerts import set_alert_status

    form = await _form(request)
    auth.check_csrf(request, person, form.get("csrf_token"))
    auth.require_role(person, PAGES_RISK, "triage")
    action = form.get("action", "")
    if action not in ACTIONS:
        raise UsageError(f"unknown triage action {action!r}")
    reason = form.get("reason", "").strip()[:1000] or None
    if action == "dismiss" and not reason:
        raise UsageError(
            "a dismissal needs a reason", hint="say why the activity is benign, then dismiss"
        )
    data_dir = risk_dir(request)
    if not _has_data(data_dir):
        raise NotFoundError(f"no alert {alert_id!r}: no risk data yet")
    await anyio.to_thread.run_sync(
        lambda: set_alert_status(data_dir, alert_id, ACTIONS[action], reason, actor=person.name)
    )
    return redirect(f"/alerts/{alert_id}")


@router.get("/people")
async def people_page(request: Request, person: SignedIn, policy: str | None = None) -> Response:
    """Users in a policy's window: trigger, last working date, days left."""
    from hrsignal.risk.people import as_of_day, people_in_scope

    auth.require_role(person, PAGES_RISK, "people in scope")
    data_dir = risk_dir(request)
    people: list[dict[str, Any]] = []
    as_of = None
    if _has_data(data_dir):
        people = await anyio.to_thread.run_sync(
            lambda: people_in_scope(data_dir, policy=policy or None)
        )
        as_of = await anyio.to_thread.run_sync(lambda: as_of_day(data_dir))
    return page(
        request,
        "people.html",
        person,
        people=people,
        as_of=as_of,
        has_data=_has_data(data_dir),
        policy=policy or "",
    )


async def _person_page(
    request: Request, person: Viewer, policy: str, alias: str, *, reveal: bool
) -> Response:
    from hrsignal.risk.people import person_timeline

    data_dir = risk_dir(request)
    if not _has_data(data_dir):
        raise NotFoundError("no risk data yet")
    someone = await anyio.to_thread.run_sync(
        lambda: person_timeline(data_dir, policy, alias, reveal=reveal, actor=person.name)
    )
    chart = timeline_svg(
        someone["timeline"],
        chart_id="person-chart",
        title=f"Daily activity of {someone['user']} against their own baseline",
        trigger_day=someone["trigger_date"],
        last_day=someone["last_working_date"],
    )
    return page(request, "person.html", person, someone=someone, chart=chart, revealed=reveal)


@router.get("/people/{policy}/{alias}")
async def person_page(request: Request, policy: str, alias: str, person: SignedIn) -> Response:
    """One person in scope: their daily activity against their own baseline."""
    auth.require_role(person, PAGES_RISK, "people in scope")
    return await _person_page(request, person, policy, alias, reveal=False)


@router.post("/people/{policy}/{alias}/reveal")
async def person_reveal(request: Request, policy: str, alias: str, person: SignedIn) -> Response:
    """Investigators only: the person's real name (audited)."""
    form = await _form(request)
    auth.check_csrf(request, person, form.get("csrf_token"))
    auth.require_role(person, REVEAL, "revealing identities")
    return await _person_page(request, person, policy, alias, reveal=True)
