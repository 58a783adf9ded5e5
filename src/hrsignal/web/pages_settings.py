"""The admins' settings page: the service's configuration (read-only), dashboard accounts
(create, delete) and the reveal audit (who revealed which alert or pseudonym, and when).

Accounts can also be managed with ``hrsignal users``; the page exists so that an admin can give
an analyst a sign-in without shell access. An admin cannot delete their own account here (the
last admin could lock everyone out of the settings).
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from hrsignal.errors import UsageError
from hrsignal.server.context import state
from hrsignal.store import accounts
from hrsignal.web.pages_admin import AdminViewer, posted
from hrsignal.web.pages_risk import risk_dir
from hrsignal.web.render import PageRoute, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _settings_rows(request: Request) -> list[tuple[str, str]]:
    st = state(request)
    s = st.settings
    window = s.date_window
    return [
        ("Database", st.store.display_url),
        ("Risk data directory", str(risk_dir(request))),
        ("Public URL", s.public_url or "(the request's own)"),
        ("Accepted token resources", ", ".join(s.resources)),
        ("Access-token lifetime", f"{s.token_lifetime_s} s"),
        ("Largest upload", f"{s.max_body_bytes // 2**20} MiB"),
        (
            "LastWorkingDate window",
            "off"
            if window is None
            else f"{window.past_days} days past to {window.future_days} days ahead",
        ),
        ("Retention", f"{s.retention_days} days" if s.retention_days else "keep"),
        ("Employee-profile retention", f"{s.profile_retention_days} days"),
        ("Sign-in lock", f"after {accounts.FREE_FAILURES} failures, from 30 s up to 15 min"),
        ("Session lifetime", f"{accounts.SESSION_HOURS} hours"),
    ]


@router.get("/settings")
async def settings_page(request: Request, person: AdminViewer) -> Response:
    """Configuration, accounts and the reveal audit."""
    from hrsignal.risk.people import reveal_audit

    store = state(request).store
    data_dir = risk_dir(request)

    def load() -> tuple[list[accounts.Account], list[dict[str, Any]]]:
        audit = reveal_audit(data_dir) if (data_dir / "risk.duckdb").exists() else []
        return accounts.list_accounts(store), audit

    people, audit = await anyio.to_thread.run_sync(load)
    return page(
        request,
        "settings.html",
        person,
        settings=_settings_rows(request),
        accounts=people,
        roles=accounts.ROLES,
        audit=audit,
    )


@router.post("/settings/accounts")
async def account_create(request: Request, person: AdminViewer) -> Response:
    """Create a dashboard account."""
    form = await posted(request, person)
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    password = str(form.get("password", ""))
    await anyio.to_thread.run_sync(
        lambda: accounts.create_account(
            state(request).store, name=name, role=role, password=password
        )
    )
    return redirect("/settings")


@router.post("/settings/accounts/{name}/delete")
async def account_delete(request: Request, name: str, person: AdminViewer) -> Response:
    """Delete an account (not one's own) and end its sessions."""
    await posted(request, person)
    if name == person.name:
        raise UsageError(
            "you cannot delete the account you are signed in with",
            hint="sign in as another admin, or use 'hrsignal users delete'",
        )
    await anyio.to_thread.run_sync(lambda: accounts.delete_account(state(request).store, name))
    return redirect("/settings")
