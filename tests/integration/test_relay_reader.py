"""The relay's reader on the real PostgreSQL: byte-bounded batches in id order, and rows stored
before envelopes were kept (NULL there) sent exactly as the stored envelopes are."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import psycopg
from psycopg import sql

from adapters.eventstore import EventStore
from adapters.relay_reader import BatchReader, Outgoing, Outgoings
from adapters.settings import Settings
from adapters.studio_recorder import StudioRecorder
from domain.credits import CreditAccount


def read_all(settings: Settings, store: EventStore, max_events: int, max_bytes: int):
    recorder = store.recorder
    assert isinstance(recorder, StudioRecorder)
    reader = BatchReader(
        settings, recorder, Outgoings(settings, store.mapper), 0, max_events, max_bytes
    )
    batches: list[list[Outgoing]] = []
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        while batch := reader._read(conn):
            batches.append(batch)
            reader.after = batch[-1].position
    return batches


def test_batches_follow_ids_within_bounds_and_old_rows_match(
    isolated_settings: Callable[[], Settings],
):
    settings = isolated_settings()
    store = EventStore(settings)
    try:
        for n in range(30):
            account = CreditAccount(user_id=uuid4())
            account.grant(10 + n, "purchase", "x" * (50 * n), "")
            store.save_all(account)

        batches = read_all(settings, store, max_events=7, max_bytes=4000)
        sent = [event for batch in batches for event in batch]
        assert [e.position for e in sent] == list(range(1, 61))
        for batch in batches:
            sizes = [len(e.key) + len(e.value) for e in batch]
            assert len(batch) <= 7 and (sum(sizes) <= 4000 or len(batch) == 1)

        table = sql.Identifier(store.recorder.events_table_name)  # type: ignore[attr-defined]
        with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("UPDATE {} SET envelope = NULL").format(table))
        rebuilt = [e for b in read_all(settings, store, 1000, 1 << 20) for e in b]
        assert rebuilt == sent, "a row without a stored envelope goes out the same"
    finally:
        store.close()
