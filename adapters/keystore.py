"""Per-user encryption keys for personal data (crypto-shredding) and the email lookup index.

Each user's key is random, stored wrapped (AES-GCM) under the installation's master key.
Erasing a user destroys the key, so every event that holds their data becomes unreadable.
Creative text (titles, scripts) is sealed field by field under the key of the aggregate's owner
(`seal_text`: self-describing "v2:<owner>:<base64>" tokens, so any consumer can open them);
`key_subjects` binds each aggregate to its owner once (immutable, so cached).
`KeyStore` does the cryptography; where the wrapped keys and the email index live is a
`KeyStorage`: PostgreSQL in the studio, a dict in unit tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool

from adapters.postgres import create_tables
from schemas.catalogue import SEALED_FIELDS

ERASED = "[erased]"
MAX_CACHED_KEYS = 10_000  # unwrapped keys a `KeyStore` with a cache holds at most
_PREFIX = "v1:"
_SEALED = "v2:"

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
CREATE TABLE IF NOT EXISTS key_subjects (
    subject_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS key_subjects_owner ON key_subjects (owner_id);
ALTER TABLE user_keys ADD COLUMN IF NOT EXISTS erasing boolean NOT NULL DEFAULT false;
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

    def key_destroyed(self, user_id: UUID) -> bool:
        """True once the user's key was destroyed (erasure); False while it exists or never did."""

    def bind_subject(self, subject_id: UUID, owner_id: UUID) -> None:
        """Record whose key seals a subject's (an aggregate's) text; the first binding stays."""

    def owner_of(self, subject_id: UUID) -> UUID | None: ...

    def subjects_of(self, owner_id: UUID) -> list[UUID]:
        """Every subject bound to the owner (their projects and productions)."""

    def mark_erasing(self, user_id: UUID, erasing: bool) -> None:
        """Note an erasure under way (True) or finished (False), so a restart can finish it."""

    def pending_erasures(self) -> list[UUID]: ...


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

    def key_destroyed(self, user_id: UUID) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT erased_at IS NOT NULL FROM user_keys WHERE user_id = %s", (user_id,)
            ).fetchone()
        return bool(row and row[0])

    def bind_subject(self, subject_id: UUID, owner_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO key_subjects (subject_id, owner_id) VALUES (%s, %s) "
                "ON CONFLICT (subject_id) DO NOTHING",
                (subject_id, owner_id),
            )

    def owner_of(self, subject_id: UUID) -> UUID | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT owner_id FROM key_subjects WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        return None if row is None else UUID(str(row[0]))

    def subjects_of(self, owner_id: UUID) -> list[UUID]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT subject_id FROM key_subjects WHERE owner_id = %s", (owner_id,)
            ).fetchall()
        return [UUID(str(row[0])) for row in rows]

    def mark_erasing(self, user_id: UUID, erasing: bool) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE user_keys SET erasing = %s WHERE user_id = %s", (erasing, user_id))

    def pending_erasures(self) -> list[UUID]:
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT user_id FROM user_keys WHERE erasing").fetchall()
        return [UUID(str(row[0])) for row in rows]


@dataclass
class InMemoryKeyStorage:
    """The same rules in dicts, for unit tests: a destroyed key stays destroyed."""

    keys: dict[UUID, bytes | None] = field(default_factory=dict)
    emails: dict[str, UUID] = field(default_factory=dict)
    subjects: dict[UUID, UUID] = field(default_factory=dict)
    erasing: set[UUID] = field(default_factory=set)
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

    def key_destroyed(self, user_id: UUID) -> bool:
        return user_id in self.keys and self.keys[user_id] is None

    def bind_subject(self, subject_id: UUID, owner_id: UUID) -> None:
        with self._lock:
            self.subjects.setdefault(subject_id, owner_id)

    def owner_of(self, subject_id: UUID) -> UUID | None:
        return self.subjects.get(subject_id)

    def subjects_of(self, owner_id: UUID) -> list[UUID]:
        return [s for s, owner in self.subjects.items() if owner == owner_id]

    def mark_erasing(self, user_id: UUID, erasing: bool) -> None:
        with self._lock:
            if erasing and user_id in self.keys:
                self.erasing.add(user_id)
            else:
                self.erasing.discard(user_id)

    def pending_erasures(self) -> list[UUID]:
        return sorted(self.erasing)


class KeyStore:
    """Creates, uses and destroys the per-user keys; also maps email digests to users.

    `storage` is a `KeyStorage`, or a connection pool for the PostgreSQL one. `cache_seconds`:
    how long an unwrapped key is reused before it is read again (0: read on every use); this
    store's `destroy_key` drops it at once, another process's only when that time is up."""

    def __init__(
        self, storage: KeyStorage | ConnectionPool, master_secret: str, cache_seconds: float = 0.0
    ) -> None:
        self.storage: KeyStorage = (
            PostgresKeyStorage(storage) if isinstance(storage, ConnectionPool) else storage
        )
        root = hashlib.sha256(master_secret.encode()).digest()
        self._wrap_key = hmac.digest(root, b"filmstudio:wrap", "sha256")
        self._index_key = hmac.digest(root, b"filmstudio:email-index", "sha256")
        self._owners: dict[UUID, UUID] = {}  # subject -> owner: bindings never change
        self._cache_seconds = cache_seconds
        self._keys: dict[UUID, tuple[float, bytes]] = {}  # user -> (read at, key)

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
        now = time.monotonic()
        cached = self._keys.get(user_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        wrapped = self.storage.wrapped_key(user_id)
        if wrapped is None:
            self._keys.pop(user_id, None)
            return None
        key = _open(self._wrap_key, wrapped, user_id.bytes)
        if self._cache_seconds > 0:
            if len(self._keys) >= MAX_CACHED_KEYS:  # expired ones go; all, if none had expired
                kept = {u: c for u, c in self._keys.items() if now - c[0] < self._cache_seconds}
                self._keys = kept if len(kept) < MAX_CACHED_KEYS else {}
            self._keys[user_id] = (now, key)
        return key

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
        self._keys.pop(user_id, None)

    def key_destroyed(self, user_id: UUID) -> bool:
        return self.storage.key_destroyed(user_id)

    def pseudonym(self, user_id: UUID, purpose: bytes) -> str | None:
        """A stable key for the user that only their own key can compute (HMAC-SHA256 under a
        `purpose`-bound derivation of it); None when the user has no key (erased)."""
        key = self._key(user_id)
        if key is None:
            return None
        derived = hmac.digest(key, b"filmstudio:pseudonym:" + purpose, "sha256")
        return hmac.new(derived, user_id.bytes, "sha256").hexdigest()[:32]

    def subjects_of(self, owner_id: UUID) -> list[UUID]:
        """The aggregates whose text the user's key seals: their projects and productions."""
        return self.storage.subjects_of(owner_id)

    def mark_erasing(self, user_id: UUID, erasing: bool) -> None:
        self.storage.mark_erasing(user_id, erasing)

    def pending_erasures(self) -> list[UUID]:
        """Users whose erasure started and has not finished (a crash in between)."""
        return self.storage.pending_erasures()

    # Sealed fields: creative text under the key of the aggregate's owner

    def bind(self, subject_id: UUID, owner_id: UUID) -> None:
        """The owner whose key seals the text of `subject_id` (an aggregate); set once."""
        if self._owners.get(subject_id) != owner_id:
            self.storage.bind_subject(subject_id, owner_id)
            self._owners[subject_id] = owner_id

    def owner_of(self, subject_id: UUID) -> UUID | None:
        owner = self._owners.get(subject_id)
        if owner is None:
            owner = self.storage.owner_of(subject_id)
            if owner is not None:
                self._owners[subject_id] = owner
        return owner

    def seal_text(self, owner_id: UUID, text: str) -> str:
        """A self-describing token "v2:<owner>:<base64>"; LookupError when the owner has no key
        (never had one, or erased)."""
        sealed = base64.b64encode(self.seal(owner_id, text.encode())).decode()
        return f"{_SEALED}{owner_id}:{sealed}"

    def open_text(self, value: str) -> str:
        """The clear text of a `seal_text` token, ERASED once its owner's key is destroyed;
        any other value (text recorded before sealing existed) is returned as it is."""
        if not is_sealed(value):
            return value
        owner, _, sealed = value.removeprefix(_SEALED).partition(":")
        owner_id = UUID(owner)
        key = self._key(owner_id)
        if key is None:
            return ERASED
        return _open(key, base64.b64decode(sealed), owner_id.bytes).decode()

    def open_fields(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload of an `event_type` event with its sealed fields opened (a copy)."""
        fields = SEALED_FIELDS.get(event_type, ())
        return {k: self.open_text(v) if k in fields else v for k, v in payload.items()}


def is_sealed(value: object) -> bool:
    """Whether `value` is a `KeyStore.seal_text` token."""
    return isinstance(value, str) and value.startswith(_SEALED)
