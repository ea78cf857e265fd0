"""The projection runner: Kafka in, Postgres out, offsets stored with the rows they produced.

Each batch of messages is applied in one Postgres transaction together with the partitions'
next offsets, the aggregates' last applied sequences (republished duplicates are dropped) and
the read-your-writes watermark; on assignment the consumer seeks to the stored offsets, so Kafka's
own committed offsets are only a copy for operators' lag tooling. A message that cannot be
applied is dead-lettered and counted as consumed; an outage is waited out (``adapters.retry``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from prometheus_client import Gauge
from psycopg import Connection
from psycopg_pool import ConnectionPool

from adapters import heartbeat, kafka
from adapters.bus import KafkaBus
from adapters.dead_letters import DeadLetters
from adapters.relay import lock_key
from adapters.relay_position import RELAY_KEY, RelayPosition
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from projections import state
from projections.base import Projection
from projections.state import wait_for_position
from projections.watermark import advance, relevant
from schemas.envelope import Envelope

log = logging.getLogger(__name__)

__all__ = ["Blocked", "ProjectionRunner", "wait_for_position"]

BATCH_SIZE = 2000  # a poll's worth: a replay's batches fill it, a live runner's rarely
POLL_TIMEOUT = 0.2
SESSION_MS = 10_000  # a killed runner's partitions go to its successor within 10 s
LAG_SECONDS = 5.0  # how often the lag gauge is measured
LAG = Gauge(
    "studio_projection_lag",
    "Messages a projection has yet to apply (end offsets minus its position, its partitions)",
    ["projection"],
    multiprocess_mode="livemax",
)


class Blocked(Exception):
    """A replay holds the projection, or rebuilt it since this runner last sought its offsets."""


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    position: int = 0
    skipped: int = 0  # dead-lettered


class ProjectionRunner:
    """Runs one projection; ``run`` follows the topics live, ``replay`` in projections.replay."""

    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool,
        projection: Projection,
        batch_size: int = BATCH_SIZE,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.projection = projection
        self.batch_size = batch_size
        self.event_topics = projection.topics(settings)
        self.topics = [*self.event_topics, settings.topics.relay_position]
        self.lock = lock_key(settings.topics.group(f"projection.{projection.name}"))
        self.generation: int | None = None
        self.applied = 0
        self._held = 0  # messages polled but held back by a replay (for the lag gauge)
        self._dead_letters = dead_letters
        with pool.connection() as conn:
            state.ensure_schema(conn, projection.schema)

    def consumer(self, group: str, **extra: Any) -> Consumer:
        """A consumer whose offsets live in PostgreSQL with the projection, never in Kafka."""
        return kafka.consumer(
            self.settings,
            group,
            **{"enable.auto.offset.store": False, "session.timeout.ms": SESSION_MS, **extra},
        )

    def run(self, stop: threading.Event) -> None:
        """Apply the topics live until ``stop``; pauses while a replay holds the projection.

        A transient failure (PostgreSQL restarting, the broker away) closes the consumer and,
        after a capped backoff, starts over from the offsets stored with the read models."""
        backoff = Backoff(initial=0.5, cap=30.0)
        while not stop.is_set():
            try:
                self._follow(stop, backoff)
            except Exception as error:
                if not is_transient(error):
                    raise
                wait = backoff.next()
                log.warning(
                    "projection %s: %s: %s; resuming in %.1f s",
                    self.projection.name,
                    type(error).__name__,
                    error,
                    wait,
                )
                stop.wait(wait)

    def _follow(self, stop: threading.Event, backoff: Backoff) -> None:
        group = self.settings.topics.group(f"projection.{self.projection.name}")
        consumer = self.consumer(group)
        consumer.subscribe(self.topics, on_assign=self._on_assign)
        blocked = False
        measured = 0.0
        try:
            while not stop.is_set():
                heartbeat.beat()
                if time.monotonic() - measured >= LAG_SECONDS:
                    measured = time.monotonic()
                    LAG.labels(self.projection.name).set(self.lag(consumer))
                if blocked:
                    blocked = not self._resync(consumer)
                    self._held = self._held if blocked else 0  # sought back: fetched again
                    continue
                messages = self.poll(consumer)
                if not messages:
                    continue
                try:
                    self.apply_batch(messages, guard=True)
                except Blocked:
                    log.info("projection %s: replayed or replaying; waiting", self.projection.name)
                    consumer.pause(consumer.assignment())
                    self._held = sum(1 for m in messages if m.topic() in self.event_topics)
                    blocked = True
                    continue
                backoff.succeeded()
                self._commit_copy(consumer, messages)
        finally:
            consumer.close()

    def apply_batch(self, messages: Sequence[Message], guard: bool) -> BatchResult:
        """Apply the messages not applied yet, in one transaction with the new offsets (see
        ``apply_once``). When the batch fails for a reason that is not transient (a message that
        is malformed or cannot be projected), it is applied in halves, in order, down to the
        message that fails alone: that one is dead-lettered and counted as consumed, so the
        rest go on and the offsets and the watermark stay exact (live and in a replay alike)."""
        try:
            return self.apply_once(messages, guard)
        except Blocked:
            raise
        except Exception as error:
            if is_transient(error):
                raise
            if len(messages) == 1:
                self.dead_letters.send(messages[0], error)
                return self.apply_once(messages, guard, skip=True)
            log.warning(
                "projection %s: a batch of %d failed (%s); applying it in halves",
                self.projection.name,
                len(messages),
                type(error).__name__,
            )
        middle = len(messages) // 2
        first = self.apply_batch(messages[:middle], guard)
        second = self.apply_batch(messages[middle:], guard)
        return BatchResult(
            applied=first.applied + second.applied,
            duplicates=first.duplicates + second.duplicates,
            position=second.position,
            skipped=first.skipped + second.skipped,
        )

    @property
    def dead_letters(self) -> DeadLetters:
        """Where messages the projection cannot apply go (made on first use)."""
        if self._dead_letters is None:
            self._dead_letters = DeadLetters(
                KafkaBus(kafka.producer(self.settings)),
                self.settings.topics.dead_letters(),
                self.settings.topics.group(f"projection.{self.projection.name}"),
            )
        return self._dead_letters

    def lag(self, consumer: Consumer) -> int:
        """Messages of the assigned event partitions not applied yet: those not fetched (end
        offset minus the consumer's position, which steps over transaction markers; the
        stored offset before anything is fetched) and those held back while a replay runs."""
        assignment = [tp for tp in consumer.assignment() if tp.topic in self.event_topics]
        if not assignment:
            return 0
        with self.pool.connection() as conn:
            stored = state.offsets(conn, self.projection.name)
        behind = self._held
        for tp in consumer.position(assignment):
            # The end offsets the last fetch saw: asking the broker would queue behind the
            # consumer's own long-polling fetches and stall the runner.
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:  # nothing fetched from it yet
                continue
            at = tp.offset if tp.offset >= 0 else stored.get((tp.topic, tp.partition), low)
            behind += max(0, high - max(at, low))
        return behind

    def poll(self, consumer: Consumer, timeout: float = POLL_TIMEOUT) -> list[Message]:
        """One message within ``timeout``, then whatever else is ready, up to a batch."""
        first = consumer.poll(timeout)
        if first is None:
            return []
        return [first, *consumer.consume(self.batch_size - 1, timeout=0)]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self.pool.connection() as conn:
            stored = state.offsets(conn, self.projection.name)
            self.generation = state.state(conn, self.projection.name)[1]
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)

    def _resync(self, consumer: Consumer) -> bool:
        """Once no replay holds the projection, seek every partition to its stored offset."""
        consumer.poll(POLL_TIMEOUT)  # stay in the group while paused
        with self.pool.connection() as conn, conn.transaction():
            free = conn.execute(
                "SELECT pg_try_advisory_xact_lock_shared(%s)", (self.lock,)
            ).fetchone()
            if not (free and free[0]):
                return False
            stored = state.offsets(conn, self.projection.name)
            self.generation = state.state(conn, self.projection.name)[1]
        assignment = consumer.assignment()
        consumer.resume(assignment)
        for tp in assignment:
            consumer.seek(
                TopicPartition(
                    tp.topic, tp.partition, stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
                )
            )
        log.info("projection %s resumes from its stored offsets", self.projection.name)
        return True

    @staticmethod
    def _commit_copy(consumer: Consumer, messages: Sequence[Message]) -> None:
        """Copy the applied offsets to Kafka, for lag monitoring only."""
        latest = {(m.topic(), m.partition()): m.offset() + 1 for m in messages if not m.error()}
        offsets = [TopicPartition(t, p, o) for (t, p), o in latest.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException:
            log.debug("offset copy to Kafka failed", exc_info=True)

    def apply_once(
        self, messages: Sequence[Message], guard: bool, skip: bool = False
    ) -> BatchResult:
        """Apply the messages not applied yet, in one transaction with the new offsets.

        ``guard``: take the projection's shared lock (a replay holds it exclusively) and check
        that no replay rebuilt the projection since our offsets were sought; else ``Blocked``.
        ``skip``: only record the messages as consumed (they were dead-lettered).
        """
        for message in messages:
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("projection %s: consumer error %s", self.projection.name, error)
        messages = [m for m in messages if m.error() is None]
        name = self.projection.name
        with self.pool.connection() as conn, conn.transaction():
            if guard:
                row = conn.execute(
                    "SELECT pg_try_advisory_xact_lock_shared(%s)", (self.lock,)
                ).fetchone()
                if not (row and row[0]):
                    raise Blocked
            position, generation = state.state(conn, name)
            if guard and generation != self.generation:
                raise Blocked
            stored = state.offsets(conn, name, lock=True)
            fresh = [m for m in messages if m.offset() >= stored.get(_tp(m), 0)]
            result = self._apply(conn, fresh, skip)
            result.position = self._watermark(conn, position, [] if skip else fresh)
        self.applied += result.applied
        return result

    def _apply(self, conn: Connection, messages: Sequence[Message], skip: bool) -> BatchResult:
        name = self.projection.name
        positions = self.settings.topics.relay_position
        envelopes = [
            Envelope.from_bytes(m.value()) for m in messages if m.topic() != positions and not skip
        ]
        last = state.sequences(conn, name, {e.aggregate.id for e in envelopes})
        applied: dict[UUID, int] = {}
        result = BatchResult(skipped=len(messages) if skip else 0)
        fresh: list[Envelope] = []
        for envelope in envelopes:
            aggregate = envelope.aggregate
            if aggregate.sequence <= applied.get(aggregate.id, last.get(aggregate.id, 0)):
                result.duplicates += 1
                continue
            fresh.append(envelope)
            applied[aggregate.id] = aggregate.sequence
        result.applied = len(fresh)
        with conn.pipeline():
            apply_batch = getattr(self.projection, "apply_batch", None)
            if apply_batch is not None:
                apply_batch(conn, fresh)
            else:
                for envelope in fresh:
                    self.projection.apply(conn, envelope)
            state.save_sequences(conn, name, applied)
            next_offsets = {_tp(m): m.offset() + 1 for m in messages}
            state.save_offsets(conn, name, next_offsets)
        return result

    def _watermark(self, conn: Connection, position: int, messages: Sequence[Message]) -> int:
        """Advance the watermark with the relay records seen; keep the unsatisfied ones."""
        added = [
            relevant(RelayPosition.from_bytes(m.value()), self.event_topics)
            for m in messages
            if m.topic() == self.settings.topics.relay_position and m.key() == RELAY_KEY
        ]
        waiting = state.pending(conn, self.projection.name)
        if not added and not waiting:
            return position
        consumed = {
            f"{t}:{p}": offset - 1
            for (t, p), offset in state.offsets(conn, self.projection.name).items()
        }
        new_position, still = advance(position, [*waiting, *added], consumed)
        state.save_watermark(conn, self.projection.name, new_position, still, added)
        return new_position


def _tp(message: Message) -> tuple[str, int]:
    return message.topic(), message.partition()
