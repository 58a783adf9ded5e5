"""The demo's chain, step by step, on the bundled example organisation (``demo/data``).

Each step calls the same library functions the commands do (``hrsignal apps create``,
``connectors create --sample``, ``upload``, ``risk import``, ``risk run --db``); nothing is
faked. The steps report what they did through a :class:`Narrator` and return plain data, so
the CLI decides how it looks and a test can check the numbers.

The demo directory is started afresh on every run (its database, risk store and upload state
are removed; the TLS files are kept while valid), so a second run shows exactly what the first
did. A directory that does not look like a demo directory is never emptied.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import platformdirs

from hrsignal.errors import ConfigError, ConflictError, HrsignalError, UsageError

if TYPE_CHECKING:
    from hrsignal.demo.service import DemoService
    from hrsignal.store.engine import Store

#: The bundled example: ``examples/activity`` of the repository, shipped as package data.
DATA_DIR = Path(__file__).parent / "data"
#: The example organisation's reference date (examples/activity/README.md): its resignations
#: and activity are dated around it, so the demo's clock is pinned there by default.
REFERENCE_NOW = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
#: The file uploaded through the connector (the trigger of the departing-user policies).
HR_FILE = "hr-resignations.csv"
PROFILE_FILE = "employee-profile.csv"
#: (source, file, mapping) imported into the risk store.
ACTIVITY = (
    ("purview-audit", "purview-audit.csv.gz", None),
    ("generic", "proxy.jsonl.gz", "proxy-mapping.yaml"),
)
#: One dashboard account per role, so each view can be tried.
ROLES = ("admin", "analyst", "investigator")

_MARKER = ".hrsignal-demo"
_LOCK = "demo.lock"
#: What a fresh start removes (everything the demo writes except its TLS files).
_OWNED = (
    "hrsignal.db",
    "hrsignal.db-wal",
    "hrsignal.db-shm",
    "hrsignal.db-journal",
    "risk",
    "state",
    "uploader.secret",
)


def default_demo_dir() -> Path:
    """``hrsignal/demo`` in the user's data directory."""
    return Path(platformdirs.user_data_dir("hrsignal")) / "demo"


def bundled(name: str) -> Path:
    """A bundled example file; a clear error when the installation lacks it."""
    path = DATA_DIR / name
    if not path.is_file():
        raise ConfigError(
            f"the bundled example {name} is missing from {DATA_DIR}",
            hint="reinstall hrsignal (pip install -e . from a clone keeps examples/activity)",
        )
    return path


class Narrator(Protocol):
    """Where the chain reports its steps (the CLI prints them)."""

    def step(self, title: str, text: str) -> None:
        """A step finished: a short title and one line of what happened."""

    def detail(self, text: str) -> None:
        """A further line under the last step."""


@dataclass(slots=True)
class UploadResult:
    """What the uploader sent and what the service's upload log says it saved."""

    file: str
    rows_sent: int
    calls: int
    records_received: int
    records_saved: int
    records_rejected: int


@dataclass(slots=True)
class DemoAccount:
    """A dashboard sign-in created for the demo (its password is generated per run)."""

    name: str
    role: str
    password: str = field(repr=False)


@dataclass(slots=True)
class DemoResult:
    """Everything the demo did, for the CLI to show and the tests to check."""

    directory: Path
    url: str
    ca_path: Path
    tenant_id: str = ""
    app_id: str = ""
    job_id: str = ""
    #: The uploader app's secret, in a 0600 file, for trying ``hrsignal upload`` by hand.
    secret_file: Path | None = None
    upload: UploadResult | None = None
    events: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: Alerts, most severe first: id, severity, score, policy, days, pseudonym, user, top.
    alerts: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[DemoAccount] = field(default_factory=list)
    #: Why there are no accounts, when the dashboard's account store is not installed.
    accounts_note: str | None = None


# -- the demo directory ---------------------------------------------------------------------


@contextlib.contextmanager
def demo_directory(directory: Path) -> Iterator[Path]:
    """Hold the demo directory for the run: refuse a foreign non-empty directory, refuse a
    second demo on the same directory, and remove the previous run's data."""
    from hrsignal.client.checkpoint import exclusive_lock

    directory = directory.expanduser().resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        foreign = [p.name for p in directory.iterdir() if p.name not in (_MARKER, _LOCK)]
    except OSError as exc:
        raise UsageError(
            f"{directory}: cannot use it as the demo directory ({exc.strerror})",
            hint="pass --dir with a writable folder",
        ) from None
    if foreign and not (directory / _MARKER).exists():
        raise UsageError(
            f"{directory} is not empty and was not made by 'hrsignal demo'; the demo starts "
            "afresh on each run and will not delete files it did not create",
            hint="pass --dir with a new or empty folder",
        )
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(directory / _LOCK, f"the demo directory {directory}"))
        except ConflictError:
            raise ConflictError(
                f"another 'hrsignal demo' is running on {directory}",
                hint="stop it (Ctrl-C in its terminal), or pass --dir with another folder",
            ) from None
        for name in _OWNED:
            target = directory / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        (directory / _MARKER).write_text(
            "made by 'hrsignal demo'; its contents are replaced on every run\n", encoding="utf-8"
        )
        yield directory


# -- the steps --------------------------------------------------------------------------------


def register(store: Store, result: DemoResult, narrator: Narrator) -> str:
    """Register an uploader app and create the resignations connector; return the secret."""
    from hrsignal.scenarios import open_validation
    from hrsignal.server.admin import build_mapping
    from hrsignal.store import connectors, identity

    tenant = identity.default_tenant(store)
    new = identity.create_app(store, "demo-uploader", tenant_id=tenant, expires_in_days=30)
    result.tenant_id, result.app_id = new.app.tenant_id, new.app.app_id
    result.secret_file = result.directory / "uploader.secret"
    fd = os.open(result.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(new.secret)
    narrator.step(
        "app",
        f"demo-uploader registered: app id {new.app.app_id}, tenant {new.app.tenant_id}, "
        f"secret in {result.secret_file.name} (0600)",
    )
    sample = bundled(HR_FILE)
    with open_validation(sample, scenario="resignations") as run:
        for _ in run:
            break
        header = run.header
    connector = connectors.create_connector(
        store,
        name="resignations",
        app_id=new.app.app_id,
        scenarios=["resignations"],
        mapping=build_mapping(["resignations"], None, header),
    )
    result.job_id = connector.job_id
    narrator.step(
        "connector",
        f"resignations: job id {connector.job_id}, mapping proposed from {HR_FILE} "
        f"({', '.join(header)})",
    )
    return new.secret


def upload(
    store: Store,
    result: DemoResult,
    narrator: Narrator,
    *,
    secret: str,
    state_dir: Path,
    now: dt.datetime,
) -> UploadResult:
    """Upload the example HR file with the real uploader, over loopback TLS; compare what was
    sent with what the service's upload log says it saved."""
    from hrsignal.client.clouds import resolve_endpoints
    from hrsignal.client.credentials import Secret
    from hrsignal.client.uploader import UploadSettings, upload_file
    from hrsignal.scenarios import ValidationOptions
    from hrsignal.store import uploads

    endpoints = resolve_endpoints(
        tenant_id=result.tenant_id,
        app_id=result.app_id,
        job_id=result.job_id,
        login_url=result.url,
        ingestion_url=result.url,
    )
    settings = UploadSettings(
        endpoints=endpoints,
        credential=Secret(secret),
        state_dir=state_dir,
        scenario="resignations",
        options=ValidationOptions(now=now),
        verify=str(result.ca_path),
        connect_timeout=10.0,
        read_timeout=60.0,
    )
    summary = upload_file(bundled(HR_FILE), settings)
    if summary.exit_code != 0:
        reason = summary.error.message if summary.error else summary.status
        raise HrsignalError(f"the demo upload of {HR_FILE} failed: {reason}")
    log = uploads.list_uploads(store, result.job_id)
    done = UploadResult(
        file=HR_FILE,
        rows_sent=summary.valid_records,
        calls=summary.chunks_sent,
        records_received=sum(e.records_received for e in log),
        records_saved=sum(e.records_saved for e in log),
        records_rejected=sum(e.records_rejected for e in log),
    )
    result.upload = done
    narrator.step(
        "upload",
        f"{HR_FILE}: {done.rows_sent} rows validated and sent in {done.calls} "
        f"call{'' if done.calls == 1 else 's'} by "
        "hrsignal.client (msal token from the service, over TLS)",
    )
    verdict = "= rows sent" if done.records_saved == done.rows_sent else "!= rows sent"
    narrator.detail(
        f"service upload log: RecordsReceived {done.records_received}, "
        f"RecordsSaved {done.records_saved} ({verdict}), RecordsRejected {done.records_rejected}"
    )
    return done


def detect(
    risk_dir: Path, db_url: str, result: DemoResult, narrator: Narrator
) -> list[dict[str, Any]]:
    """Import the example activity, take the triggers from the connector store, run every
    policy, update risk levels; return the alerts (most severe first)."""
    from hrsignal.risk.alerts import list_alerts
    from hrsignal.risk.engine import RunOptions, run_policies
    from hrsignal.risk.hr import hr_from_csv, hr_from_db, save_triggers
    from hrsignal.risk.importers import import_activity
    from hrsignal.risk.levels import update_levels
    from hrsignal.risk.policy import available_policies, select_policies
    from hrsignal.risk.store import RiskStore

    store = RiskStore(risk_dir)
    for source, name, mapping in ACTIVITY:
        report = import_activity(
            store, source, bundled(name), mapping=bundled(mapping) if mapping else None
        )
        result.events[name] = report.stored
        narrator.step(
            "activity",
            f"{name} ({source}): read {report.read:,} records, stored {report.stored:,} events",
        )
    triggers = hr_from_db(db_url)
    # The store's contract carries no departments: the profile file fills the directory, for
    # the peer comparison in the explanations.
    _, directory, _ = hr_from_csv(bundled(PROFILE_FILE))
    with store.connect() as con:
        n = save_triggers(con, triggers, origin="db", directory=directory)
    narrator.step(
        "triggers", f"{n} HR record(s) read back from the connector's store (the upload above)"
    )
    policies = select_policies(available_policies(store.data_dir / "policies"), None)
    for s in run_policies(store, policies, RunOptions(full=True)):
        result.runs.append(s.to_dict())
        narrator.step(
            "policy",
            f"{s.policy}: {s.users_in_scope} user(s) in scope, {s.alerting_days} alerting "
            f"day(s), {s.alerts_total} alert(s) [{s.seconds:.1f}s]",
        )
    with store.connect() as con:
        update_levels(con, as_of=store.max_event_day())
    named = list_alerts(store, reveal=True)  # recorded in the reveal audit, like any reveal
    masked = {a["id"]: a["user"] for a in list_alerts(store)}
    result.alerts = [
        {
            "id": a["id"],
            "severity": a["severity"],
            "score": a["score"],
            "policy": a["policy"],
            "first_day": a["first_day"],
            "last_day": a["last_day"],
            "days": a["days"],
            "pseudonym": masked[a["id"]],
            "user": a["user"],
            "top": ", ".join(
                f"{k} {v['events']}"
                for k, v in sorted(a["indicators"].items(), key=lambda kv: -kv[1]["events"])[:3]
            ),
        }
        for a in named
    ]
    return result.alerts


def create_accounts(store: Store, result: DemoResult) -> None:
    """One dashboard account per role, each with a generated password."""
    try:
        from hrsignal.store.accounts import create_account
    except ImportError:  # a build without the dashboard's accounts
        result.accounts_note = "this build has no dashboard accounts (hrsignal.store.accounts)"
        return
    for role in ROLES:
        account = DemoAccount(f"demo-{role}", role, secrets.token_urlsafe(12))
        create_account(store, name=account.name, role=account.role, password=account.password)
        result.accounts.append(account)


# -- the whole chain --------------------------------------------------------------------------


@contextlib.contextmanager
def run_demo(
    directory: Path, *, port: int, now: dt.datetime, narrator: Narrator
) -> Iterator[tuple[DemoResult, DemoService]]:
    """Run the chain; yield the result and the still-running service, stop it on exit.

    The service stores everything under ``directory`` (SQLite ``hrsignal.db``, the analytics
    store ``risk/``, upload checkpoints ``state/``, the demo CA ``tls/``). It does not check the
    LastWorkingDate window (the bundled example is fixed in 2026, the window moves with the
    clock); the uploader checks it against ``now``.
    """
    from hrsignal.demo.service import DemoService
    from hrsignal.demo.tls import ensure_tls
    from hrsignal.server.settings import Settings
    from hrsignal.store.engine import open_store

    with demo_directory(directory) as home:
        tls = ensure_tls(home / "tls")
        db_url = f"sqlite:///{home / 'hrsignal.db'}"
        store = open_store(db_url)
        try:
            settings = Settings(
                db_url=db_url, date_window=None, access_log=False, risk_dir=str(home / "risk")
            )
            with DemoService(settings, store, tls, host="127.0.0.1", port=port) as service:
                result = DemoResult(home, service.url, tls.ca_path)
                narrator.step(
                    "service",
                    f"{service.url} with TLS (demo CA {tls.ca_path}), database {store.display_url}",
                )
                secret = register(store, result, narrator)
                upload(
                    store,
                    result,
                    narrator,
                    secret=secret,
                    state_dir=home / "state",
                    now=now,
                )
                detect(home / "risk", db_url, result, narrator)
                create_accounts(store, result)
                yield result, service
        finally:
            store.dispose()
