"""A private certificate authority for the demo service, generated offline with ``cryptography``.

msal only accepts an https authority, so the demo's service listens with TLS. The CA
(``ca.pem``) and a server certificate for ``127.0.0.1`` and ``localhost`` are written once into
the demo's ``tls/`` folder and reused while they stay valid for at least another day, so a
browser told to trust ``ca.pem`` keeps trusting the demo across runs. The CA's key is thrown
away after signing: nothing else can ever be signed with it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: How long the generated certificates are valid.
VALID_DAYS = 90


@dataclass(frozen=True, slots=True)
class DemoTLS:
    """Files of the demo's TLS: the CA to trust, and the server's certificate and key."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def ensure_tls(directory: Path, *, now: dt.datetime | None = None) -> DemoTLS:
    """The demo CA and server certificate in ``directory``: reused when still valid for a day,
    else (re)generated."""
    tls = DemoTLS(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    now = now or dt.datetime.now(dt.UTC)
    if _still_valid(tls, now + dt.timedelta(days=1)):
        return tls
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hrsignal demo CA")])
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=VALID_DAYS)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(tls.ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(tls.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(tls.key_path, key_pem, 0o600)
    return tls


def _still_valid(tls: DemoTLS, until: dt.datetime) -> bool:
    """All three files exist and both certificates are valid until ``until``."""
    if not (tls.ca_path.is_file() and tls.cert_path.is_file() and tls.key_path.is_file()):
        return False
    try:
        for path in (tls.ca_path, tls.cert_path):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if cert.not_valid_after_utc < until:
                return False
    except (OSError, ValueError):
        return False  # unreadable or not a certificate: make new ones
    return True


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` with ``mode`` from the start (a key is never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)
