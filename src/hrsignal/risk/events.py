"""The one activity event model every importer maps to, and the policies are written against.

Each source (Purview audit log, Defender advanced hunting, the CERT dataset layout, a generic
file with a mapping) is turned into rows of :data:`EVENT_COLUMNS`. Times are naive UTC
timestamps: DuckDB casts a ``TIMESTAMPTZ`` to a date in the *session* time zone, and the day a
user acted on must not depend on the analyst's machine.

``activity`` takes one of :data:`ACTIVITIES` (names follow Purview's audit and Endpoint DLP
operations where one exists, so an analyst recognises them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: column name -> DuckDB type, in storage order. ``day`` and ``source`` are also the Parquet
#: partition keys (``source=X/day=YYYY-MM-DD``).
EVENT_COLUMNS: dict[str, str] = {
    "time": "TIMESTAMP",  # naive UTC
    "user": "VARCHAR",  # lower-cased UPN (or the source's account id when no UPN is known)
    "device": "VARCHAR",
    "activity": "VARCHAR",  # one of ACTIVITIES
    "object": "VARCHAR",  # the file, URL or message acted on
    "target": "VARCHAR",  # where it went: a path, a recipient list, a share
    "bytes": "BIGINT",
    "attachments": "INTEGER",  # number of email attachments
    "destination_domain": "VARCHAR",
    "removable_media": "BOOLEAN",
    "external": "BOOLEAN",  # destination outside the organisation (None = unknown)
    "sensitivity": "VARCHAR",  # sensitivity label name, if any
    "url_category": "VARCHAR",  # job_search, cloud_storage, ... for web visits
    "record_id": "VARCHAR",  # the source's own record id, to find the raw record again
}

#: The activity vocabulary. Unknown source operations are counted and reported by importers.
ACTIVITIES: dict[str, str] = {
    "FileDownloaded": "downloaded a file from SharePoint/OneDrive/Teams",
    "FileSyncDownloaded": "synced a library to a device",
    "FileUploaded": "uploaded a file to SharePoint/OneDrive",
    "FileAccessed": "opened a file",
    "FileCreated": "created a file on a device",
    "FileModified": "modified a file",
    "FileSharedExternally": "shared a file or folder with someone outside the organisation",
    "FileSharedInternally": "shared a file or folder inside the organisation",
    "EmailSent": "sent an email",
    "FileCopiedToRemovableMedia": "copied a file to USB / removable media",
    "FileUploadedToCloud": "uploaded a file to a cloud service through a browser",
    "FilePrinted": "printed a file",
    "FileCopiedToNetworkShare": "copied a file to a network share",
    "FileCopiedToRemoteDesktopSession": "copied a file to a remote desktop session",
    "FileTransferredByBluetooth": "transferred a file over Bluetooth",
    "FileArchived": "created an archive",
    "FileRenamed": "renamed a file",
    "FileDeleted": "deleted a file",
    "SensitivityLabelDowngraded": "downgraded or removed a sensitivity label",
    "RemovableMediaMounted": "connected a removable drive",
    "RemovableMediaUnmounted": "disconnected a removable drive",
    "Logon": "logged on",
    "Logoff": "logged off",
    "WebVisit": "visited a web site",
    "MalwareDetected": "malware was detected on the user's device",
    "SecurityToolTampered": "tried to tamper with a security tool",
    "UnallowedSoftwareInstalled": "installed unallowed software",
}

#: Web domains by category, for browsing indicators (design: a small built-in list; extend it
#: with a generic import mapping's ``url_categories``).
URL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "job_search": (
        "linkedin.com",
        "indeed.com",
        "monster.com",
        "careerbuilder.com",
        "glassdoor.com",
        "simplyhired.com",
        "jobhuntersbible.com",
        "craigslist.org",
        "stepstone.de",
        "hired.com",
    ),
    "cloud_storage": (
        "dropbox.com",
        "drive.google.com",
        "wetransfer.com",
        "mega.nz",
        "box.com",
        "mediafire.com",
        "4shared.com",
        "onedrive.live.com",
        "icloud.com",
    ),
    "leak_site": ("wikileaks.org",),
    "personal_email": ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "proton.me"),
}


def url_category_sql(domain_expr: str) -> str:
    """A SQL CASE that names the category of the domain in ``domain_expr`` (or NULL)."""
    arms = []
    for category, domains in URL_CATEGORIES.items():
        conds = " OR ".join(
            f"{domain_expr} = '{d}' OR ends_with({domain_expr}, '.{d}')" for d in domains
        )
        arms.append(f"WHEN {conds} THEN '{category}'")
    return "CASE " + " ".join(arms) + " ELSE NULL END"


@dataclass(slots=True)
class ImportReport:
    """What one import read, stored, and could not use (by reason), with a few examples."""

    source: str
    path: str
    import_id: str = ""
    read: int = 0
    stored: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    first_day: str | None = None
    last_day: str | None = None
    seconds: float = 0.0
    skipped_duplicate: bool = False

    @property
    def rejected_total(self) -> int:
        """Records read but not stored (malformed or of an unknown kind)."""
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hrsignal risk import --format json``."""
        return {
            "source": self.source,
            "path": self.path,
            "import_id": self.import_id,
            "read": self.read,
            "stored": self.stored,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": self.rejected_total,
            "examples": self.examples,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "seconds": round(self.seconds, 3),
            "skipped_duplicate": self.skipped_duplicate,
        }
