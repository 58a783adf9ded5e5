#!/usr/bin/env python3
"""Generate the bundled example organisation's activity (deterministic).

Contoso, 50 users in 5 departments, weekday activity from REFERENCE - 42 days to REFERENCE + 14
days, where REFERENCE = 2026-10-01 (every date in the files is relative to it). Four users
resign (hr-resignations.csv); exactly one of them, diego.siciliani@contoso.com, takes data:
from REFERENCE - 6 to REFERENCE + 3 he downloads project files from SharePoint, archives and
renames them, copies them to a USB drive and deletes the local copies, after two weeks of
job-search browsing. The other three leavers work normally.

Files written (all made up; their layout follows Microsoft's public schemas):

* purview-audit.csv.gz    Purview audit search export (RecordId, CreationDate, RecordType,
                           Operation, UserId, AuditData JSON): SharePoint, Exchange Send and
                           Endpoint DLP records
* proxy.jsonl.gz + proxy-mapping.yaml   web proxy log, imported with the generic importer
* hr-resignations.csv     the HR resignations file (the policies' trigger)
* employee-profile.csv    departments, for peer comparison

Usage: python examples/activity/generate.py [OUTPUT_DIR]   (default: this folder)
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import random
import sys
import uuid
from pathlib import Path

REFERENCE = dt.date(2026, 10, 1)
SEED = 20261001
FIRST = REFERENCE - dt.timedelta(days=42)
LAST = REFERENCE + dt.timedelta(days=14)
ORG = "contoso.com"
THIEF = "diego.siciliani@contoso.com"
LEAVERS = {
    # user: (resignation day offset, last working day offset) relative to REFERENCE
    THIEF: (0, 21),
    "lee.gu@contoso.com": (-5, 10),
    "adele.vance@contoso.com": (2, 30),
    "grady.archie@contoso.com": (-15, 5),
}
DEPARTMENTS = ["Sales", "Engineering", "Finance", "Marketing", "Human Resources"]
FIRST_NAMES = [
    "adele",
    "alex",
    "diego",
    "grady",
    "henrietta",
    "isaiah",
    "johanna",
    "joni",
    "lee",
    "lidia",
    "lynne",
    "megan",
    "miriam",
    "nestor",
    "patti",
    "pradeep",
    "allan",
    "brian",
    "cameron",
    "debra",
    "emily",
    "enrico",
    "gerhart",
    "irvin",
    "irene",
    "jordan",
    "karen",
]
LAST_NAMES = [
    "vance",
    "wilber",
    "siciliani",
    "archie",
    "mueller",
    "langer",
    "lorenz",
    "sherman",
    "gu",
    "holloway",
    "robbins",
    "bowen",
    "graham",
    "wilke",
    "fernandez",
    "gupta",
    "deyoung",
    "johnson",
    "white",
    "berger",
    "braun",
    "groth",
    "moos",
    "sink",
    "cobb",
    "ruiz",
    "pham",
]
WORK_SITES = [
    "contoso.sharepoint.com",
    "office.com",
    "github.com",
    "stackoverflow.com",
    "microsoft.com",
    "salesforce.com",
    "news.bbc.co.uk",
    "wikipedia.org",
]
JOB_SITES = ["linkedin.com", "indeed.com", "glassdoor.com", "monster.com"]
LABEL_CONFIDENTIAL = "defa4170-0d19-0005-0004-bc88714345d2"


def users(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(upn, first, last, department) for 50 users, the named leavers included."""
    out: dict[str, tuple[str, str, str, str]] = {}
    fixed = {
        THIEF: "Engineering",
        "lee.gu@contoso.com": "Sales",
        "adele.vance@contoso.com": "Finance",
        "grady.archie@contoso.com": "Marketing",
    }
    for upn, dept in fixed.items():
        first, last = upn.split("@")[0].split(".")
        out[upn] = (upn, first, last, dept)
    while len(out) < 50:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        upn = f"{first}.{last}@{ORG}"
        if upn not in out:
            out[upn] = (upn, first, last, DEPARTMENTS[len(out) % len(DEPARTMENTS)])
    return sorted(out.values())


def poisson(rng: random.Random, lam: float) -> int:
    """A small Poisson sample (Knuth), so the script needs nothing beyond the stdlib."""
    if lam <= 0:
        return 0
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def at(day: dt.date, rng: random.Random, start_h: float = 8.0, span_h: float = 9.0) -> dt.datetime:
    """A time on ``day`` within working hours (UTC)."""
    seconds = int((start_h + rng.random() * span_h) * 3600)
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)


class Writer:
    """Collects audit records and proxy lines."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.audit: list[tuple[dt.datetime, dict[str, object]]] = []
        self.proxy: list[tuple[dt.datetime, dict[str, object]]] = []

    def _base(
        self, t: dt.datetime, user: str, op: str, record_type: int, workload: str
    ) -> dict[str, object]:
        return {
            "CreationTime": t.strftime("%Y-%m-%dT%H:%M:%S"),
            "Id": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "Operation": op,
            "OrganizationId": "b3f7c2a1-0000-4000-8000-c0ffee000001",
            "RecordType": record_type,
            "UserKey": user,
            "UserType": 0,
            "Version": 1,
            "Workload": workload,
            "UserId": user,
            "ClientIP": f"198.51.100.{sum(map(ord, user)) % 250 + 2}",
        }

    def sharepoint(self, t: dt.datetime, user: str, op: str, dept: str, name: str) -> None:
        rec = self._base(t, user, op, 6, "SharePoint")
        site = f"https://contoso.sharepoint.com/sites/{dept.replace(' ', '')}"
        rec.update(
            {
                "ObjectId": f"{site}/Shared Documents/{name}",
                "SiteUrl": site + "/",
                "SourceFileName": name,
                "SourceFileExtension": name.rsplit(".", 1)[-1],
                "SourceRelativeUrl": "Shared Documents",
                "ItemType": "File",
                "EventSource": "SharePoint",
            }
        )
        self.audit.append((t, rec))

    def endpoint(
        self,
        t: dt.datetime,
        user: str,
        op: str,
        path: str,
        size: int,
        target: str | None = None,
        labelled: bool = False,
    ) -> None:
        rec = self._base(t, user, op, 63, "Endpoint")
        ext = path.rsplit(".", 1)[-1]
        rec.update(
            {
                "DeviceName": "LT-" + user.split("@")[0].replace(".", "")[:12].upper(),
                "Platform": 1,
                "Application": "explorer.exe",
                "ObjectId": path,
                "FileExtension": ext,
                "FileType": ext,
                "FileSize": size,
                "EnforcementMode": 0,
            }
        )
        if target:
            rec["TargetFilePath"] = target
        if op == "FileCopiedToRemovableMedia":
            rec["RemovableMediaDeviceAttributes"] = {
                "Manufacturer": "SanDisk",
                "Model": "Ultra USB 3.0",
                "SerialNumber": "4C530001",
                "Capacity": 64_000_000_000,
                "BusType": "USB",
            }
        if labelled:
            rec["SensitivityLabelEventData"] = {"SensitivityLabelId": LABEL_CONFIDENTIAL}
        self.audit.append((t, rec))

    def send(self, t: dt.datetime, user: str, attachments: list[str]) -> None:
        rec = self._base(t, user, "Send", 2, "Exchange")
        rec.update(
            {
                "ResultStatus": "Succeeded",
                "LogonType": 0,
                "ExternalAccess": False,
                "MailboxOwnerUPN": user,
                "Item": {
                    "Id": "RgAAAA" + uuid.UUID(int=self.rng.getrandbits(128)).hex,
                    "Subject": self.rng.choice(
                        [
                            "Status update",
                            "Q3 numbers",
                            "Meeting notes",
                            "Re: proposal",
                            "Follow-up",
                        ]
                    ),
                    "Attachments": "; ".join(
                        f"{a} ({self.rng.randint(10_000, 900_000)}b)" for a in attachments
                    ),
                    "SizeInBytes": self.rng.randint(20_000, 2_000_000),
                },
            }
        )
        self.audit.append((t, rec))

    def visit(self, t: dt.datetime, user: str, domain: str) -> None:
        self.proxy.append(
            (
                t,
                {
                    "ts": t.strftime("%Y-%m-%d %H:%M:%S"),
                    "src_user": user.split("@")[0],
                    "dest_host": domain,
                    "url": f"https://{domain}/",
                    "action": "allowed",
                    "bytes_out": self.rng.randint(300, 9000),
                    "kind": "web",
                },
            )
        )


def normal_day(
    w: Writer, rng: random.Random, day: dt.date, user: str, dept: str, usb_habit: bool, leaver: bool
) -> None:
    """An ordinary working day."""
    docs = [
        f"{dept[:3].lower()}-{rng.randint(1, 400):03d}.{rng.choice(['docx', 'xlsx', 'pdf'])}"
        for _ in range(4)
    ]
    for _ in range(poisson(rng, 3)):
        w.sharepoint(at(day, rng), user, "FileDownloaded", dept, rng.choice(docs))
    for _ in range(poisson(rng, 2)):
        w.sharepoint(at(day, rng), user, "FileModified", dept, rng.choice(docs))
    for _ in range(poisson(rng, 2.5)):
        n = rng.choice([0, 0, 0, 1, 1, 2])
        w.send(at(day, rng), user, [f"doc{rng.randint(1, 99)}.docx" for _ in range(n)])
    local = f"C:\\Users\\{user.split('@')[0]}\\Documents\\"
    for _ in range(poisson(rng, 0.8)):
        w.endpoint(
            at(day, rng),
            user,
            "FileRenamed",
            local + "draft.docx",
            40_000,
            target=local + "final.docx",
        )
    for _ in range(poisson(rng, 1.5)):
        w.endpoint(at(day, rng), user, "FileDeleted", local + f"old{rng.randint(1, 99)}.tmp", 2_000)
    for _ in range(poisson(rng, 0.4)):
        w.endpoint(at(day, rng), user, "FilePrinted", local + "handout.pdf", 120_000)
    if usb_habit:
        for _ in range(poisson(rng, 0.4)):
            w.endpoint(
                at(day, rng),
                user,
                "FileCopiedToRemovableMedia",
                local + "slides.pptx",
                3_000_000,
                target="E:\\slides.pptx",
            )
    for _ in range(poisson(rng, 4)):
        w.visit(at(day, rng), user, rng.choice(WORK_SITES))
    for _ in range(poisson(rng, 1.5 if leaver else 0.05)):
        w.visit(at(day, rng), user, rng.choice(JOB_SITES))


def theft_day(w: Writer, rng: random.Random, day: dt.date, user: str) -> None:
    """Download -> archive/rename -> USB copy -> delete, on one day."""
    local = "C:\\Users\\diego.siciliani\\Downloads\\"
    names = [
        f"design-{rng.randint(100, 999)}.{rng.choice(['dwg', 'docx', 'xlsx'])}"
        for _ in range(rng.randint(45, 80))
    ]
    for name in names:
        w.sharepoint(at(day, rng, 9, 2), user, "FileDownloaded", "Engineering", name)
    for k in range(rng.randint(3, 6)):
        w.endpoint(
            at(day, rng, 11.5, 1),
            user,
            "FileArchived",
            local + f"backup{k}.zip",
            rng.randint(20_000_000, 90_000_000),
            labelled=True,
        )
    for k in range(rng.randint(20, 35)):
        w.endpoint(
            at(day, rng, 12, 1),
            user,
            "FileRenamed",
            local + f"backup{k}.zip",
            5_000_000,
            target=local + f"holiday-photos-{k}.jpg",
        )
    for k in range(rng.randint(15, 35)):
        w.endpoint(
            at(day, rng, 13.5, 2),
            user,
            "FileCopiedToRemovableMedia",
            local + f"holiday-photos-{k}.jpg",
            rng.randint(5_000_000, 60_000_000),
            target=f"E:\\photos\\holiday-photos-{k}.jpg",
            labelled=True,
        )
    for k in range(rng.randint(40, 80)):
        w.endpoint(at(day, rng, 16, 1.5), user, "FileDeleted", local + f"item{k}", 1_000)


def main(out: Path) -> None:
    """Write every example file into ``out``."""
    rng = random.Random(SEED)  # noqa: S311 - a seeded generator for reproducible example data
    people = users(rng)
    usb_habit = {u for u, *_ in people if rng.random() < 0.1} - {THIEF}
    w = Writer(rng)
    day = FIRST
    while day <= LAST:
        if day.weekday() < 5:
            for upn, _first, _last, dept in people:
                if upn in LEAVERS:
                    r_off, lwd_off = LEAVERS[upn]
                    if (day - REFERENCE).days > lwd_off:
                        continue  # gone after the last working day
                offset = (day - REFERENCE).days
                leaver = upn in LEAVERS and offset >= LEAVERS[upn][0] - 20
                if upn == THIEF and -6 <= offset <= 3:
                    theft_day(w, rng, day, upn)
                    for _ in range(rng.randint(8, 15)):
                        w.visit(at(day, rng), upn, rng.choice(JOB_SITES))
                else:
                    normal_day(w, rng, day, upn, dept, upn in usb_habit, leaver)
        day += dt.timedelta(days=1)
    out.mkdir(parents=True, exist_ok=True)
    w.audit.sort(key=lambda r: (r[0], str(r[1]["Id"])))
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(
        [
            "RecordId",
            "CreationDate",
            "RecordType",
            "Operation",
            "UserId",
            "AuditData",
            "AssociatedAdminUnits",
            "AssociatedAdminUnitsNames",
        ]
    )
    for t, rec in w.audit:
        writer.writerow(
            [
                rec["Id"],
                t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                rec["RecordType"],
                rec["Operation"],
                rec["UserId"],
                json.dumps(rec, separators=(",", ":")),
                "",
                "",
            ]
        )
    _gzip(out / "purview-audit.csv.gz", buf.getvalue().encode("utf-8"))
    w.proxy.sort(key=lambda r: (r[0], str(r[1]["src_user"])))
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for _, r in w.proxy)
    _gzip(out / "proxy.jsonl.gz", lines.encode("utf-8"))
    with (out / "hr-resignations.csv").open("w", newline="", encoding="utf-8") as f:
        hr = csv.writer(f, lineterminator="\r\n")
        hr.writerow(["EmailAddress", "ResignationDate", "LastWorkingDate"])
        for upn, (r_off, lwd_off) in sorted(LEAVERS.items()):
            r = REFERENCE + dt.timedelta(days=r_off)
            lwd = REFERENCE + dt.timedelta(days=lwd_off)
            hr.writerow([upn, f"{r.isoformat()}T09:00:00Z", f"{lwd.isoformat()}T17:00:00Z"])
    with (out / "employee-profile.csv").open("w", newline="", encoding="utf-8") as f:
        ep = csv.writer(f, lineterminator="\r\n")
        ep.writerow(
            [
                "EmailAddress",
                "EmployeeFirstName",
                "EmployeeLastName",
                "EmployeeAddressLine1",
                "EmployeeZipCode",
                "EmployeeDepartment",
            ]
        )
        for n, (upn, first, last, dept) in enumerate(people):
            ep.writerow([upn, first.title(), last.title(), f"{n + 1} Contoso Way", "98052", dept])
    print(f"{len(w.audit)} audit records, {len(w.proxy)} proxy lines, {len(people)} users -> {out}")


def _gzip(path: Path, data: bytes) -> None:
    # mtime=0 keeps the output byte-identical from run to run.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
