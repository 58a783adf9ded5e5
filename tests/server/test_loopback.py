"""Real HTTP over loopback: the official script's requests, msal over TLS, concurrency."""

from __future__ import annotations

import concurrent.futures
import ssl
from pathlib import Path

import httpx
import msal
import pytest

from hrsignal.store import identity
from hrsignal.store.engine import Store
from hrsignal.store.records import read_current
from tests.server import helpers
from tests.server.conftest import Running
from tests.server.tls import make_self_signed

SCOPE = [helpers.RESOURCE + "/.default"]


def _v1_token(base: str, t: helpers.Tenant, **kw: object) -> str:
    r = httpx.post(
        f"{base}/{t.tenant_id}/oauth2/token?api-version=1.0",
        content=helpers.official_token_body(t.app_id, t.secret, t.tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
        **kw,  # type: ignore[arg-type]
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_official_script_flow_in_50000_row_chunks(
    loopback: Running, tenant: helpers.Tenant, store: Store
) -> None:
    """The script's v1 token and .NET multipart chunks of 50,000 rows save every valid row,
    and sending the same chunks again saves nothing new."""
    token = _v1_token(loopback.base_url, tenant)
    total = 0
    for index, start in enumerate((0, 50_000), start=1):
        body, ctype = helpers.dotnet_multipart(
            helpers.resignations_csv(50_000, start=start), index=index
        )
        r = httpx.post(
            f"{loopback.base_url}/api/signals?jobid={tenant.job_id}",
            content=body,
            headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert r.json()["recordsSaved"] == 50_000
        total += r.json()["recordsSaved"]
    assert total == 100_000
    assert read_current(store).num_rows == 100_000
    body, ctype = helpers.dotnet_multipart(helpers.resignations_csv(50_000))
    again = httpx.post(
        f"{loopback.base_url}/api/signals?jobid={tenant.job_id}",
        content=body,
        headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"},
        timeout=120,
    ).json()
    assert (again["recordsSaved"], again["recordsUnchanged"]) == (0, 50_000)


def test_two_uploads_at_once_lose_nothing(
    loopback: Running, tenant: helpers.Tenant, store: Store
) -> None:
    """Two overlapping uploads to one job, sent concurrently, save the union exactly once."""
    token = _v1_token(loopback.base_url, tenant)
    first = helpers.resignations_csv(20_000, start=0)
    second = helpers.resignations_csv(20_000, start=10_000)  # 10,000 rows in common

    def send(csv: bytes) -> dict[str, int]:
        body, ctype = helpers.dotnet_multipart(csv)
        r = httpx.post(
            f"{loopback.base_url}/api/signals?jobid={tenant.job_id}",
            content=body,
            headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(send, [first, second]))
    assert sum(r["recordsSaved"] for r in results) == 30_000
    assert sum(r["recordsUnchanged"] for r in results) == 10_000
    assert read_current(store).num_rows == 30_000


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, ca_path: Path) -> Path:
    """Trust the test CA in msal: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a
    session's ``verify``, so point them at the test CA as a user would."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return ca_path


@pytest.mark.parametrize("discovery", ["off", "served"])
def test_msal_gets_a_token_over_tls(
    loopback_tls: Running, tenant: helpers.Tenant, trust_test_ca: Path, discovery: str
) -> None:
    """msal, trusting only the test CA, gets a token from the server's v2 endpoint (with
    instance discovery turned off, or pointed at the server's own discovery document) and the
    token is accepted by /api/signals."""
    base = loopback_tls.base_url
    kwargs: dict[str, object] = {"instance_discovery": False}
    if discovery == "served":
        kwargs = {"instance_discovery": f"{base}/common/discovery/instance"}
    app = msal.ConfidentialClientApplication(
        tenant.app_id,
        client_credential=tenant.secret,
        authority=f"{base}/{tenant.tenant_id}",
        verify=str(trust_test_ca),
        **kwargs,
    )
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result
    r = httpx.post(
        f"{base}/api/signals?jobid={tenant.job_id}",
        content=helpers.resignations_csv(3),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {result['access_token']}"},
        verify=ssl.create_default_context(cafile=str(trust_test_ca)),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["recordsSaved"] == 3


def test_msal_certificate_credential_over_tls(
    loopback_tls: Running,
    tenant: helpers.Tenant,
    store: Store,
    trust_test_ca: Path,
    tmp_path: Path,
) -> None:
    """msal signs a client assertion with a registered certificate and gets a token."""
    cert = make_self_signed(tmp_path)
    identity.add_certificate(store, tenant.app_id, cert.cert_pem)
    app = msal.ConfidentialClientApplication(
        tenant.app_id,
        client_credential={
            "private_key": cert.key_pem.decode(),
            "thumbprint": cert.sha1_hex,
        },
        authority=f"{loopback_tls.base_url}/{tenant.tenant_id}",
        verify=str(trust_test_ca),
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result


def test_untrusted_certificate_is_refused_by_the_client(
    loopback_tls: Running, tenant: helpers.Tenant
) -> None:
    """Without the test CA the TLS handshake fails: the server really speaks TLS."""
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{loopback_tls.base_url}/healthz", timeout=10)
