"""Each importer on fixtures hand-written from the public schemas (see fixtures/README.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from hrsignal.errors import ConfigError, InputFileError, UsageError
from hrsignal.risk.importers import import_activity
from hrsignal.risk.importers.generic import load_activity_mapping
from hrsignal.risk.store import RiskStore
from tests.risk.conftest import FIXTURES, import_events


def _events(store: RiskStore, where: str = "true") -> list[dict[str, object]]:
    with store.connect() as con:
        cur = con.execute(f"SELECT * FROM events WHERE {where} ORDER BY time, record_id")  # noqa: S608 - test-only filters
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_purview_audit_export_maps_operations_and_counts_rejects(store: RiskStore) -> None:
    """The audit export's AuditData JSON becomes events; bad JSON, bad times and unknown
    operations are counted by reason, not dropped silently."""
    report = import_activity(store, "purview-audit", FIXTURES / "purview-audit-export.csv")
    assert report.read == 12
    assert report.stored == 9
    assert report.rejected == {
        "malformed_auditdata_json": 1,
        "malformed_time": 1,
        "unknown_activity:MailItemsAccessed": 1,
    }
    events = _events(store)
    assert Counter(e["activity"] for e in events) == Counter(
        {
            "FileDownloaded": 1,
            "FileSyncDownloaded": 1,
            "FileSharedExternally": 2,
            "FileSharedInternally": 1,
            "EmailSent": 1,
            "FileCopiedToRemovableMedia": 1,
            "FileUploadedToCloud": 1,
            "FilePrinted": 1,
        }
    )
    assert {e["user"] for e in events} == {"megan.bowen@contoso.com"}
    usb = next(e for e in events if e["activity"] == "FileCopiedToRemovableMedia")
    assert usb["removable_media"] is True
    assert usb["sensitivity"] == "defa4170-0d19-0005-0004-bc88714345d2"
    assert usb["bytes"] == 48213
    assert usb["target"] == "E:\\Launch plan.docx"
    mail = next(e for e in events if e["activity"] == "EmailSent")
    assert mail["attachments"] == 2
    upload = next(e for e in events if e["activity"] == "FileUploadedToCloud")
    assert upload["destination_domain"] == "wetransfer.com"
    shares = [e for e in events if e["activity"] == "FileSharedExternally"]
    assert all(e["external"] for e in shares)


def test_management_api_json_uses_the_same_mapping(store: RiskStore) -> None:
    """Management Activity API content (a JSON array of audit records) imports like the export."""
    report = import_activity(store, "o365-api", FIXTURES / "o365-api-content.json")
    assert (report.read, report.stored) == (6, 5)
    assert report.rejected == {"unknown_activity:UserLoginFailed": 1}
    acts = [e["activity"] for e in _events(store)]
    assert acts == [
        "FileDownloaded",
        "FileArchived",
        "FileRenamed",
        "FileDeleted",
        "SensitivityLabelDowngraded",
    ]


def test_defender_resolves_usb_drives_from_mounts(store: RiskStore) -> None:
    """A FileCreated on a drive letter mounted as USB on the same device is a USB copy; the same
    letter on another device is not; archives and network shares are recognised."""
    report = import_activity(store, "defender", FIXTURES / "defender")
    assert (report.read, report.stored) == (11, 9)
    assert report.rejected == {"malformed_time": 1, "unknown_activity:PowerShellCommand": 1}
    by_object = {e["object"]: e for e in _events(store)}
    assert by_object["roadmap.docx"]["activity"] == "FileCopiedToRemovableMedia"
    assert by_object["roadmap.docx"]["removable_media"] is True
    assert by_object["roadmap.docx"]["sensitivity"] == "Confidential"
    assert by_object["data.csv"]["activity"] == "FileCreated"  # E: not mounted on that device
    assert by_object["plan.docx"]["activity"] == "FileCopiedToNetworkShare"
    assert by_object["mimikatz.exe"]["activity"] == "MalwareDetected"
    assert by_object["E:"]["activity"] == "RemovableMediaMounted"
    # no UPN: DOMAIN\account
    assert by_object["notes.txt"]["user"] == "contoso\\megan"
    assert {e["activity"] for e in _events(store, "object = 'export.zip'")} == {
        "FileArchived",
        "FileRenamed",
        "FileDeleted",
    }


def test_defender_file_events_use_mounts_imported_earlier(store: RiskStore, tmp_path: Path) -> None:
    """Mounts from an earlier import resolve the drives of a later DeviceFileEvents export."""
    import_activity(store, "defender", FIXTURES / "defender" / "DeviceEvents.csv")
    import_activity(store, "defender", FIXTURES / "defender" / "DeviceFileEvents.csv")
    usb = _events(store, "activity = 'FileCopiedToRemovableMedia'")
    assert [e["object"] for e in usb] == ["roadmap.docx"]


def test_cert_r42_layout_maps_users_through_ldap(store: RiskStore) -> None:
    """CERT r4.2: ids become LDAP e-mails, file rows are USB copies, external mail and
    job-search browsing are recognised, the directory gets the latest department."""
    report = import_activity(store, "cert", FIXTURES / "cert-r4.2")
    assert report.rejected == {"malformed_time": 1}
    events = _events(store)
    assert Counter(e["activity"] for e in events) == Counter(
        {
            "Logon": 1,
            "Logoff": 1,
            "RemovableMediaMounted": 1,
            "RemovableMediaUnmounted": 1,
            "FileCopiedToRemovableMedia": 2,
            "EmailSent": 2,
            "WebVisit": 3,
        }
    )
    assert {e["user"] for e in events} == {"adam.cain.mendoza@dtaa.com"}
    mails = [e for e in events if e["activity"] == "EmailSent"]
    assert [(m["external"], m["attachments"]) for m in mails] == [(False, 0), (True, 2)]
    web = {e["destination_domain"]: e for e in events if e["activity"] == "WebVisit"}
    assert web["monster.com"]["url_category"] == "job_search"
    assert web["dropbox.com"]["url_category"] == "cloud_storage"
    assert web["dtaa.com"]["external"] is False
    with store.connect() as con:
        dept = con.execute(
            "SELECT department FROM directory WHERE \"user\" = 'adam.cain.mendoza@dtaa.com'"
        ).fetchone()
    assert dept == ("3 - Marketing",)  # the 2010-02 snapshot wins


def test_cert_r52_activity_columns(store: RiskStore) -> None:
    """CERT r5.2: file activity and to_removable_media decide the activity; mail 'View' is
    counted as unknown; without LDAP the dataset id stays the user."""
    report = import_activity(store, "cert", FIXTURES / "cert-r5.2")
    assert report.rejected == {"unknown_activity:View": 1}
    acts = [(e["activity"], e["user"]) for e in _events(store)]
    assert acts == [
        ("FileAccessed", "acm2278"),
        ("FileCopiedToRemovableMedia", "acm2278"),
        ("FileDeleted", "acm2278"),
        ("FileModified", "acm2278"),
        ("EmailSent", "acm2278"),
    ]


def test_generic_mapping_csv_with_bad_lines(store: RiskStore, tmp_path: Path) -> None:
    """A generic CSV imports through its mapping; a line with too many fields and an unknown
    activity value are reported."""
    data = tmp_path / "dlp.csv"
    data.write_text(
        "ts,who,what,file\n"
        "2026-09-01 10:00:00,ann,usb_write,a.doc\n"
        "2026-09-01 10:01:00,ann,FilePrinted,b.doc\n"
        "2026-09-01 10:02:00,ann,teleport,c.doc\n"
        "2026-09-01 10:03:00,ann,usb_write,d.doc,EXTRA\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "fields: {time: ts, user: who, activity: what, object: file}\n"
        "user_domain: contoso.com\n"
        "activities: {usb_write: FileCopiedToRemovableMedia}\n",
        encoding="utf-8",
    )
    report = import_activity(store, "generic", data, mapping=mapping)
    assert report.stored == 2
    assert report.rejected == {"unknown_activity:teleport": 1, "malformed_line": 1}
    assert [(e["user"], e["activity"]) for e in _events(store)] == [
        ("ann@contoso.com", "FileCopiedToRemovableMedia"),
        ("ann@contoso.com", "FilePrinted"),
    ]


def test_reimport_is_skipped_unless_forced(store: RiskStore) -> None:
    """The same files imported twice are stored once; --force imports them again."""
    first = import_activity(store, "o365-api", FIXTURES / "o365-api-content.json")
    again = import_activity(store, "o365-api", FIXTURES / "o365-api-content.json")
    assert again.skipped_duplicate and again.import_id == first.import_id
    assert len(_events(store)) == 5
    import_activity(store, "o365-api", FIXTURES / "o365-api-content.json", force=True)
    assert len(_events(store)) == 10


def test_events_are_partitioned_by_source_and_day(store: RiskStore) -> None:
    """Parquet files land in events/source=X/day=YYYY-MM-DD/."""
    import_events(
        store,
        [
            {"time": "2026-09-01 10:00:00", "user": "a@x.com", "activity": "FilePrinted"},
            {"time": "2026-09-02 10:00:00", "user": "a@x.com", "activity": "FilePrinted"},
        ],
    )
    days = sorted(p.parent.name for p in store.events_dir.glob("source=generic/day=*/*.parquet"))
    assert days == ["day=2026-09-01", "day=2026-09-02"]


def test_a_failed_import_leaves_nothing(store: RiskStore, tmp_path: Path) -> None:
    """A file that is not an audit export is refused with a clear error and stores nothing."""
    bad = tmp_path / "not-audit.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no AuditData column"):
        import_activity(store, "purview-audit", bad)
    assert not list(store.events_dir.glob("**/*.parquet"))
    assert not list((store.data_dir / "staging").glob("*"))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("fields: {time: t, user: u}\n", "fields.activity: missing"),
        ("fields: {time: t, user: u, activity: a, colour: c}\n", "fields.colour: not an event"),
        (
            "fields: {time: t, user: u, activity: a}\nactivities: {x: Teleported}\n",
            "activities.x: 'Teleported' is not an activity",
        ),
        ("fields: [1, 2]\n", "fields: missing"),
        ("fieldz: {}\n", "fieldz: unknown key"),
    ],
)
def test_bad_generic_mappings_name_the_key(tmp_path: Path, doc: str, message: str) -> None:
    """A mapping mistake is a ConfigError naming the file and the key."""
    path = tmp_path / "m.yaml"
    path.write_text(doc, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_activity_mapping(path)
    assert str(path) in str(info.value)


def test_mapping_column_missing_from_file(store: RiskStore, tmp_path: Path) -> None:
    """A mapped column absent from the file is named, with the file's columns."""
    data = tmp_path / "x.csv"
    data.write_text("when,who,what\n2026-09-01 10:00:00,a,FilePrinted\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields: {time: ts, user: who, activity: what}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"column 'ts' is not in x\.csv; its columns are when"):
        import_activity(store, "generic", data, mapping=mapping)


def test_unknown_source_and_missing_path(store: RiskStore, tmp_path: Path) -> None:
    """An unknown source is a usage error; a missing path an input error."""
    with pytest.raises(UsageError, match="unknown source 'splunk'"):
        import_activity(store, "splunk", tmp_path)
    with pytest.raises(InputFileError, match="no such file"):
        import_activity(store, "defender", tmp_path / "nope.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match=r"none of logon\.csv"):
        import_activity(store, "cert", empty)
    shutil.rmtree(empty)


def test_broken_json_is_refused_whole_and_stores_nothing(store: RiskStore, tmp_path: Path) -> None:
    """A JSON file that cannot be parsed is refused with the parser's position, and no event
    of it is stored (no partial import)."""
    bad = tmp_path / "content.jsonl"
    bad.write_text(
        '{"CreationTime":"2026-09-02T08:00:00","Id":"x1","Operation":"FileDownloaded",'
        '"UserId":"a@b.com"}\n{"CreationTime": broken\n',
        encoding="utf-8",
    )
    with pytest.raises(InputFileError, match=r"cannot be imported as m365 .*Malformed JSON"):
        import_activity(store, "o365-api", bad)
    assert not list(store.events_dir.glob("**/*.parquet"))
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM imports").fetchone() == (0,)


def test_a_store_of_another_schema_version_is_refused(store: RiskStore) -> None:
    """A data directory written by another version is refused with what to do, not misread."""
    from hrsignal.errors import StoreError

    with store.connect() as con:
        con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with (
        pytest.raises(StoreError, match=r"another hrsignal version \(schema 999"),
        store.connect(),
    ):
        pass


def _hold_lock(store: RiskStore, seconds: float) -> subprocess.Popen[str]:
    """Another process holding risk.duckdb open for writing for ``seconds``."""
    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True);"
        " time.sleep(float(sys.argv[2]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(store.db_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_locked_store_is_waited_for_then_refused(tmp_path: Path) -> None:
    """While another process writes, a command waits for the lock (up to lock_timeout), then
    gives up with a clear StoreError."""
    from hrsignal.errors import StoreError
    from hrsignal.risk.store import StoreSettings

    store = RiskStore(tmp_path / "risk", StoreSettings(lock_timeout=15))
    with store.connect():
        pass
    holder = _hold_lock(store, 1.0)
    try:
        with store.connect() as con:  # waits about a second, then works
            assert con.execute("SELECT count(*) FROM imports").fetchone() == (0,)
    finally:
        holder.wait(timeout=30)
    impatient = RiskStore(tmp_path / "risk", StoreSettings(lock_timeout=0.2))
    holder = _hold_lock(store, 5.0)
    try:
        with (
            pytest.raises(StoreError, match="another 'hrsignal risk' command may be writing"),
            impatient.connect(),
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
