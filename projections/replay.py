"""Rebuild a projection from the first event: empty it, then consume to the current end.

``replay_window`` rebuilds an analyst's own projection from only the events that occurred in a
time window, seeking each partition with Kafka's ``offsets_for_times``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from psycopg import sql

from projections import state
from projections.runner import ProjectionRunner
from schemas.envelope import Envelope

log = logging.getLogger(__name__)

# The relay publishes in commit order, and an event's time is taken before its commit: a
# partition is past a window's end once an event occurred this long after it.
WINDOW_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class ReplayResult:
    applied: int
    messages: int
    seconds: float


def replay(runner: ProjectionRunner, timeout: float = 3600.0) -> ReplayResult:
    """Empty the projection and re-apply every message up to the end offsets seen at the start.

    Holds the projection's advisory lock exclusively, so live runners pause meanwhile and, once
    it is released, seek to the offsets the replay stored.
    """
    settings, projection = runner.settings, runner.projection
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (runner.lock,))
        consumer = runner.consumer(
            settings.topics.group(f"replay.{projection.name}"), **{"enable.partition.eof": True}
        )
        try:
            ends = _end_offsets(consumer, runner.topics)
            _empty(runner)
            return _consume(runner, consumer, ends, timeout)
        finally:
            consumer.close()


def replay_window(
    runner: ProjectionRunner, start: datetime, end: datetime, timeout: float = 3600.0
) -> ReplayResult:
    """Empty the projection and apply only the events that occurred in [start, end), from the
    retained event topics (no watermark: meant for an analyst's own projection)."""
    if end <= start:
        raise ValueError(f"an empty window: {start.isoformat()} to {end.isoformat()}")
    settings, projection = runner.settings, runner.projection
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (runner.lock,))
        consumer = runner.consumer(
            settings.topics.group(f"replay.{projection.name}"), **{"enable.partition.eof": True}
        )
        try:
            ends = _end_offsets(consumer, runner.event_topics)
            starts = _offsets_at(consumer, ends, start)
            ends = {tp: high for tp, high in ends.items() if starts[tp] < high}
            _empty(runner)

            def within(message: Message) -> bool:
                occurred = Envelope.from_bytes(message.value()).occurred_at
                if occurred >= end + WINDOW_SLACK:
                    ends[_tp(message)] = message.offset()  # this partition is done
                return start <= occurred < end and message.offset() < ends[_tp(message)]

            return _consume(runner, consumer, ends, timeout, starts, within)
        finally:
            consumer.close()


def _empty(runner: ProjectionRunner) -> None:
    projection = runner.projection
    with runner.pool.connection() as conn, conn.transaction():
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in projection.tables)
        conn.execute(sql.SQL("TRUNCATE {}").format(tables))
        runner.generation = state.reset(conn, projection.name)


def _offsets_at(
    consumer: Consumer, ends: dict[tuple[str, int], int], moment: datetime
) -> dict[tuple[str, int], int]:
    """Each partition's first offset with a timestamp at or after ``moment`` (else its end)."""
    millis = int(moment.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(t, p, millis) for t, p in ends], timeout=30)
    return {
        (f.topic, f.partition): f.offset if f.offset >= 0 else ends[(f.topic, f.partition)]
        for f in found
    }


def _end_offsets(consumer: Consumer, topics: list[str]) -> dict[tuple[str, int], int]:
    metadata = consumer.list_topics(timeout=30)
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high > low:
                ends[(topic, partition)] = high
    return ends


def _consume(
    runner: ProjectionRunner,
    consumer: Consumer,
    ends: dict[tuple[str, int], int],
    timeout: float,
    starts: dict[tuple[str, int], int] | None = None,
    keep: Callable[[Message], bool] | None = None,
) -> ReplayResult:
    started = time.monotonic()
    consumer.assign(
        [TopicPartition(t, p, (starts or {}).get((t, p), OFFSET_BEGINNING)) for t, p in ends]
    )
    remaining = set(ends)
    applied = messages = 0
    while remaining:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"replay did not reach the end offsets within {timeout} s")
        batch = runner.poll(consumer, timeout=1.0)
        for message in batch:
            if _reached_end(message, ends):
                remaining.discard((message.topic(), message.partition()))
        batch = [m for m in batch if m.error() is None and m.offset() < ends[_tp(m)]]
        if keep is not None:
            batch = [m for m in batch if keep(m)]
        if batch:
            applied += runner.apply_batch(batch, guard=False).applied
            messages += len(batch)
    seconds = time.monotonic() - started
    log.info("replayed %s: %d events applied in %.1f s", runner.projection.name, applied, seconds)
    return ReplayResult(applied, messages, seconds)


def _reached_end(message: Message, ends: dict[tuple[str, int], int]) -> bool:
    end = ends.get(_tp(message))
    if end is None:
        return False
    error = message.error()
    if error is not None:
        return error.code() == KafkaError._PARTITION_EOF and message.offset() >= end
    return message.offset() >= end - 1


def _tp(message: Message) -> tuple[str, int]:
    return message.topic(), message.partition()
