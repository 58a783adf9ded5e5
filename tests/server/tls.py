"""Client certificates for the certificate-credential tests, made with ``cryptography`` (the
TLS certificate authority is ``tests.fakes.ca.make_ca``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass
class Issued:
    """A key and certificate written to files."""

    key_pem: bytes
    cert_pem: bytes
    key_path: Path
    cert_path: Path

    @property
    def sha1_hex(self) -> str:
        """SHA-1 thumbprint of the DER certificate, hex (what msal calls ``thumbprint``)."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return hashlib.sha1(der).hexdigest()  # noqa: S324 - the x5t definition

    @property
    def sha256_hex(self) -> str:
        """SHA-256 thumbprint of the DER certificate, hex."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(directory: Path, stem: str, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> Issued:
    key_pem = _pem(key)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path = directory / f"{stem}.key"
    cert_path = directory / f"{stem}.pem"
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return Issued(key_pem, cert_pem, key_path, cert_path)


def make_self_signed(directory: Path, name: str = "client") -> Issued:
    """A self-signed client certificate (an app's certificate credential)."""
    now = dt.datetime.now(dt.UTC)
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return _write(directory, name, key, cert)
