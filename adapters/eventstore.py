"""The event store: an eventsourcing Application with optimistic concurrency, on PostgreSQL in
the studio and on the library's in-memory (POPO) recorder in unit tests."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from adapters.metadata import current_meta
from adapters.postgres import SCHEMA_LOCK
from adapters.settings import Settings
from domain.credits import CreditAccount
from schemas.envelope import META_KEY, event_id

MAX_ATTEMPTS = 50
T = TypeVar("T")


class MetadataMapper(Mapper[UUID]):
    """Stores the current command's metadata (actor, correlation, causation) with each event."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        state = self.transcoder.decode(stored.state)
        state[META_KEY] = current_meta().as_dict()
        return StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        vars(domain_event).pop(META_KEY, None)
        return domain_event


def event_store_env(settings: Settings) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "MAPPER_TOPIC": get_topic(MetadataMapper),
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

    def __init__(self, settings: Settings | None) -> None:
        """On the PostgreSQL of `settings`; None: in memory (see `in_memory`)."""
        if settings is None:
            super().__init__(env=in_memory_env())
            return
        # The library creates its tables when it starts; processes starting together would race
        # on the catalogue ("tuple concurrently updated"), so they take the schema lock in turn.
        with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().__init__(env=event_store_env(settings))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    @classmethod
    def in_memory(cls) -> EventStore:
        """A store of this process only (unit tests, tools): same mapper, snapshots and rules."""
        return cls(None)

    def load(self, aggregate_id: UUID) -> Any:
        return self.repository.get(aggregate_id)

    def find(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def save_all(self, *aggregates: Any) -> int:
        """Append the aggregates' pending events in one transaction; returns the last position."""
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
