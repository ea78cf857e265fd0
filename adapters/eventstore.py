"""The event store: an eventsourcing Application with optimistic concurrency, on PostgreSQL in
the studio and on the library's in-memory (POPO) recorder in unit tests.

Its mapper keeps the domain pure of cryptography: it seals the creative text fields the
catalogue declares (`schemas.catalogue.SEALED_FIELDS`) under the aggregate owner's key when an
event is stored, opens them when one is loaded (`ERASED` once the key is destroyed), and refuses
an event whose published envelope would not fit the event topic's message limit. The envelope
it builds for that check is kept with the stored event (`EnvelopedEvent`): on PostgreSQL the
recorder (`adapters.studio_recorder`) stores its bytes, so the relay publishes them as they are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from adapters.keystore import KeyStore
from adapters.metadata import current_meta
from adapters.postgres import SCHEMA_LOCK
from adapters.settings import Settings
from adapters.studio_recorder import StudioRecorder
from domain.credits import CreditAccount
from domain.errors import NotFound
from schemas.catalogue import BY_TOPIC, OWNER_FIELDS, SEALED_FIELDS
from schemas.envelope import META_KEY, POSITION_PLACEHOLDER, envelope_from_stored, event_id

MAX_ATTEMPTS = 50
# What a Kafka record adds to its value: key, headers, record and batch overhead (generous).
RECORD_OVERHEAD = 1024
T = TypeVar("T")


class EventTooLarge(Exception):
    """An event whose published envelope would exceed the event topics' message limit: refused
    before anything is recorded (the API answers 413)."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"{event_type} would be a {size:,}-byte message; the limit is {limit:,} bytes"
        )
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class EnvelopedEvent(StoredEvent):
    """A stored event with its published envelope's bytes, built at `POSITION_PLACEHOLDER`
    (`schemas.envelope.published_bytes` sets the position); None when it has none."""

    envelope: bytes | None = field(default=None, compare=False)


class MetadataMapper(Mapper[UUID]):
    """Stores the current command's metadata (actor, correlation, causation) with each event,
    seals declared text fields under the owner's key (`keys`), and enforces `max_event_bytes`."""

    keys: KeyStore | None = None
    max_event_bytes: int = 1_000_000

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        state = self.transcoder.decode(stored.state)
        state[META_KEY] = current_meta().as_dict()
        event_type = BY_TOPIC[stored.topic].type if stored.topic in BY_TOPIC else ""
        self._seal(event_type, stored.originator_id, state)
        envelope = self._envelope(event_type, stored, state)
        return EnvelopedEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=self.transcoder.encode(state),
            # an encrypting store would leak its payloads through a plain envelope
            envelope=envelope if self.cipher is None and self.compressor is None else None,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        state.pop(META_KEY, None)
        topic = stored_event.topic
        fields = SEALED_FIELDS.get(BY_TOPIC[topic].type, ()) if topic in BY_TOPIC else ()
        for name in fields:
            if isinstance(state.get(name), str) and self.keys is not None:
                state[name] = self.keys.open_text(state[name])
        return domain_event

    def _seal(self, event_type: str, subject: Any, state: dict[str, Any]) -> None:
        """Bind the aggregate to its owner (first event) and seal its declared text fields."""
        owner_field = OWNER_FIELDS.get(event_type)
        fields = [f for f in SEALED_FIELDS.get(event_type, ()) if isinstance(state.get(f), str)]
        if owner_field is None and not fields:
            return
        if self.keys is None:
            raise RuntimeError(f"this event store has no key store to seal {event_type} with")
        if owner_field is not None:
            self.keys.bind(UUID(str(subject)), UUID(str(state[owner_field])))
        if not fields:
            return
        owner = self.keys.owner_of(UUID(str(subject)))
        if owner is None:
            raise RuntimeError(f"{event_type} of {subject}: no owner is bound to seal it with")
        try:
            for name in fields:
                state[name] = self.keys.seal_text(owner, state[name])
        except LookupError:
            raise NotFound("no such user") from None

    def _envelope(
        self, event_type: str, stored: StoredEvent, state: dict[str, Any]
    ) -> bytes | None:
        """The bytes the relay will publish (at the placeholder position, the longest one);
        they must fit a Kafka message of the event topics. None: not a catalogued event."""
        if not event_type:
            return None
        envelope = envelope_from_stored(
            stored.topic,
            UUID(str(stored.originator_id)),
            stored.originator_version,
            POSITION_PLACEHOLDER,
            state,
        ).to_bytes()
        size = len(envelope) + RECORD_OVERHEAD
        if size > self.max_event_bytes:
            raise EventTooLarge(event_type, size, self.max_event_bytes)
        return envelope


def event_store_env(settings: Settings) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "MAPPER_TOPIC": get_topic(MetadataMapper),
        "APPLICATION_RECORDER_TOPIC": get_topic(StudioRecorder),
        "POSTGRES_HOST": settings.pg_host,
        "POSTGRES_PORT": str(settings.pg_port),
        "POSTGRES_DBNAME": settings.pg_database,
        "POSTGRES_USER": settings.pg_user,
        "POSTGRES_PASSWORD": settings.pg_password.get_secret_value(),
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "16",
        "POSTGRES_CONN_MAX_AGE": "300",
        "CREATE_TABLE": "y",
    }


def in_memory_env() -> dict[str, str]:
    """The same application on the library's in-memory recorder: nothing outlives the process."""
    return {"PERSISTENCE_MODULE": "eventsourcing.popo", "MAPPER_TOPIC": get_topic(MetadataMapper)}


class EventStore(Application[UUID]):
    """The studio's one event store; every aggregate's events share its notification order."""

    name = "Studio"
    # A creator's credit account gains events with every production: snapshot it so loading
    # stays fast for long-lived accounts.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {CreditAccount: 50}

    def __init__(
        self,
        settings: Settings | None,
        keys: KeyStore | None = None,
        max_event_bytes: int | None = None,
        cache_size: int = 0,
    ) -> None:
        """On the PostgreSQL of `settings`; None: in memory (see `in_memory`). `keys` seals and
        opens creative text; a store without one (the relay) can read but never seal.
        `max_event_bytes`: default, the settings' `event_max_bytes`. `cache_size`: aggregates
        kept loaded (LRU); a load of one of them reads only the events recorded since (from any
        process) and returns a copy, so a command that fails leaves the cached one as it was."""
        self.keys = keys
        default = settings.event_max_bytes if settings else MetadataMapper.max_event_bytes
        self.max_event_bytes = max_event_bytes or default
        cache = (
            {"AGGREGATE_CACHE_MAXSIZE": str(cache_size), "AGGREGATE_CACHE_FASTFORWARD": "y"}
            if cache_size > 0
            else {}
        )
        if settings is None:
            super().__init__(env={**in_memory_env(), **cache})
            return
        # The library creates its tables when it starts; processes starting together would race
        # on the catalogue ("tuple concurrently updated"), so they take the schema lock in turn.
        with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().__init__(env={**event_store_env(settings), **cache})
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    @classmethod
    def in_memory(
        cls, keys: KeyStore | None = None, max_event_bytes: int | None = None, cache_size: int = 0
    ) -> EventStore:
        """A store of this process only (unit tests, tools): same mapper, snapshots and rules."""
        return cls(None, keys, max_event_bytes, cache_size)

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = super().construct_mapper()
        if isinstance(mapper, MetadataMapper):
            mapper.keys = self.keys
            mapper.max_event_bytes = self.max_event_bytes
        return mapper

    def load(self, aggregate_id: UUID) -> Any:
        return self.repository.get(aggregate_id)

    def find(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def forget(self, *aggregate_ids: UUID) -> None:
        """Drop these aggregates from the cache: the next load replays their events (after an
        erasure, with their text shredded)."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def save_all(self, *aggregates: Any) -> int:
        """Append the aggregates' pending events in one transaction (on PostgreSQL shared with
        concurrent saves: group commit); returns the last position."""
        recordings = self.save(*aggregates)
        return max((r.notification.id for r in recordings), default=0)

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def last_trace(self, aggregate_id: UUID) -> tuple[str, str] | None:
        """(correlation id, event id) of the aggregate's latest event: what a follow-up that no
        single message caused (a reconciliation) continues from. None: no such aggregate."""
        latest = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        if not latest:
            return None
        stored = latest[0]
        meta = self.mapper.transcoder.decode(stored.state).get(META_KEY) or {}
        latest_id = event_id(aggregate_id, int(stored.originator_version))
        return meta.get("correlation_id", ""), str(latest_id)


def retry_on_conflict(decide: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run load-decide-save again when another writer appended to the same aggregate first."""
    for attempt in range(attempts):
        try:
            return decide()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    raise AssertionError("unreachable")
