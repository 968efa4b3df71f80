"""Access tokens: signed JWTs (EdDSA / Ed25519) that identity issues and the gateway verifies.

* Only ``EdDSA`` is accepted: ``alg=none``, HMAC algorithms (the HS/RS key-confusion
  attack) and every other algorithm are refused before any key is touched.
* ``kid`` in the header picks the key, so keys rotate: publish the new public key to
  the gateway, then switch identity's signing key id; old tokens stay valid until they expire.
* Required claims: ``iss``, ``aud``, ``sub``, ``exp``, ``iat``, ``jti``, ``role``, ``sid``.
* identity holds the private keys (``WENZHEN_JWT_KEYS``, ``WENZHEN_JWT_KEY_ID``);
  the gateway holds only public keys (``WENZHEN_JWT_PUBLIC_KEYS``): least privilege.

Keys are ``<key id>:<base64 32 bytes>`` pairs, comma-separated: the raw Ed25519
private seed for signing, the raw public key for verifying.
"""
from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wenzhen.auth import Principal, Role
from wenzhen.crypto import KeyringError

ALGORITHM = "EdDSA"
ISSUER = "urn:wenzhen:identity"
AUDIENCE = "urn:wenzhen:api"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "role", "sid"]
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is not acceptable; the message says why (safe to show the caller)."""


def _pairs(raw: str, variable: str) -> dict[str, bytes]:
    keys = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kid, _, value = item.partition(":")
        try:
            key = base64.b64decode(value.encode(), validate=True)
        except ValueError:
            raise KeyringError(f"{variable}: key {kid!r} is not base64") from None
        if not kid or len(key) != 32:
            raise KeyringError(f"{variable}: key {kid!r} must be <kid>:<base64 of 32 bytes>")
        keys[kid] = key
    return keys


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def new_signing_settings(kid: str = "t1") -> dict[str, str]:
    """A fresh signing key and its public half, as environment variables (set-up scripts, tests)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return {
        "WENZHEN_JWT_KEYS": f"{kid}:{base64.b64encode(seed).decode()}",
        "WENZHEN_JWT_KEY_ID": kid,
        "WENZHEN_JWT_PUBLIC_KEYS": f"{kid}:{base64.b64encode(_raw_public(private.public_key())).decode()}",
    }


@dataclass(frozen=True)
class Verifier:
    public_keys: dict[str, Ed25519PublicKey]
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Verifier:
        env = os.environ if environ is None else environ
        raw = _pairs(env.get("WENZHEN_JWT_PUBLIC_KEYS", ""), "WENZHEN_JWT_PUBLIC_KEYS")
        if not raw:
            raise KeyringError("WENZHEN_JWT_PUBLIC_KEYS is not set: tokens cannot be verified")
        return cls({kid: Ed25519PublicKey.from_public_bytes(key) for kid, key in raw.items()})

    def verify(self, token: str) -> dict:
        """The verified claims, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not accepted")
        key = self.public_keys.get(header.get("kid", ""))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            return jwt.decode(token, key=key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                              leeway=LEEWAY_SECONDS, options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("token not meant for this API") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("token signature or claims invalid") from None

    def principal(self, token: str) -> Principal:
        return self.principal_of(self.verify(token))

    @staticmethod
    def principal_of(claims: dict) -> Principal:
        """The caller that verified ``claims`` describe."""
        try:
            role = Role(claims["role"])
        except ValueError:
            raise InvalidToken("token role unknown") from None
        return Principal.user(claims["sub"], role, sid=claims["sid"], patients=tuple(claims.get("pat", ())),
                              department=claims.get("dept"))

    def jwks(self) -> dict:
        """The public keys as a JSON Web Key Set (RFC 8037 OKP keys)."""
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": ALGORITHM, "kid": kid,
                          "x": base64.urlsafe_b64encode(_raw_public(key)).rstrip(b"=").decode()}
                         for kid, key in self.public_keys.items()]}


@dataclass(frozen=True)
class Signer:
    private_keys: dict[str, Ed25519PrivateKey]
    current: str
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Signer:
        env = os.environ if environ is None else environ
        raw = _pairs(env.get("WENZHEN_JWT_KEYS", ""), "WENZHEN_JWT_KEYS")
        if not raw:
            raise KeyringError("WENZHEN_JWT_KEYS is not set: tokens cannot be issued")
        current = env.get("WENZHEN_JWT_KEY_ID") or next(iter(raw))
        if current not in raw:
            raise KeyringError(f"WENZHEN_JWT_KEY_ID {current!r} is not among WENZHEN_JWT_KEYS")
        return cls({kid: Ed25519PrivateKey.from_private_bytes(seed) for kid, seed in raw.items()}, current)

    def issue(self, *, sub: str, role: Role, sid: str, now: datetime, ttl: timedelta,
              patients: tuple[str, ...] = (), department: str | None = None, amr: tuple[str, ...] = ("pwd",)) -> str:
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": sub, "role": role.value, "sid": sid,
            "iat": int(now.timestamp()), "nbf": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex, "amr": list(amr),
        }
        if patients:
            claims["pat"] = list(patients)
        if department:
            claims["dept"] = department
        return jwt.encode(claims, self.private_keys[self.current], algorithm=ALGORITHM,
                          headers={"kid": self.current, "typ": "at+jwt"})
