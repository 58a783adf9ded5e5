"""`hrsignal upload` against the fake Microsoft service: the protocol, retries, refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hrsignal.cli import cli
from tests.client.conftest import JOB, Target, resignations, run_cli
from tests.fakes.microsoft import RESOURCE, accept_then_hang, reset, status

pytestmark = pytest.mark.timeout(120)


def _json(output: str) -> dict[str, object]:
    start = output.index("{")
    doc, _ = json.JSONDecoder().raw_decode(output[start:])
    assert isinstance(doc, dict)
    return doc


def test_upload_sends_every_record_once_in_chunks_with_the_header(
    target: Target, tmp_path: Path
) -> None:
    """12 records at 5 per call are 3 POSTs to /api/signals?jobid=J, each with the header."""
    path = resignations(tmp_path / "hr.csv", 12)
    result = run_cli(target.upload_args(path, "--records-per-call", "5", "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc == {
        "file": str(path),
        "job_id": JOB,
        "records": 12,
        "valid_records": 12,
        "chunks_sent": 3,
        "chunks_skipped_from_checkpoint": 0,
        "retries": 0,
        "status": "uploaded",
    }
    fake = target.fake
    assert [len(r.rows) for r in fake.accepted] == [5, 5, 2]
    assert all(r.header == ["EmailAddress", "ResignationDate", "LastWorkingDate"]
               for r in fake.accepted)  # fmt: skip
    assert all(r.job_id == JOB for r in fake.accepted)
    assert [row[0] for row in fake.rows(JOB)] == [f"user{i}@contoso.com" for i in range(12)]
    assert fake.tokens_issued == 1  # one token for the whole file, not one per chunk
    assert fake.token_requests[0]["scope"].startswith(RESOURCE + "/.default")


def test_rerun_of_an_uploaded_file_sends_nothing(target: Target, tmp_path: Path) -> None:
    """The same content for the same job is already acknowledged: no request, exit 0."""
    path = resignations(tmp_path / "hr.csv", 7)
    assert run_cli(target.upload_args(path)).exit_code == 0
    before = len(target.fake.requests)
    renamed = path.rename(tmp_path / "renamed-export.csv")  # the key is the content
    result = run_cli(target.upload_args(renamed, "--format", "json"))
    assert result.exit_code == 0
    assert _json(result.output)["status"] == "already_uploaded"
    assert len(target.fake.requests) == before


def test_force_sends_the_file_again(target: Target, tmp_path: Path) -> None:
    """--force ignores the checkpoint."""
    path = resignations(tmp_path / "hr.csv", 4)
    assert run_cli(target.upload_args(path)).exit_code == 0
    assert run_cli(target.upload_args(path, "--force")).exit_code == 0
    assert len(target.fake.rows(JOB)) == 8


def test_throttling_and_503_storm_deliver_each_record_exactly_once(
    target: Target, tmp_path: Path
) -> None:
    """429 with Retry-After, a storm of 503s, 502/504 and a connection reset are retried; the
    records arrive once each."""
    fake = target.fake
    fake.on_upload(status(429, "slow down", Retry_After="0"), times=2)
    fake.on_upload(status(503), when=lambda r: r.part == 2, times=6)
    fake.on_upload(reset(), when=lambda r: r.part == 3, times=1)
    fake.on_upload(status(502), when=lambda r: r.part == 3, times=1)
    fake.on_upload(status(504), when=lambda r: r.part == 4, times=1)
    path = resignations(tmp_path / "hr.csv", 20)
    result = run_cli(target.upload_args(path, "--records-per-call", "5", "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["retries"] == 2 + 6 + 1 + 1 + 1
    assert doc["chunks_sent"] == 4
    emails = [row[0] for row in fake.rows(JOB)]
    assert sorted(emails) == sorted(f"user{i}@contoso.com" for i in range(20))
    assert len(emails) == len(set(emails)) == 20


def test_retries_are_bounded_and_leave_the_chunk_unsent(target: Target, tmp_path: Path) -> None:
    """A 503 that never ends exhausts --max-retries: exit 5, nothing counted as sent."""
    target.fake.on_upload(status(503), times=None)
    path = resignations(tmp_path / "hr.csv", 3)
    result = run_cli(target.upload_args(path, "--max-retries", "3", "--format", "json"))
    assert result.exit_code == 5
    doc = _json(result.output)
    assert doc["status"] == "failed" and doc["chunks_sent"] == 0 and doc["retries"] == 3
    assert "not delivered after 4 attempts" in result.output
    assert target.fake.rows(JOB) == []


def test_retry_after_longer_than_max_wait_gives_up(target: Target, tmp_path: Path) -> None:
    """A Retry-After beyond --max-wait is not slept through."""
    target.fake.on_upload(status(429, Retry_After="3600"), times=None)
    path = resignations(tmp_path / "hr.csv", 3)
    result = run_cli(target.upload_args(path, "--max-wait", "5"))
    assert result.exit_code == 5
    assert "HTTP 429" in result.output


def test_400_on_second_chunk_stops_and_rerun_delivers_everything(
    target: Target, tmp_path: Path
) -> None:
    """A 400 on chunk 2 stops with exit 3 and the server's body; the rerun resumes at chunk 2,
    so every record arrives and chunk 1 only once."""
    fake = target.fake
    fake.on_upload(
        status(400, '{"error":"BadRequest","message":"row 3: bad date"}'),
        when=lambda r: r.part == 2,
        times=1,
    )
    path = resignations(tmp_path / "hr.csv", 15)
    first = run_cli(target.upload_args(path, "--records-per-call", "5"))
    assert first.exit_code == 3
    assert "HTTP 400" in first.output and "row 3: bad date" in first.output
    assert len(fake.rows(JOB)) == 5  # only chunk 1 was accepted
    second = run_cli(target.upload_args(path, "--records-per-call", "5", "--format", "json"))
    assert second.exit_code == 0, second.output
    doc = _json(second.output)
    assert doc["chunks_skipped_from_checkpoint"] == 1 and doc["chunks_sent"] == 2
    emails = [row[0] for row in fake.rows(JOB)]
    assert sorted(emails) == sorted(f"user{i}@contoso.com" for i in range(15))
    assert len(emails) == 15


def test_403_job_app_mismatch_is_an_auth_failure_with_the_reason(
    target: Target, tmp_path: Path
) -> None:
    """A job of another app: exit 4, the server's reason phrase and a hint; not retried."""
    target.fake.jobs[JOB] = "00000000-0000-4000-8000-000000000000"
    path = resignations(tmp_path / "hr.csv", 3)
    result = run_cli(target.upload_args(path, "--format", "json"))
    assert result.exit_code == 4
    assert "jobId and corresponding appId do not match." in result.output
    assert _json(result.output)["retries"] == 0
    assert len(target.fake.requests) == 1


def test_validation_errors_refuse_the_upload(target: Target, tmp_path: Path) -> None:
    """A file with an invalid record is not sent at all: exit 1 and the finding printed."""
    path = resignations(tmp_path / "hr.csv", 6, bad=(4,))
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 1
    assert "31/02/2026" in result.output and "--skip-invalid" in result.output
    assert target.fake.requests == []
    assert target.fake.tokens_issued == 0


def test_skip_invalid_sends_valid_records_and_writes_rejects(
    target: Target, tmp_path: Path
) -> None:
    """--skip-invalid uploads the 5 valid records and writes the bad one to a rejects file."""
    path = resignations(tmp_path / "hr.csv", 6, bad=(4,))
    result = run_cli(target.upload_args(path, "--skip-invalid", "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["records"] == 6 and doc["valid_records"] == 5
    emails = [row[0] for row in target.fake.rows(JOB)]
    assert "user3@contoso.com" not in emails and len(emails) == 5
    rejects = list(csv.DictReader((tmp_path / "hr.rejects.csv").open(encoding="utf-8")))
    assert [r["EmailAddress"] for r in rejects] == ["user3@contoso.com"]
    assert rejects[0]["_record"] == "4" and "31/02/2026" in rejects[0]["_errors"]


def test_dry_run_authenticates_and_sends_nothing(target: Target, tmp_path: Path) -> None:
    """--dry-run validates, chunks and gets a token, but makes no upload request."""
    path = resignations(tmp_path / "hr.csv", 11)
    result = run_cli(target.upload_args(path, "--dry-run", "--records-per-call", "5"))
    assert result.exit_code == 0, result.output
    assert "3 chunks would be sent" in result.output
    assert target.fake.requests == []
    assert target.fake.tokens_issued == 1
    # and a real run afterwards still sends everything
    assert run_cli(target.upload_args(path)).exit_code == 0
    assert len(target.fake.rows(JOB)) == 11


def test_multiline_quoted_field_never_splits_across_chunks(target: Target, tmp_path: Path) -> None:
    """Chunks hold whole records: a Remarks field with line breaks stays in one record."""
    lines = ["EmailAddress,EffectiveDate,Remarks,Rating"]
    for i in range(6):
        remark = f'"line one of {i}\nline two, with a comma\nand ""quotes"""'
        lines.append(f"u{i}@contoso.com,2026-10-0{i + 1}T09:00:00Z,{remark},3 Met")
    path = tmp_path / "reviews.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    result = run_cli(
        target.upload_args(path, "--records-per-call", "4", "--scenario", "performance-reviews")
    )
    assert result.exit_code == 0, result.output
    assert [len(r.rows) for r in target.fake.accepted] == [4, 2]
    rows = target.fake.rows(JOB)
    assert rows[5][2] == 'line one of 5\nline two, with a comma\nand "quotes"'


def test_utf16_tab_separated_export_is_sent_as_utf8_csv(target: Target, tmp_path: Path) -> None:
    """A UTF-16 tab-separated export is re-serialised as UTF-8 comma-separated CSV."""
    text = "EmailAddress\tEffectiveDate\tOldLevel\tNewLevel\r\n"
    for i in range(3):
        level = f"Niveau 6{i}, Directeur g\u00e9n\u00e9ral"
        text += f"u{i}@contoso.com\t2026-11-01T00:00:00Z\t{level}\tL7\r\n"
    path = tmp_path / "export.tsv"
    path.write_bytes(text.encode("utf-16"))
    result = run_cli(target.upload_args(path, "--delimiter", "\t"))
    assert result.exit_code == 0, result.output
    req = target.fake.accepted[0]
    assert b"\xff\xfe" not in req.raw_body and "g\u00e9n\u00e9ral".encode() in req.raw_body
    assert [row[2] for row in target.fake.rows(JOB)] == [
        f"Niveau 6{i}, Directeur g\u00e9n\u00e9ral" for i in range(3)
    ]


def test_header_only_file_sends_nothing_and_succeeds(target: Target, tmp_path: Path) -> None:
    """A header with no records: exit 0, no request, and the output says why."""
    path = tmp_path / "empty.csv"
    path.write_text("EmailAddress,ResignationDate,LastWorkingDate\n")
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 0
    assert "no records" in result.output
    assert target.fake.requests == []


def test_multipart_body_has_one_file_part_in_utf8(target: Target, tmp_path: Path) -> None:
    """The body is multipart/form-data with a part named file, filename *.partNNNN.csv."""
    path = resignations(tmp_path / "hr.csv", 2)
    assert run_cli(target.upload_args(path)).exit_code == 0
    req = target.fake.accepted[0]
    assert req.content_type.startswith("multipart/form-data; boundary=")
    assert b'Content-Disposition: form-data; name="file"; filename="hr.part0001.csv"' in (
        req.raw_body
    )
    text = req.raw_body.decode("utf-8")
    body = text.split("\r\n\r\n", 1)[1]
    assert next(iter(csv.reader(io.StringIO(body.split("\r\n--")[0]))))[0] == "EmailAddress"


def test_unknown_file_is_a_usage_error(target: Target, tmp_path: Path) -> None:
    """A missing file: exit 2, one line, no traceback."""
    result = run_cli(target.upload_args(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "no such file" in result.output and "Traceback" not in result.output


def test_413_splits_the_chunk_until_the_server_accepts_it(target: Target, tmp_path: Path) -> None:
    """A server that takes at most 2 records per request answers 413 to larger chunks; each
    is halved until accepted, and every record arrives exactly once."""
    fake = target.fake
    fake.on_upload(status(413, "Request Entity Too Large"), when=lambda r: len(r.rows) > 2,
                   times=None)  # fmt: skip
    path = resignations(tmp_path / "hr.csv", 10)
    result = run_cli(target.upload_args(path, "--records-per-call", "5"))
    assert result.exit_code == 0, result.output
    emails = [row[0] for row in fake.rows(JOB)]
    assert emails == [f"user{i}@contoso.com" for i in range(10)]
    assert all(len(r.rows) <= 2 for r in fake.accepted)
    names = [r.filename for r in fake.accepted]
    assert names[:3] == ["hr.part0001a.csv", "hr.part0001ba.csv", "hr.part0001bb.csv"]


def test_413_on_a_single_record_stops(target: Target, tmp_path: Path) -> None:
    """A single record too large for the server cannot be split: exit 3."""
    target.fake.on_upload(status(413), times=None)
    path = resignations(tmp_path / "hr.csv", 1)
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 3
    assert "HTTP 413" in result.output


def test_json_refusal_keeps_stdout_one_document(target: Target, tmp_path: Path) -> None:
    """--format json on a refused file: stdout is the summary alone, exit 1."""
    path = resignations(tmp_path / "hr.csv", 3, bad=(1,))
    result = CliRunner().invoke(cli, target.upload_args(path, "--format", "json"))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "refused" and doc["valid_records"] == 2
    assert "31/02/2026" in result.stderr


def test_timeout_after_the_body_was_sent_is_resent(target: Target, tmp_path: Path) -> None:
    """The server saves chunk 1 but answers after the read timeout: the chunk is sent again
    (at-least-once; an idempotent server saves it once), and the upload completes."""
    fake = target.fake
    fake.on_upload(accept_then_hang(3), when=lambda r: r.part == 1, times=1)
    path = resignations(tmp_path / "hr.csv", 4)
    result = run_cli(target.upload_args(path, "--records-per-call", "2", "--timeout", "1",
                                        "--format", "json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _json(result.output)["retries"] == 1
    emails = [row[0] for row in fake.rows(JOB)]
    assert emails == [f"user{i}@contoso.com" for i in (0, 1, 0, 1, 2, 3)]


def test_quarantine_isolates_the_records_the_server_refuses(target: Target, tmp_path: Path) -> None:
    """--quarantine bisects a chunk the server answers 400 to: the two refused records go to
    a quarantine CSV (original header), the other 18 arrive once, exit 3 (partial); a rerun
    sends nothing and still says partial; the fixed quarantine file uploads on its own."""
    fake = target.fake
    bad = {"user3@contoso.com", "user14@contoso.com"}
    fake.on_upload(status(400, '{"error":"bad row"}'),
                   when=lambda r: any(row[0] in bad for row in r.rows), times=None)  # fmt: skip
    path = resignations(tmp_path / "hr.csv", 20)
    args = target.upload_args(path, "--records-per-call", "10", "--quarantine", "--format", "json")
    result = run_cli(args)
    assert result.exit_code == 3, result.output
    doc = _json(result.output)
    assert doc["status"] == "partial" and doc["quarantined"] == 2
    emails = [row[0] for row in fake.rows(JOB)]
    assert sorted(emails) == sorted(f"user{i}@contoso.com" for i in range(20) if i not in (3, 14))
    quarantine = tmp_path / "hr.quarantine.csv"
    lines = quarantine.read_text().splitlines()
    assert lines[0] == "EmailAddress,ResignationDate,LastWorkingDate"
    assert [line.split(",")[0].strip('"') for line in lines[1:]] == [
        "user3@contoso.com",
        "user14@contoso.com",
    ]
    before = len(fake.requests)
    again = run_cli(args)
    assert again.exit_code == 3 and _json(again.output)["status"] == "partial"
    assert len(fake.requests) == before
    fake.upload_rules.clear()  # the rows were fixed server-side or in the file
    fixed = run_cli(target.upload_args(quarantine))
    assert fixed.exit_code == 0, fixed.output
    assert len(fake.rows(JOB)) == 20


def test_quarantine_stops_when_everything_is_refused(target: Target, tmp_path: Path) -> None:
    """A 400 for every record is not a few bad rows: the bisection stops after 100 records."""
    target.fake.on_upload(status(400, "mapping broken"), times=None)
    path = resignations(tmp_path / "hr.csv", 120)
    result = run_cli(target.upload_args(path, "--records-per-call", "120", "--quarantine"))
    assert result.exit_code == 3
    assert "more than 100 records" in result.output
    assert target.fake.rows(JOB) == []


def test_400_without_quarantine_sends_no_split(target: Target, tmp_path: Path) -> None:
    """Without --quarantine a 400 is not bisected: one request, exit 3."""
    target.fake.on_upload(status(400, "bad"), times=None)
    path = resignations(tmp_path / "hr.csv", 8)
    assert run_cli(target.upload_args(path)).exit_code == 3
    assert len(target.fake.requests) == 1
