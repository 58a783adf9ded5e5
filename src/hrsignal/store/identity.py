"""Identity records: applications, their secrets and certificates, signing keys, admin tokens.

Client secrets are shown once and stored only as argon2id hashes (slow and salted, so a stolen
database does not yield usable secrets); an app may hold several for rotation, each with an
expiry. Admin tokens are 256-bit random strings, so a fast SHA-256 is enough to store them.
Secrets and tokens carry a prefix (``hrs_``, ``hrsadm_``) so a leaked one is easy to grep for.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from hrsignal.errors import ConflictError, NotFoundError, UsageError
from hrsignal.store.engine import Store
from hrsignal.store.schema import (
    admin_tokens,
    app_certificates,
    app_secrets,
    apps,
    signing_keys,
    used_assertions,
)

SECRET_PREFIX = "hrs_"  # noqa: S105 - a prefix, not a secret
ADMIN_PREFIX = "hrsadm_"
_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; every stored datetime is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes thumbprints."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class App:
    """A registered application (Entra's app registration)."""

    app_id: str
    tenant_id: str
    name: str
    created_at: dt.datetime


@dataclass(frozen=True)
class NewSecret:
    """A secret just created: the only time its value is known."""

    app: App
    secret_id: str
    secret: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class SecretInfo:
    """A stored secret, without its value."""

    secret_id: str
    hint: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class Certificate:
    """A certificate credential of an app."""

    cert_id: str
    app_id: str
    x5t: str
    x5t_s256: str
    pem: str
    not_after: dt.datetime


def _app(row: object) -> App:
    r = row._mapping  # type: ignore[attr-defined]
    return App(r["app_id"], r["tenant_id"], r["name"], as_utc(r["created_at"]))


def create_app(store: Store, name: str, *, tenant_id: str, expires_in_days: int) -> NewSecret:
    """Register an application with a first secret; the secret is returned once."""
    if not name.strip():
        raise UsageError("the application name must not be empty")
    app = App(str(uuid.uuid4()), tenant_id, name.strip(), utcnow())
    with store.write() as conn:
        conn.execute(insert(apps).values(**app.__dict__))
    return add_secret(store, app.app_id, expires_in_days=expires_in_days)


def default_tenant(store: Store) -> str:
    """This installation's tenant id: the first app's, or a new one for the first app."""
    with store.read() as conn:
        row = conn.execute(select(apps.c.tenant_id).order_by(apps.c.created_at).limit(1)).first()
    return row[0] if row is not None else str(uuid.uuid4())


def get_app(store: Store, app_id: str) -> App:
    """The app ``app_id``; :class:`NotFoundError` otherwise."""
    with store.read() as conn:
        row = conn.execute(select(apps).where(apps.c.app_id == app_id)).first()
    if row is None:
        raise NotFoundError(f"no application {app_id!r}; list them with `hrsignal apps list`")
    return _app(row)


def find_app(store: Store, app_id: str) -> App | None:
    """The app ``app_id`` or None."""
    with store.read() as conn:
        row = conn.execute(select(apps).where(apps.c.app_id == app_id)).first()
    return None if row is None else _app(row)


def list_apps(store: Store) -> list[App]:
    """Every app, oldest first."""
    with store.read() as conn:
        rows = conn.execute(select(apps).order_by(apps.c.created_at)).all()
    return [_app(r) for r in rows]


def delete_app(store: Store, app_id: str) -> None:
    """Delete an app and its credentials (refused while a connector uses it)."""
    get_app(store, app_id)
    try:
        with store.write() as conn:
            conn.execute(delete(app_secrets).where(app_secrets.c.app_id == app_id))
            conn.execute(delete(app_certificates).where(app_certificates.c.app_id == app_id))
            conn.execute(delete(apps).where(apps.c.app_id == app_id))
    except IntegrityError:
        raise ConflictError(
            f"application {app_id} is used by a connector; delete the connector first"
        ) from None


def add_secret(store: Store, app_id: str, *, expires_in_days: int) -> NewSecret:
    """Add a client secret to an app; its value is returned once and stored hashed."""
    if not 1 <= expires_in_days <= 3650:
        raise UsageError("--expires-in-days must be between 1 and 3650")
    app = get_app(store, app_id)
    value = SECRET_PREFIX + secrets.token_urlsafe(30)
    now = utcnow()
    secret_id = str(uuid.uuid4())
    expires = now + dt.timedelta(days=expires_in_days)
    with store.write() as conn:
        conn.execute(
            insert(app_secrets).values(
                secret_id=secret_id,
                app_id=app_id,
                hint=value[: len(SECRET_PREFIX) + 3],
                hash=_HASHER.hash(value),
                created_at=now,
                expires_at=expires,
            )
        )
    return NewSecret(app, secret_id, value, expires)


def list_secrets(store: Store, app_id: str) -> list[SecretInfo]:
    """The app's secrets (hint and dates only)."""
    with store.read() as conn:
        rows = conn.execute(
            select(app_secrets).where(app_secrets.c.app_id == app_id).order_by("created_at")
        ).all()
    return [
        SecretInfo(r.secret_id, r.hint, as_utc(r.created_at), as_utc(r.expires_at)) for r in rows
    ]


def remove_secret(store: Store, app_id: str, secret_id: str) -> None:
    """Remove one secret of an app; tokens it obtained stay valid until they expire."""
    with store.write() as conn:
        result = conn.execute(
            delete(app_secrets).where(
                app_secrets.c.app_id == app_id, app_secrets.c.secret_id == secret_id
            )
        )
    if result.rowcount == 0:
        raise NotFoundError(f"application {app_id} has no secret {secret_id}")


def check_secret(store: Store, app_id: str, value: str) -> str:
    """``"ok"``, ``"expired"`` (only an expired secret matches) or ``"invalid"``."""
    with store.read() as conn:
        rows = conn.execute(
            select(app_secrets.c.hash, app_secrets.c.expires_at).where(
                app_secrets.c.app_id == app_id
            )
        ).all()
    now = utcnow()
    expired = False
    for stored_hash, expires_at in rows:
        try:
            _HASHER.verify(stored_hash, value)
        except (VerificationError, InvalidHashError):
            continue
        if as_utc(expires_at) > now:
            return "ok"
        expired = True
    return "expired" if expired else "invalid"


def add_certificate(store: Store, app_id: str, pem: bytes) -> Certificate:
    """Register a public certificate (PEM) as a credential for client assertions."""
    get_app(store, app_id)
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise UsageError(f"not a PEM certificate: {exc}") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise UsageError("only RSA certificates are supported (RS256/PS256 assertions)")
    der = cert.public_bytes(serialization.Encoding.DER)
    record = Certificate(
        cert_id=str(uuid.uuid4()),
        app_id=app_id,
        x5t=b64url(hashlib.sha1(der).digest()),  # noqa: S324 - x5t is defined as SHA-1
        x5t_s256=b64url(hashlib.sha256(der).digest()),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        not_after=cert.not_valid_after_utc,
    )
    with store.write() as conn:
        conn.execute(insert(app_certificates).values(**record.__dict__, created_at=utcnow()))
    return record


def find_certificate(
    store: Store, app_id: str, *, x5t: str | None, x5t_s256: str | None
) -> Certificate | None:
    """The app's certificate with this thumbprint, or None."""
    query = select(app_certificates).where(app_certificates.c.app_id == app_id)
    if x5t_s256:
        query = query.where(app_certificates.c.x5t_s256 == x5t_s256)
    elif x5t:
        query = query.where(app_certificates.c.x5t == x5t)
    else:
        return None
    with store.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    r = row._mapping
    return Certificate(
        r["cert_id"], r["app_id"], r["x5t"], r["x5t_s256"], r["pem"], as_utc(r["not_after"])
    )


def list_certificates(store: Store, app_id: str) -> list[Certificate]:
    """The app's certificates."""
    with store.read() as conn:
        rows = conn.execute(
            select(app_certificates).where(app_certificates.c.app_id == app_id)
        ).all()
    return [
        Certificate(r.cert_id, r.app_id, r.x5t, r.x5t_s256, r.pem, as_utc(r.not_after))
        for r in rows
    ]


def remember_assertion(store: Store, jti: str, expires_at: dt.datetime) -> bool:
    """Record a client assertion's ``jti``; False when it was already used (a replay)."""
    now = utcnow()
    try:
        with store.write() as conn:
            conn.execute(delete(used_assertions).where(used_assertions.c.expires_at < now))
            conn.execute(insert(used_assertions).values(jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def signing_key_pem(store: Store) -> tuple[str, bytes]:
    """The active token-signing key ``(kid, private PEM)``, created on first use."""
    with store.read() as conn:
        row = conn.execute(
            select(signing_keys.c.kid, signing_keys.c.private_pem).where(signing_keys.c.active)
        ).first()
    if row is not None:
        return row[0], row[1].encode("ascii")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = b64url(hashlib.sha256(public_der).digest())[:32]
    try:
        with store.write() as conn:
            # Another process may have created one meanwhile: keep the first.
            existing = conn.execute(select(signing_keys.c.kid).where(signing_keys.c.active))
            if existing.first() is None:
                conn.execute(
                    insert(signing_keys).values(
                        kid=kid, private_pem=pem.decode("ascii"), created_at=utcnow(), active=True
                    )
                )
    except IntegrityError:
        pass
    return signing_key_pem(store)


def create_admin_token(store: Store, name: str = "admin") -> str:
    """Create an admin API token; its value is returned once."""
    value = ADMIN_PREFIX + secrets.token_urlsafe(32)
    with store.write() as conn:
        conn.execute(
            insert(admin_tokens).values(
                token_id=str(uuid.uuid4()),
                sha256=hashlib.sha256(value.encode()).hexdigest(),
                name=name,
                created_at=utcnow(),
            )
        )
    return value


def has_admin_token(store: Store) -> bool:
    """True when at least one admin token exists."""
    with store.read() as conn:
        return conn.execute(select(admin_tokens.c.token_id).limit(1)).first() is not None


def check_admin_token(store: Store, value: str) -> bool:
    """True when ``value`` is a current admin token."""
    digest = hashlib.sha256(value.encode()).hexdigest()
    with store.read() as conn:
        rows = conn.execute(select(admin_tokens.c.sha256)).scalars().all()
    # compare_digest on each so the time taken does not reveal a prefix match
    return any(hmac.compare_digest(digest, stored) for stored in rows)
