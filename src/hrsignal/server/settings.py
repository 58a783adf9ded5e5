"""Settings of the connector service, built at the edge (the CLI, or a test) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from hrsignal.scenarios import DateWindow

#: Microsoft's ingestion resource since 2025-03 (PR #15), and the one before it.
DEFAULT_RESOURCES = (
    "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1",
    "https://microsoft.onmicrosoft.com/4e476d41-2395-42be-89ff-34cb9186a1ac",
)


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs; no setting is read from the environment here."""

    db_url: str
    #: Accepted token audiences (``resource`` / ``scope`` minus ``/.default``).
    resources: tuple[str, ...] = DEFAULT_RESOURCES
    #: Access-token lifetime (Entra's default is 60-90 minutes).
    token_lifetime_s: int = 3600
    #: Clock skew tolerated on ``exp`` / ``nbf`` of tokens and client assertions.
    leeway_s: int = 120
    #: Largest request body accepted (413 above).
    max_body_bytes: int = 100 * 1024 * 1024
    #: Findings returned in an upload response (all errors are kept in the log).
    max_response_findings: int = 100
    #: LastWorkingDate window checked by the validator (None disables it).
    date_window: DateWindow | None = field(default_factory=DateWindow)
    #: Automatic retention: records whose primary date is older than this many days are
    #: purged (None = keep), and employee-profile records not refreshed in 30 days.
    retention_days: int | None = None
    profile_retention_days: int = 30
    #: How often the automatic retention runs while serving.
    retention_interval_s: float = 3600.0
    #: Public base URL (``https://hr.example.com``) when behind a proxy; else the request's.
    public_url: str | None = None
    #: Emit one JSON access-log line per request.
    access_log: bool = True
    #: The risk engine's analytics store read by the risk API and the dashboard
    #: (None: the default one of ``hrsignal risk``).
    risk_dir: str | None = None
