"""Per-user encryption keys for personal data (crypto-shredding) and the email lookup index.

Each user's key is random, stored wrapped (AES-GCM) under the installation's master key.
Erasing a user destroys the key, so every event that holds their data becomes unreadable.
`KeyStore` does the cryptography; where the wrapped keys and the email index live is a
`KeyStorage`: PostgreSQL in the studio, a dict in unit tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool

from adapters.postgres import create_tables

ERASED = "[erased]"
_PREFIX = "v1:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_keys (
    user_id uuid PRIMARY KEY,
    wrapped_key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz
);
CREATE TABLE IF NOT EXISTS user_emails (
    email_digest text PRIMARY KEY,
    user_id uuid NOT NULL UNIQUE
);
"""


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _open(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], associated)


class KeyStorage(Protocol):
    """Where wrapped keys and email digests are kept; it never sees a key in clear."""

    def ensure_schema(self) -> None: ...

    def add_key(self, user_id: UUID, wrapped: bytes) -> None:
        """Keep a user's wrapped key; a no-op when the user has (or had) one."""

    def wrapped_key(self, user_id: UUID) -> bytes | None:
        """The wrapped key; None when there is none or it was destroyed."""

    def destroy_key(self, user_id: UUID) -> None: ...

    def claim_email(self, digest: str, user_id: UUID) -> bool:
        """False when the digest or the user already has an entry."""

    def release_email(self, user_id: UUID) -> None: ...

    def user_for_email(self, digest: str) -> UUID | None: ...


class PostgresKeyStorage:
    """The `user_keys` and `user_emails` tables."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def ensure_schema(self) -> None:
        with self._pool.connection() as conn:
            create_tables(conn, SCHEMA)

    def add_key(self, user_id: UUID, wrapped: bytes) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO user_keys (user_id, wrapped_key) VALUES (%s, %s) "
                "ON CONFLICT (user_id) DO NOTHING",
                (user_id, wrapped),
            )

    def wrapped_key(self, user_id: UUID) -> bytes | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT wrapped_key FROM user_keys WHERE user_id = %s", (user_id,)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def destroy_key(self, user_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE user_keys SET wrapped_key = NULL, erased_at = now() WHERE user_id = %s",
                (user_id,),
            )

    def claim_email(self, digest: str, user_id: UUID) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "INSERT INTO user_emails (email_digest, user_id) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (digest, user_id),
            )
            return cur.rowcount == 1

    def release_email(self, user_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM user_emails WHERE user_id = %s", (user_id,))

    def user_for_email(self, digest: str) -> UUID | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT user_id FROM user_emails WHERE email_digest = %s", (digest,)
            ).fetchone()
        return None if row is None else UUID(str(row[0]))


@dataclass
class InMemoryKeyStorage:
    """The same rules in dicts, for unit tests: a destroyed key stays destroyed."""

    keys: dict[UUID, bytes | None] = field(default_factory=dict)
    emails: dict[str, UUID] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ensure_schema(self) -> None:
        pass

    def add_key(self, user_id: UUID, wrapped: bytes) -> None:
        with self._lock:
            self.keys.setdefault(user_id, wrapped)

    def wrapped_key(self, user_id: UUID) -> bytes | None:
        return self.keys.get(user_id)

    def destroy_key(self, user_id: UUID) -> None:
        with self._lock:
            if user_id in self.keys:
                self.keys[user_id] = None

    def claim_email(self, digest: str, user_id: UUID) -> bool:
        with self._lock:
            if digest in self.emails or user_id in self.emails.values():
                return False
            self.emails[digest] = user_id
            return True

    def release_email(self, user_id: UUID) -> None:
        with self._lock:
            for digest in [d for d, owner in self.emails.items() if owner == user_id]:
                del self.emails[digest]

    def user_for_email(self, digest: str) -> UUID | None:
        return self.emails.get(digest)


class KeyStore:
    """Creates, uses and destroys the per-user keys; also maps email digests to users.

    `storage` is a `KeyStorage`, or a connection pool for the PostgreSQL one."""

    def __init__(self, storage: KeyStorage | ConnectionPool, master_secret: str) -> None:
        self.storage: KeyStorage = (
            PostgresKeyStorage(storage) if isinstance(storage, ConnectionPool) else storage
        )
        root = hashlib.sha256(master_secret.encode()).digest()
        self._wrap_key = hmac.digest(root, b"filmstudio:wrap", "sha256")
        self._index_key = hmac.digest(root, b"filmstudio:email-index", "sha256")

    @classmethod
    def in_memory(cls, master_secret: str) -> KeyStore:
        return cls(InMemoryKeyStorage(), master_secret)

    def ensure_schema(self) -> None:
        self.storage.ensure_schema()

    def email_digest(self, email: str) -> str:
        return hmac.new(self._index_key, email.strip().lower().encode(), "sha256").hexdigest()

    def create_key(self, user_id: UUID) -> None:
        wrapped = _seal(self._wrap_key, AESGCM.generate_key(bit_length=256), user_id.bytes)
        self.storage.add_key(user_id, wrapped)

    def _key(self, user_id: UUID) -> bytes | None:
        wrapped = self.storage.wrapped_key(user_id)
        return None if wrapped is None else _open(self._wrap_key, wrapped, user_id.bytes)

    def seal(self, user_id: UUID, data: bytes) -> bytes:
        """Encrypt bytes under the user's key."""
        key = self._key(user_id)
        if key is None:
            raise LookupError(f"no key for user {user_id}")
        return _seal(key, data, user_id.bytes)

    def unseal(self, user_id: UUID, sealed: bytes) -> bytes:
        """Decrypt what `seal` made; LookupError once the user's key is destroyed."""
        key = self._key(user_id)
        if key is None:
            raise LookupError(f"the key of user {user_id} is destroyed")
        return _open(key, sealed, user_id.bytes)

    def encrypt(self, user_id: UUID, text: str) -> str:
        return _PREFIX + base64.b64encode(self.seal(user_id, text.encode())).decode()

    def decrypt(self, user_id: UUID, token: str) -> str:
        """The clear text, or ERASED once the user's key is destroyed."""
        key = self._key(user_id)
        if key is None:
            return ERASED
        return _open(key, base64.b64decode(token.removeprefix(_PREFIX)), user_id.bytes).decode()

    def claim_email(self, email: str, user_id: UUID) -> bool:
        """Reserve an email for a user; False when another user already holds it."""
        return self.storage.claim_email(self.email_digest(email), user_id)

    def release_email(self, user_id: UUID) -> None:
        self.storage.release_email(user_id)

    def user_for_email(self, email: str) -> UUID | None:
        return self.storage.user_for_email(self.email_digest(email))

    def destroy_key(self, user_id: UUID) -> None:
        """Crypto-shred: the user's personal data in every event becomes unreadable."""
        self.storage.destroy_key(user_id)
