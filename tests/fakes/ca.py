"""A throwaway certificate authority for TLS in tests (the demo's, ``hrsignal.demo.tls``), and
app certificates for client assertions, made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hrsignal.demo.tls import ensure_tls


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey, password: str | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class TestCA:
    """A CA certificate (``ca_path``) and a server certificate for 127.0.0.1 and localhost."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def make_ca(directory: Path) -> TestCA:
    """Write ``ca.pem``, ``server.pem`` and ``server.key`` into ``directory``: the same CA and
    server certificate the demo makes (``hrsignal.demo.tls``), so tests exercise that code."""
    tls = ensure_tls(directory)
    return TestCA(tls.ca_path, tls.cert_path, tls.key_path)


@dataclass
class AppCertificate:
    """A self-signed app certificate: ``pem_path`` holds key + certificate."""

    pem_path: Path
    certificate: x509.Certificate


def make_app_certificate(
    directory: Path, *, password: str | None = None, name: str = "app"
) -> AppCertificate:
    """A self-signed certificate as an Entra app registration would hold it."""
    now = dt.datetime.now(dt.UTC)
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"hrsignal {name}"))
        .issuer_name(_name(f"hrsignal {name}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pem"
    path.write_bytes(_pem_key(key, password) + cert.public_bytes(serialization.Encoding.PEM))
    return AppCertificate(path, cert)
