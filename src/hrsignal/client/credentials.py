"""Where the app's credential comes from: a secret (option, environment, file, Azure Key Vault)
or a certificate. The secret is wrapped so that it never shows in a repr, a log or a traceback.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hrsignal.errors import AuthError, ConfigError, InputFileError, UsageError

#: The environment variable holding the client secret (preferred over ``--app-secret``).
SECRET_ENV = "HRSIGNAL_APP_SECRET"  # noqa: S105 - the variable name, not a secret


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for the token request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class CertificateCredential:
    """A certificate and its private key (PEM), for a signed client assertion."""

    private_key_pem: str
    certificate_pem: str
    sha1_thumbprint: str
    sha256_thumbprint: str
    not_after: str

    def __repr__(self) -> str:
        return f"CertificateCredential(sha256={self.sha256_thumbprint})"

    def to_msal(self) -> dict[str, Any]:
        """The ``client_credential`` msal takes: with the public certificate msal signs a PS256
        assertion carrying ``x5t#S256`` and ``x5c``."""
        return {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}


Credential = Secret | CertificateCredential


def resolve_credential(
    *,
    app_secret: str | None = None,
    app_secret_file: str | None = None,
    key_vault_url: str | None = None,
    secret_name: str | None = None,
    certificate: str | None = None,
    certificate_password: str | None = None,
    environ: dict[str, str] | None = None,
) -> Credential:
    """Pick exactly one credential source; the environment variable is the fallback."""
    env = os.environ if environ is None else environ
    given = [
        name
        for name, value in (
            ("--app-secret", app_secret),
            ("--app-secret-file", app_secret_file),
            ("--key-vault-url", key_vault_url),
            ("--certificate", certificate),
        )
        if value
    ]
    if len(given) > 1:
        raise UsageError(f"give one credential, not {' and '.join(given)}")
    if secret_name and not key_vault_url:
        raise UsageError("--secret-name needs --key-vault-url")
    if certificate:
        return load_certificate(certificate, certificate_password)
    if app_secret:
        return Secret(app_secret)
    if app_secret_file:
        return _secret_from_file(app_secret_file)
    if key_vault_url:
        if not secret_name:
            raise UsageError("--key-vault-url needs --secret-name")
        return secret_from_key_vault(key_vault_url, secret_name)
    value = env.get(SECRET_ENV, "")
    if value:
        return Secret(value)
    raise UsageError(
        "no credential given",
        hint=f"set {SECRET_ENV}, or pass --app-secret-file, --key-vault-url with "
        "--secret-name, or --certificate",
    )


def _secret_from_file(path: str) -> Secret:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"--app-secret-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"--app-secret-file {path}: cannot be read ({exc})") from None
    value = text.strip()  # an editor's trailing newline is not part of the secret
    if not value:
        raise UsageError(f"--app-secret-file {path} is empty")
    return Secret(value)


def secret_from_key_vault(vault_url: str, name: str) -> Secret:
    """Read the secret from Azure Key Vault with the ambient Azure identity (optional extra)."""
    try:
        identity = importlib.import_module("azure.identity")
        secrets = importlib.import_module("azure.keyvault.secrets")
    except ImportError:
        raise ConfigError(
            "Azure Key Vault support is not installed",
            hint="pip install 'hrsignal[keyvault]' (azure-identity, azure-keyvault-secrets)",
        ) from None
    try:
        client = secrets.SecretClient(
            vault_url=vault_url, credential=identity.DefaultAzureCredential()
        )
        value = client.get_secret(name).value
    except Exception as exc:
        raise AuthError(
            f"cannot read secret {name!r} from {vault_url}: {type(exc).__name__}",
            hint="check the vault URL, the secret name and that this identity may read it "
            "(az login, a managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/...)",
        ) from None
    if not value:
        raise AuthError(f"secret {name!r} in {vault_url} is empty")
    return Secret(str(value))


def load_certificate(path: str, password: str | None) -> CertificateCredential:
    """Load a PEM holding the private key and the certificate (in either order)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"--certificate {path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"--certificate {path}: cannot be read ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(
            data, password=password.encode() if password else None
        )
    except TypeError:
        raise UsageError(
            f"--certificate {path}: the private key is encrypted",
            hint="give --certificate-password",
        ) from None
    except ValueError:
        raise UsageError(
            f"--certificate {path}: no readable private key "
            "(wrong --certificate-password, or not a PEM with a PRIVATE KEY block)"
        ) from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise UsageError(
            f"--certificate {path}: no CERTIFICATE block beside the private key",
            hint="concatenate the key and the certificate into one PEM file",
        ) from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    from cryptography.hazmat.primitives import hashes

    return CertificateCredential(
        private_key_pem=key_pem,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        sha1_thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Entra shows SHA-1 thumbprints
        sha256_thumbprint=cert.fingerprint(hashes.SHA256()).hex().upper(),
        not_after=cert.not_valid_after_utc.isoformat(),
    )
