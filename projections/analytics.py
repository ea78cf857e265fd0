"""The ``analytics`` projection: every event as a row of a Parquet feed analysts query.

``apply`` (in the runner's transaction, so exactly once per event) decodes and upcasts the
event, builds its row (``projections.analytics_rows``: personal data dropped or pseudonymised)
and stages it in ``analytics_rows``, marking its (type, day) partition dirty. ``flush`` writes the
dirty partitions' files from the staged rows: a partition's rows in (position, event_id) order,
cut every ``analytics_file_rows`` rows into ``part-NNNNN.parquet``, so which rows a file holds
depends only on the events, never on arrival order or the clock, and a replay from offset 0
gives the same bytes. A file is written atomically before its partition stops being dirty: a
crash in between only rewrites the same bytes. ``companion`` runs ``flush`` beside the runner.

Erasure: ``user.Erased`` nulls the user's pseudonym in their staged rows and rewrites the files
holding them; their key, the only way to compute it, is destroyed by then.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from adapters.feed_store import FeedStore, feed_store
from adapters.keystore import KeyStore
from adapters.settings import Settings
from projections.analytics_rows import (
    USER_AGGREGATES,
    arrow_schema,
    build_row,
    parquet_bytes,
    part_name,
)
from projections.analytics_rows import folder as partition_folder
from schemas.catalogue import BY_TYPE
from schemas.envelope import Envelope
from schemas.upcasting import decode

log = logging.getLogger(__name__)

NAME = "analytics"
PSEUDONYM_PURPOSE = b"analytics"
FLUSH_SECONDS = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS analytics_rows (
    event_type text NOT NULL,
    day date NOT NULL,
    position bigint NOT NULL,
    event_id uuid NOT NULL,
    user_id uuid,  -- whose pseudonym the row holds, so erasure finds it; never in the files
    row jsonb NOT NULL,
    PRIMARY KEY (event_type, day, position, event_id)
);
CREATE INDEX IF NOT EXISTS analytics_rows_user ON analytics_rows (user_id)
    WHERE user_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS analytics_subjects (
    subject_id uuid PRIMARY KEY,
    user_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS analytics_dirty (
    event_type text NOT NULL,
    day date NOT NULL,
    from_position bigint NOT NULL,
    PRIMARY KEY (event_type, day)
);
"""

_DIRTY = """
INSERT INTO analytics_dirty (event_type, day, from_position) VALUES (%s, %s, %s)
ON CONFLICT (event_type, day) DO UPDATE
SET from_position = LEAST(analytics_dirty.from_position, EXCLUDED.from_position)
"""
_ERASE = """
WITH changed AS (
    UPDATE analytics_rows
    SET user_id = NULL,
        row = row || jsonb_build_object('user_key', NULL)
            || CASE WHEN row->>'aggregate_type' = ANY(%s)
               THEN jsonb_build_object('aggregate_id', NULL) ELSE '{}'::jsonb END
    WHERE user_id = %s
    RETURNING event_type, day, position
)
INSERT INTO analytics_dirty (event_type, day, from_position)
SELECT event_type, day, min(position) FROM changed GROUP BY event_type, day
ON CONFLICT (event_type, day) DO UPDATE
SET from_position = LEAST(analytics_dirty.from_position, EXCLUDED.from_position)
"""


class AnalyticsProjection:
    name = NAME
    schema = SCHEMA
    tables: tuple[str, ...] = ("analytics_rows", "analytics_subjects", "analytics_dirty")

    def __init__(
        self, pool: ConnectionPool, keys: KeyStore, store: FeedStore, file_rows: int
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.store = store
        self.file_rows = file_rows
        self._pseudonyms: dict[UUID, str | None] = {}
        self._owners: dict[UUID, UUID] = {}  # aggregate -> its user: bindings never change

    def topics(self, settings: Settings) -> list[str]:
        return settings.topics.all_events

    # -- staging, in the runner's transaction

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        event_type, payload = decode(envelope)
        user_id = self._user_of(conn, envelope, payload)
        if envelope.type == "user.Erased":
            self._pseudonyms.pop(envelope.aggregate.id, None)
            conn.execute(_ERASE, (list(USER_AGGREGATES), envelope.aggregate.id))
        user_key = None if user_id is None else self._pseudonym(user_id)
        row = build_row(envelope, event_type, payload, user_key)
        day = envelope.occurred_at.astimezone(UTC).date()
        conn.execute(
            "INSERT INTO analytics_rows (event_type, day, position, event_id, user_id, row) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                envelope.type,
                day,
                envelope.position,
                envelope.event_id,
                user_id if user_key is not None else None,
                Jsonb(row),
            ),
        )
        conn.execute(_DIRTY, (envelope.type, day, envelope.position))

    def _pseudonym(self, user_id: UUID) -> str | None:
        if user_id not in self._pseudonyms:
            self._pseudonyms[user_id] = self.keys.pseudonym(user_id, PSEUDONYM_PURPOSE)
        return self._pseudonyms[user_id]

    def _user_of(
        self, conn: Connection, envelope: Envelope, payload: dict[str, Any]
    ) -> UUID | None:
        """The user the event is about: the user aggregate itself, the owner or user an event
        names (remembered for the aggregate's later events), else the aggregate's remembered
        user."""
        aggregate = envelope.aggregate
        if aggregate.type == "user":
            return aggregate.id
        named = payload.get("owner_id") or payload.get("user_id")
        if named is not None:
            user_id = UUID(named)
            if self._owners.get(aggregate.id) != user_id:
                conn.execute(
                    "INSERT INTO analytics_subjects (subject_id, user_id) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (aggregate.id, user_id),
                )
                self._owners[aggregate.id] = user_id
            return user_id
        if aggregate.id not in self._owners:
            found = conn.execute(
                "SELECT user_id FROM analytics_subjects WHERE subject_id = %s", (aggregate.id,)
            ).fetchone()
            if found is None:
                return None
            self._owners[aggregate.id] = found[0]
        return self._owners[aggregate.id]

    # -- files

    def flush(self) -> int:
        """Write the files of every dirty partition; the number of files written."""
        written = 0
        while True:
            with self.pool.connection() as conn, conn.transaction():
                dirty = conn.execute(
                    "SELECT event_type, day, from_position FROM analytics_dirty "
                    "ORDER BY event_type, day LIMIT 1 FOR UPDATE SKIP LOCKED"
                ).fetchone()
                if dirty is None:
                    return written
                written += self._write_partition(conn, *dirty)
                conn.execute(
                    "DELETE FROM analytics_dirty WHERE event_type = %s AND day = %s",
                    dirty[:2],
                )

    def _write_partition(self, conn: Connection, event_type: str, day: date, since: int) -> int:
        """Rewrite the partition's files from the one holding position ``since`` on."""
        counted = conn.execute(
            "SELECT count(*) FROM analytics_rows "
            "WHERE event_type = %s AND day = %s AND position < %s",
            (event_type, day, since),
        ).fetchone()
        first = (counted[0] if counted else 0) // self.file_rows
        rows: list[dict[str, Any]] = [
            r[0]
            for r in conn.execute(
                "SELECT row FROM analytics_rows WHERE event_type = %s AND day = %s "
                "ORDER BY position, event_id OFFSET %s",
                (event_type, day, first * self.file_rows),
            )
        ]
        schema = arrow_schema(BY_TYPE[event_type])
        names = []
        for index, start in enumerate(range(0, len(rows), self.file_rows)):
            name = part_name(event_type, day.isoformat(), first + index)
            self.store.put(name, parquet_bytes(schema, rows[start : start + self.file_rows]))
            names.append(name)
        keep = part_name(event_type, day.isoformat(), first - 1) if first else ""
        stale = [
            n
            for n in self.store.names(partition_folder(event_type, day.isoformat()))
            if n > keep and n not in names
        ]
        self.store.delete(stale)
        return len(names)

    def companion(self, stop: threading.Event) -> None:
        """Flush every second until ``stop``, then once more."""
        while True:
            try:
                self.flush()
            except Exception:
                log.exception("analytics: flushing the feed failed; trying again")
            if stop.is_set():
                return
            stop.wait(FLUSH_SECONDS)


def create(settings: Settings, pool: ConnectionPool) -> AnalyticsProjection:
    """The projection on these settings' feed store (``bootstrap.PROJECTIONS``' factory)."""
    keys = KeyStore(pool, settings.secret("master_key"))
    keys.ensure_schema()
    return AnalyticsProjection(pool, keys, feed_store(settings), settings.analytics_file_rows)
