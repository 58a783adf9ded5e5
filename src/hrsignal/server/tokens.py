"""Access tokens: issued as RS256 JWTs in Entra's shapes, and checked strictly.

The issuer's RSA key lives in the store (created on first use) and is published as a JWKS.
A token carries ``aud`` (the ingestion resource), ``iss``, ``appid``/``azp``, ``tid``, ``iat``,
``nbf``, ``exp``, ``ver`` and ``idtyp: app``. Checking accepts only RS256 with our key id,
requires every claim, allows a small clock skew, and matches the audience against the
configured resources; anything else is one :class:`~hrsignal.errors.AuthError`.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hrsignal.errors import AuthError
from hrsignal.server.settings import Settings
from hrsignal.store.engine import Store
from hrsignal.store.identity import signing_key_pem


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class TokenClaims:
    """The parts of a valid access token the service uses."""

    app_id: str
    tenant_id: str
    audience: str
    expires: int


class TokenIssuer:
    """Signs access tokens with the store's key and verifies them."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.settings = settings
        kid, pem = signing_key_pem(store)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise AuthError("the stored signing key is not an RSA key")
        self.kid = kid
        self._private = key
        self._public = key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The public key set (``/discovery/v2.0/keys``)."""
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64uint(numbers.n),
                    "e": _b64uint(numbers.e),
                }
            ]
        }

    def issue(
        self, *, app_id: str, tenant_id: str, audience: str, issuer: str, version: str
    ) -> tuple[str, int, int]:
        """A signed token; returns ``(token, not_before, expires_on)`` (epoch seconds)."""
        now = int(time.time())
        expires = now + self.settings.token_lifetime_s
        claims = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "appid": app_id,
            "azp": app_id,
            "sub": app_id,
            "oid": app_id,
            "tid": tenant_id,
            "idtyp": "app",
            "ver": version,
            "uti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})
        return token, now, expires

    def verify(self, token: str) -> TokenClaims:
        """Check a bearer token; :class:`AuthError` with the reason when it is not valid."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the bearer token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise AuthError(f"token algorithm {header.get('alg')!r} is not accepted")
        if header.get("kid") != self.kid:
            raise AuthError("the token was not signed by this server's key")
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=list(self.settings.resources),
                leeway=self.settings.leeway_s,
                options={"require": ["exp", "nbf", "iat", "aud", "iss", "appid", "tid"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the access token has expired; request a new one") from None
        except jwt.InvalidAudienceError:
            raise AuthError(
                "the access token's audience is not this service's resource",
                hint="request the token with resource (v1) or scope (v2) set to one of: "
                + ", ".join(self.settings.resources),
            ) from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the access token is not valid: {exc}") from None
        tenant = str(claims["tid"])
        issuer = str(claims["iss"]).rstrip("/")
        if not (issuer.endswith("/" + tenant) or issuer.endswith(f"/{tenant}/v2.0")):
            raise AuthError("the access token's issuer does not match its tenant")
        return TokenClaims(
            app_id=str(claims["appid"]),
            tenant_id=tenant,
            audience=str(claims["aud"]),
            expires=int(claims["exp"]),
        )
