"""The per-user keys a batch of events needs, read in one query instead of one per field.

A projection that opens sealed text (``KeyStore.open_text``) or decrypts personal data asks for
the user's wrapped key each time, a round trip per field. ``batch_keys`` reads the wrapped keys
of every user a batch names at once, in the projection's transaction, and returns a ``KeyStore``
that answers from them (an erasure that commits meanwhile is seen by the next batch, as it was
by the next event).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from psycopg import Connection

from adapters.keystore import KeyStorage, KeyStore, PostgresKeyStorage, is_sealed
from schemas.envelope import Envelope

WRAPPED_KEYS = "SELECT user_id, wrapped_key FROM user_keys WHERE user_id = ANY(%s)"


class PrefetchedKeys:
    """A ``KeyStorage`` whose wrapped keys for some users were read beforehand."""

    def __init__(self, inner: KeyStorage, wrapped: Mapping[UUID, bytes | None]) -> None:
        self._inner = inner
        self._wrapped = dict(wrapped)

    def wrapped_key(self, user_id: UUID) -> bytes | None:
        if user_id in self._wrapped:
            return self._wrapped[user_id]
        return self._inner.wrapped_key(user_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def users_named(envelopes: Iterable[Envelope]) -> set[UUID]:
    """The users whose keys the envelopes may need: user aggregates and sealed text owners."""
    users: set[UUID] = set()
    for envelope in envelopes:
        if envelope.aggregate.type == "user":
            users.add(envelope.aggregate.id)
        for value in envelope.payload.values():
            if is_sealed(value):
                try:
                    users.add(UUID(value[3:].partition(":")[0]))
                except ValueError:
                    continue  # malformed: the apply fails on it and dead-letters the event
    return users


def batch_keys(conn: Connection, keys: KeyStore, envelopes: Iterable[Envelope]) -> KeyStore:
    """``keys`` answering from the wrapped keys of the users ``envelopes`` name, read at once."""
    users = users_named(envelopes)
    if not users:
        return keys
    if isinstance(keys.storage, PostgresKeyStorage):
        wrapped: dict[UUID, bytes | None] = dict.fromkeys(users)
        for user_id, key in conn.execute(WRAPPED_KEYS, (list(users),)).fetchall():
            wrapped[user_id] = None if key is None else bytes(key)
    else:
        wrapped = {user_id: keys.storage.wrapped_key(user_id) for user_id in users}
    scoped = copy.copy(keys)
    scoped.storage = PrefetchedKeys(keys.storage, wrapped)
    return scoped
