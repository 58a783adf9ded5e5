"""Tokens: msal against the fake Entra ID, refresh on 401, certificates, secrets kept secret."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.client.conftest import APP, JOB, SECRET, TENANT, Target, resignations, run_cli
from tests.fakes.ca import make_app_certificate
from tests.fakes.microsoft import status

pytestmark = pytest.mark.timeout(120)


def _no_secret_args(target: Target, path: Path) -> list[str]:
    args = target.upload_args(path)
    i = args.index("--app-secret-file")
    return args[:i] + args[i + 2 :]


def test_expired_token_401_refreshes_once_and_delivers(target: Target, tmp_path: Path) -> None:
    """The server says 401 for a token msal still believes valid: one new token, one resend."""
    fake = target.fake
    path = resignations(tmp_path / "hr.csv", 10)
    sent_first = False

    def revoke_after_first(req: object) -> bool:
        nonlocal sent_first
        if not sent_first and len(fake.accepted) == 1:
            fake.revoke_tokens()  # the token expires server-side between chunk 1 and 2
            sent_first = True
        return False

    fake.on_upload(status(200), when=revoke_after_first, times=None)
    result = run_cli(target.upload_args(path, "--records-per-call", "5"))
    assert result.exit_code == 0, result.output
    assert fake.tokens_issued == 2
    assert len(fake.rows(JOB)) == 10
    assert [len(r.rows) for r in fake.accepted] == [5, 5]


def test_token_rejected_twice_is_an_auth_error(target: Target, tmp_path: Path) -> None:
    """If the fresh token is refused too, stop with exit 4 (no endless refresh loop)."""
    fake = target.fake

    def revoke_all(req: object) -> bool:
        fake.revoke_tokens()
        return False

    fake.on_upload(status(200), when=revoke_all, times=None)
    path = resignations(tmp_path / "hr.csv", 3)
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 4
    assert "refused the token twice (HTTP 401)" in result.output
    assert fake.tokens_issued == 2


def test_wrong_secret_fails_fast_with_entra_error_text(target: Target, tmp_path: Path) -> None:
    """A wrong secret: exit 4 at once, AADSTS7000215 and a hint; one token request only."""
    path = resignations(tmp_path / "hr.csv", 3)
    args = _no_secret_args(target, path)
    result = run_cli(args, env={"HRSIGNAL_APP_SECRET": "not-the-secret"})
    assert result.exit_code == 4
    assert "AADSTS7000215: Invalid client secret provided." in result.output
    assert "the secret's Value" in result.output
    assert len(target.fake.token_requests) == 1
    assert target.fake.requests == []
    assert "not-the-secret" not in result.output


def test_unknown_app_says_app_not_found(target: Target, tmp_path: Path) -> None:
    """An app ID that is not in the tenant: AADSTS700016 and what to check."""
    path = resignations(tmp_path / "hr.csv", 3)
    args = target.upload_args(path)
    args[args.index(APP)] = "11111111-2222-4333-8444-555555555555"
    result = run_cli(args)
    assert result.exit_code == 4
    assert "AADSTS700016" in result.output and "--app-id" in result.output


def test_unknown_tenant_is_explained(target: Target, tmp_path: Path) -> None:
    """A tenant the login host does not know: exit 4 and a hint about --tenant-id."""
    path = resignations(tmp_path / "hr.csv", 3)
    args = target.upload_args(path)
    args[args.index(TENANT)] = "99999999-2222-4333-8444-555555555555"
    result = run_cli(args)
    assert result.exit_code == 4
    assert "--tenant-id" in result.output


def test_certificate_authentication(target: Target, tmp_path: Path) -> None:
    """An app with a certificate: msal signs a client assertion the fake verifies."""
    cert = make_app_certificate(tmp_path / "certs", password="pfx-pass")
    target.fake.apps[APP].certificate = cert.certificate
    target.fake.apps[APP].secret = None
    path = resignations(tmp_path / "hr.csv", 4)
    args = [
        *_no_secret_args(target, path),
        "--certificate",
        str(cert.pem_path),
        "--certificate-password",
        "pfx-pass",
    ]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    assert len(target.fake.rows(JOB)) == 4
    assert target.fake.token_requests[0]["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )


def test_unregistered_certificate_is_refused(target: Target, tmp_path: Path) -> None:
    """A certificate the app does not hold: exit 4 with Entra's AADSTS700027."""
    registered = make_app_certificate(tmp_path / "a", name="registered")
    other = make_app_certificate(tmp_path / "b", name="other")
    target.fake.apps[APP].certificate = registered.certificate
    path = resignations(tmp_path / "hr.csv", 2)
    result = run_cli([*_no_secret_args(target, path), "--certificate", str(other.pem_path)])
    assert result.exit_code == 4
    assert "AADSTS700027" in result.output


def test_encrypted_certificate_without_password_is_a_usage_error(
    target: Target, tmp_path: Path
) -> None:
    """A password-protected key without --certificate-password: exit 2 and what to add."""
    cert = make_app_certificate(tmp_path / "c", password="pw")
    path = resignations(tmp_path / "hr.csv", 2)
    result = run_cli([*_no_secret_args(target, path), "--certificate", str(cert.pem_path)])
    assert result.exit_code == 2
    assert "--certificate-password" in result.output


def test_secret_is_never_printed_or_stored(target: Target, tmp_path: Path) -> None:
    """With the secret on argv, through failures and success, it appears in no output and in
    no file of the state directory."""
    path = resignations(tmp_path / "hr.csv", 6)
    args = [*_no_secret_args(target, path), "--app-secret", SECRET, "--records-per-call", "2"]
    target.fake.on_upload(status(503), times=2)
    target.fake.on_upload(status(400, "bad"), when=lambda r: r.part == 2, times=1)
    outputs = [run_cli(args).output, run_cli(args).output]
    outputs.append(run_cli([*args, "--format", "json"]).output)
    bad = [*_no_secret_args(target, path), "--app-secret", SECRET + "x"]
    outputs.append(run_cli(bad).output)
    outputs.append(run_cli(["doctor", *target.args()]).output)
    for out in outputs:
        assert SECRET not in out
    for file in target.state_dir.rglob("*"):
        if file.is_file():
            assert SECRET not in file.read_text(errors="replace")


def test_no_credential_is_a_usage_error(target: Target, tmp_path: Path) -> None:
    """No secret anywhere: exit 2 naming the ways to give one."""
    path = resignations(tmp_path / "hr.csv", 2)
    result = run_cli(_no_secret_args(target, path))
    assert result.exit_code == 2
    assert "HRSIGNAL_APP_SECRET" in result.output


def test_two_credentials_are_a_usage_error(target: Target, tmp_path: Path) -> None:
    """A secret file and a certificate together: exit 2."""
    path = resignations(tmp_path / "hr.csv", 2)
    result = run_cli(target.upload_args(path, "--certificate", str(target.secret_file)))
    assert result.exit_code == 2 and "give one credential" in result.output


def _has_keyvault() -> bool:
    try:
        return importlib.util.find_spec("azure.keyvault.secrets") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_has_keyvault(), reason="the keyvault extra is installed here")
def test_key_vault_without_the_extra_says_how_to_install(target: Target, tmp_path: Path) -> None:
    """--key-vault-url without azure-keyvault-secrets installed: exit 2 and the pip line."""
    path = resignations(tmp_path / "hr.csv", 2)
    args = [
        *_no_secret_args(target, path),
        "--key-vault-url",
        "https://example.vault.azure.net",
        "--secret-name",
        "hr-upload",
    ]
    result = run_cli(args)
    assert result.exit_code == 2
    assert "hrsignal[keyvault]" in result.output


def test_token_endpoint_503_is_retried(target: Target, tmp_path: Path) -> None:
    """A failing token endpoint is a transient failure: retried, then the upload succeeds."""
    # msal holds back requests after a 5xx for Retry-After seconds (5 s without one).
    target.fake.on_token(
        status(503, '{"error":"temporarily_unavailable"}', Retry_After="1"), times=1
    )
    path = resignations(tmp_path / "hr.csv", 3)
    result = run_cli(target.upload_args(path))
    assert result.exit_code == 0, result.output
    assert len(target.fake.rows(JOB)) == 3


def test_untrusted_tls_certificate_fails_fast(target: Target, tmp_path: Path) -> None:
    """Without the test CA the TLS check fails: exit 5 at once with the --ca-bundle hint."""
    path = resignations(tmp_path / "hr.csv", 2)
    args = target.upload_args(path)
    i = args.index("--ca-bundle")
    del args[i : i + 2]
    result = run_cli(args)
    assert result.exit_code == 5
    assert "--ca-bundle" in result.output
    assert "not delivered after" not in result.output  # not retried
    assert target.fake.token_requests == []


def test_token_near_expiry_is_renewed_before_use(target: Target, tmp_path: Path) -> None:
    """A token with under five minutes left is not used: each chunk gets a fresh one, so a
    request never leaves with a token about to expire (with an hour, one token serves all)."""
    target.fake.token_lifetime = 240
    path = resignations(tmp_path / "hr.csv", 6)
    assert run_cli(target.upload_args(path, "--records-per-call", "2")).exit_code == 0
    assert target.fake.tokens_issued == 3


def test_empty_secret_file_is_a_usage_error(target: Target, tmp_path: Path) -> None:
    """An empty --app-secret-file: exit 2, before any request."""
    empty = tmp_path / "empty-secret"
    empty.write_text("\n")
    path = resignations(tmp_path / "hr.csv", 2)
    result = run_cli([*_no_secret_args(target, path), "--app-secret-file", str(empty)])
    assert result.exit_code == 2 and "is empty" in result.output
    assert target.fake.token_requests == []
