"""Personal data at rest: field-level AES-256-GCM encryption and keyed blind indexes.

Keys come from the environment only:

* ``WENZHEN_DATA_KEYS`` – ``<key id>:<base64 32-byte key>`` pairs, comma-separated;
* ``WENZHEN_DATA_KEY_ID`` – the key id used for new encryptions (default: the first);
* ``WENZHEN_INDEX_KEY`` – base64 key of the HMAC-SHA256 blind index.

An encrypted field is stored as ``{"kid", "nonce", "ct"}`` (the key id makes
rotation possible: old values stay readable while new ones use the new key).
The field name and the document's id are bound in as associated data, so a
ciphertext copied to another field or record does not decrypt. Lookups and
unique indexes use the blind index: HMAC(index key, kind + normalized value),
never the plaintext.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyringError(RuntimeError):
    """Keys are missing or malformed: the service must not start without them."""


def _b64(value: str) -> bytes:
    return base64.b64decode(value.encode(), validate=True)


def new_key() -> str:
    """A fresh random key, base64 (for set-up scripts and tests)."""
    return base64.b64encode(os.urandom(32)).decode()


def new_key_settings() -> dict[str, str]:
    """A complete set of fresh keys, as environment variables."""
    return {"WENZHEN_DATA_KEYS": f"k1:{new_key()}", "WENZHEN_DATA_KEY_ID": "k1", "WENZHEN_INDEX_KEY": new_key()}


@dataclass(frozen=True)
class Keyring:
    data_keys: dict[str, bytes]
    current: str
    index_key: bytes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if environ is None else environ
        raw = env.get("WENZHEN_DATA_KEYS", "")
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            kid, _, value = item.partition(":")
            try:
                key = _b64(value)
            except ValueError:
                raise KeyringError(f"WENZHEN_DATA_KEYS: key {kid!r} is not base64") from None
            if len(key) != 32:
                raise KeyringError(f"WENZHEN_DATA_KEYS: key {kid!r} must be 32 bytes")
            keys[kid] = key
        if not keys:
            raise KeyringError("WENZHEN_DATA_KEYS is not set: personal data cannot be encrypted")
        current = env.get("WENZHEN_DATA_KEY_ID") or next(iter(keys))
        if current not in keys:
            raise KeyringError(f"WENZHEN_DATA_KEY_ID {current!r} is not among WENZHEN_DATA_KEYS")
        try:
            index_key = _b64(env.get("WENZHEN_INDEX_KEY", ""))
        except ValueError:
            raise KeyringError("WENZHEN_INDEX_KEY is not base64") from None
        if len(index_key) < 32:
            raise KeyringError("WENZHEN_INDEX_KEY is not set (32 bytes, base64)")
        return cls(keys, current, index_key)

    def encrypt(self, plaintext: str, *, field: str, record: str) -> dict:
        nonce = os.urandom(12)
        ct = AESGCM(self.data_keys[self.current]).encrypt(nonce, plaintext.encode(), _aad(field, record))
        return {"kid": self.current, "nonce": base64.b64encode(nonce).decode(), "ct": base64.b64encode(ct).decode()}

    def decrypt(self, sealed: dict, *, field: str, record: str) -> str:
        key = self.data_keys.get(sealed["kid"])
        if key is None:
            raise KeyringError(f"no data key {sealed['kid']!r} to decrypt {field}")
        return AESGCM(key).decrypt(_b64(sealed["nonce"]), _b64(sealed["ct"]), _aad(field, record)).decode()

    def encrypt_bytes(self, data: bytes, *, field: str, record: str) -> tuple[str, bytes]:
        """For files: the key id and ``nonce || ciphertext`` (kept beside the file, not base64'd in a document)."""
        nonce = os.urandom(12)
        return self.current, nonce + AESGCM(self.data_keys[self.current]).encrypt(nonce, data, _aad(field, record))

    def decrypt_bytes(self, kid: str, blob: bytes, *, field: str, record: str) -> bytes:
        key = self.data_keys.get(kid)
        if key is None:
            raise KeyringError(f"no data key {kid!r} to decrypt {field}")
        return AESGCM(key).decrypt(blob[:12], blob[12:], _aad(field, record))

    def blind_index(self, kind: str, value: str) -> str:
        return hmac.new(self.index_key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _aad(field: str, record: str) -> bytes:
    return f"wenzhen:{field}:{record}".encode()


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The process's keyring, read once from the environment."""
    return Keyring.from_env()
