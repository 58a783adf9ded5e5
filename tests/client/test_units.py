"""Small pieces: cloud endpoints, URL joins, Retry-After, backoff, multipart bodies, chunks."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import sys
from pathlib import Path

import pytest

from hrsignal.client.chunks import iter_chunks
from hrsignal.client.clouds import DEFAULT_RESOURCE, join_url, resolve_endpoints
from hrsignal.client.credentials import Secret, resolve_credential
from hrsignal.client.retry import RetryPolicy, parse_retry_after
from hrsignal.client.transport import encode_multipart
from hrsignal.errors import AuthError, UsageError
from hrsignal.scenarios import ValidationOptions
from tests.client.conftest import APP, JOB, SECRET, TENANT, Target, resignations


def _endpoints(**kw: str):  # type: ignore[no-untyped-def]
    return resolve_endpoints(tenant_id=TENANT, app_id=APP, job_id=JOB, **kw)


def test_public_cloud_is_the_default_and_uses_microsoft_hosts() -> None:
    """Without options the real Microsoft endpoints and the current resource are used."""
    ep = _endpoints()
    assert ep.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert ep.signals_url == "https://webhook.ingestion.office.com/api/signals"
    assert ep.scope == DEFAULT_RESOURCE + "/.default"
    assert ep.is_microsoft_login


@pytest.mark.parametrize(
    ("cloud", "login", "ingestion"),
    [
        ("gcc", "login.microsoftonline.com", "webhook-gcc.ingestion.office365.us"),
        ("gcc-high", "login.microsoftonline.us", "webhook-itarl4.ingestion.office365.us"),
        ("dod", "login.microsoftonline.us", "webhook-itarl5.ingestion.apps.mil"),
    ],
)
def test_sovereign_clouds_pick_their_hosts(cloud: str, login: str, ingestion: str) -> None:
    """--cloud chooses the login and ingestion hosts of spec §3.2."""
    ep = _endpoints(cloud=cloud)
    assert ep.authority == f"https://{login}/{TENANT}"
    assert ep.signals_url == f"https://{ingestion}/api/signals"


def test_gcc_trailing_slash_does_not_double_the_slash() -> None:
    """The GCC script's base with a trailing slash built //api/signals; a join never does."""
    ep = _endpoints(ingestion_url="https://webhook-gcc.ingestion.office365.us/")
    assert ep.signals_url == "https://webhook-gcc.ingestion.office365.us/api/signals"
    assert join_url("https://h/", "/api/", "signals") == "https://h/api/signals"


def test_overrides_and_plain_http_rules() -> None:
    """Overrides replace the cloud's hosts; plain http only for a loopback ingestion URL."""
    ep = _endpoints(login_url="https://127.0.0.1:8443", ingestion_url="http://127.0.0.1:8080")
    assert not ep.is_microsoft_login
    assert ep.signals_url == "http://127.0.0.1:8080/api/signals"
    with pytest.raises(UsageError, match="plain http"):
        _endpoints(ingestion_url="http://hr.example.com")
    with pytest.raises(UsageError, match="https"):
        _endpoints(login_url="http://127.0.0.1:8443")


@pytest.mark.parametrize(
    ("field", "value"),
    [("app_id", "my-app"), ("tenant_id", "not a tenant"), ("job_id", "job id with spaces")],
)
def test_malformed_identifiers_are_usage_errors(field: str, value: str) -> None:
    """GUIDs and names are checked before any request."""
    kw = {"tenant_id": TENANT, "app_id": APP, "job_id": JOB, field: value}
    with pytest.raises(UsageError):
        resolve_endpoints(**kw)


def test_retry_after_seconds_and_http_date() -> None:
    """Retry-After is delta-seconds or an HTTP date; junk is ignored."""
    now = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7", now=now) == 7.0
    later = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after("yesterday", now=now) is None
    assert parse_retry_after(None) is None


def test_backoff_is_capped_full_jitter_and_retry_after_wins() -> None:
    """Delays lie in [0, min(cap, base*2^(n-1))]; a Retry-After is used as given."""
    policy = RetryPolicy(base=1.0, cap=8.0)
    rng = random.Random(1)
    for n in range(1, 10):
        for _ in range(50):
            d = policy.delay(n, None, rng)
            assert 0 <= d <= min(8.0, 2 ** (n - 1))
    assert policy.delay(3, 42.0) == 42.0


def test_multipart_body_is_one_file_part() -> None:
    """One part named file with a filename, the CSV bytes verbatim, CRLF framing."""
    ctype, body = encode_multipart(b"a,b\n1,2\n", 'x".csv')
    boundary = ctype.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="file"; filename="x_.csv"' in body
    assert b"\r\n\r\na,b\n1,2\n\r\n" in body
    assert body.endswith(f"--{boundary}--\r\n".encode())


def test_secret_does_not_show_in_repr() -> None:
    """A Secret's repr and str never contain the value."""
    secret = resolve_credential(environ={"HRSIGNAL_APP_SECRET": "hunter2"})
    assert isinstance(secret, Secret)
    assert "hunter2" not in repr(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def test_chunks_cover_every_record_once(tmp_path: Path) -> None:
    """Chunks are consecutive, whole and complete for any size, and skip what was acked."""
    path = resignations(tmp_path / "hr.csv", 23)
    opts = ValidationOptions()
    for size in (1, 5, 23, 100):
        chunks = list(
            iter_chunks(
                path,
                scenario=None,
                mapping=None,
                options=opts,
                records_per_call=size,
                skip_invalid=False,
            )
        )
        assert sum(c.records for c in chunks) == 23
        assert [c.index for c in chunks] == list(range(1, len(chunks) + 1))
        assert all(c.csv.startswith(b"EmailAddress,ResignationDate,LastWorkingDate\n")
                   for c in chunks)  # fmt: skip
    resumed = list(
        iter_chunks(
            path,
            scenario=None,
            mapping=None,
            options=opts,
            records_per_call=5,
            skip_invalid=False,
            after_record=12,
        )
    )
    assert [(c.index, c.first_record, c.last_record) for c in resumed] == [
        (3, 13, 15),
        (4, 16, 20),
        (5, 21, 23),
    ]


def test_key_vault_secret_is_read_with_the_ambient_azure_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the keyvault extra, the secret comes from SecretClient(vault, DefaultAzureCredential)
    (the Azure SDK is faked: it is Microsoft's cloud)."""
    pkg = tmp_path / "azure"
    (pkg / "keyvault").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "keyvault" / "__init__.py").write_text("")
    (pkg / "identity.py").write_text("class DefaultAzureCredential:\n    pass\n")
    (pkg / "keyvault" / "secrets.py").write_text(
        "import azure.identity\n"
        "class _S:\n"
        "    def __init__(self, v):\n"
        "        self.value = v\n"
        "class SecretClient:\n"
        "    def __init__(self, vault_url, credential):\n"
        "        assert isinstance(credential, azure.identity.DefaultAzureCredential)\n"
        "        self.vault_url = vault_url\n"
        "    def get_secret(self, name):\n"
        "        if name != 'hr-upload':\n"
        "            raise KeyError(name)\n"
        "        return _S('from-vault:' + self.vault_url)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in [m for m in sys.modules if m == "azure" or m.startswith("azure.")]:
        monkeypatch.delitem(sys.modules, mod)
    secret = resolve_credential(
        key_vault_url="https://hr.vault.azure.net", secret_name="hr-upload", environ={}
    )
    assert isinstance(secret, Secret)
    assert secret.reveal() == "from-vault:https://hr.vault.azure.net"
    with pytest.raises(AuthError, match="cannot read secret 'missing'"):
        resolve_credential(
            key_vault_url="https://hr.vault.azure.net", secret_name="missing", environ={}
        )


def test_progress_bar_draws_without_a_terminal(target: Target, tmp_path: Path) -> None:
    """The rich observer follows an upload to the end (records and chunks complete)."""
    from hrsignal.client.progress import RichObserver
    from hrsignal.client.uploader import UploadSettings, upload_file

    fake = target.fake
    settings = UploadSettings(
        endpoints=_endpoints(login_url=fake.url, ingestion_url=fake.url),
        credential=Secret(SECRET),
        state_dir=target.state_dir,
        verify=str(fake.ca.ca_path),
        records_per_call=4,
    )
    observer = RichObserver(enabled=True)
    with observer:
        summary = upload_file(resignations(tmp_path / "hr.csv", 10), settings, observer=observer)
    assert summary.status == "uploaded"
    assert observer._chunks == 3 and observer._total_chunks == 3
