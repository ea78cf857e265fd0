"""Rebuild a projection from the first event: empty it, then consume to the current end."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from psycopg import sql

from projections import state
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)


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
            with runner.pool.connection() as conn, conn.transaction():
                tables = sql.SQL(", ").join(sql.Identifier(t) for t in projection.tables)
                conn.execute(sql.SQL("TRUNCATE {}").format(tables))
                runner.generation = state.reset(conn, projection.name)
            return _consume(runner, consumer, ends, timeout)
        finally:
            consumer.close()


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
) -> ReplayResult:
    started = time.monotonic()
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
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
