"""The relay: publishes every recorded event to Kafka, in notification order, exactly once.

Each Kafka transaction holds a batch of events plus one position record (see
``adapters.relay_position``); a restarted relay resumes after the last committed record, and its
transactional id fences a zombie predecessor. A Postgres advisory lock keeps one relay active;
the others wait as standbys.

A batch is bounded by a count and by bytes (`adapters.relay_reader`, which reads the next batch
while this one is published): small events travel in large transactions, large ones in
few-megabyte ones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from typing import cast

import psycopg
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from adapters import heartbeat, kafka
from adapters.eventstore import EventStore
from adapters.relay_position import RELAY_KEY, RelayPosition, partition_key, read_last_position
from adapters.relay_reader import (
    IDLE_WAIT,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    BatchReader,
    Outgoing,
    Outgoings,
    take_batch,
    to_envelope,
)
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from adapters.studio_recorder import StudioRecorder

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "Relay",
    "lock_key",
    "run_relay",
    "take_batch",
    "to_envelope",
]
log = logging.getLogger(__name__)

STANDBY_WAIT = 0.5
POLL_EVERY = 1000  # messages queued between two services of the delivery reports


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


class Relay:
    """Publishes the event store's notifications; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        max_events: int = MAX_BATCH_EVENTS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.settings = settings
        self.store = store
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.name = settings.topics.group("relay")
        self.active = threading.Event()
        self.position = RelayPosition()
        self.published = 0
        self.transactions = 0
        self._recorder = cast(StudioRecorder, store.recorder)

    def run(self, stop: threading.Event) -> None:
        with psycopg.connect(
            self.settings.pg_conninfo,
            autocommit=True,
            application_name=f"{self.name}:{os.getpid()}",
        ) as lock_conn:
            if not self._acquire(lock_conn, stop):
                return
            log.info("relay %s is active", self.name)
            self.active.set()
            try:
                self._publish_until(stop)
            finally:
                self.active.clear()

    def _acquire(self, conn: psycopg.Connection, stop: threading.Event) -> bool:
        """Take the relay lock, waiting as a standby while another relay holds it."""
        standby_logged = False
        while not stop.is_set():
            heartbeat.beat()  # a standby is healthy too
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.name),)).fetchone()
            if row and row[0]:
                return True
            if not standby_logged:
                log.info("relay %s: another relay is active; standing by", self.name)
                standby_logged = True
            stop.wait(STANDBY_WAIT)
        return False

    def _publish_until(self, stop: threading.Event) -> None:
        producer = kafka.producer(self.settings, transactional_id=self.name)
        producer.init_transactions(30)  # fences any earlier producer with our id
        try:
            self.position = read_last_position(self.settings)
            log.info("relay %s resumes after position %d", self.name, self.position.position)
            outgoings = Outgoings(self.settings, self.store.mapper)
            with BatchReader(
                self.settings,
                self._recorder,
                outgoings,
                self.position.position,
                self.max_events,
                self.max_bytes,
            ) as reader:
                while not stop.is_set():
                    heartbeat.beat()
                    batch = reader.next_batch(timeout=IDLE_WAIT)
                    if batch:
                        self._publish(producer, batch)
        finally:
            producer.flush(10)

    def _publish(self, producer: Producer, batch: list[Outgoing]) -> None:
        """One transaction: the events, then the position record with their offsets."""
        reached: dict[tuple[str, int], int] = {}
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error)
                return
            # a delivered message has its topic, partition and offset
            where, offset = (message.topic(), message.partition()), cast(int, message.offset())
            if offset > reached.get(where, -1):  # type: ignore[arg-type]
                reached[where] = offset  # type: ignore[index]

        producer.begin_transaction()
        try:
            for n, event in enumerate(batch, 1):
                _produce(producer, event, delivered)
                if n % POLL_EVERY == 0:
                    producer.poll(0)  # serve delivery reports now and then, not per message:
                    # each poll releases the GIL to the reader thread, then waits to get it back
            producer.flush()
            if failures:
                raise KafkaException(failures[0])
            offsets = dict(self.position.offsets)
            offsets.update({partition_key(t, p): offset for (t, p), offset in reached.items()})
            position = RelayPosition(batch[-1].position, offsets)
            producer.produce(
                self.settings.topics.relay_position, key=RELAY_KEY, value=position.to_bytes()
            )
            producer.commit_transaction()
        except KafkaException as exc:
            self._abort(producer, exc)
            raise
        self.position = position
        self.published += len(batch)
        self.transactions += 1

    @staticmethod
    def _abort(producer: Producer, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if error is not None and error.fatal():
            return  # fenced or broken: this producer can do nothing more
        try:
            producer.abort_transaction(30)
        except KafkaException:
            log.exception("aborting the relay transaction failed")


def _produce(
    producer: Producer, event: Outgoing, delivered: Callable[[KafkaError | None, Message], None]
) -> None:
    """Queue one message, serving delivery reports while the producer's queue is full."""
    while True:
        try:
            producer.produce(
                event.topic,
                key=event.key,
                value=event.value,
                headers=cast(list[tuple[str, str | bytes | None]], event.headers),
                on_delivery=delivered,
            )
        except BufferError:
            producer.poll(0.05)
            continue
        return


def run_relay(
    settings: Settings,
    store: EventStore,
    stop: threading.Event,
    backoff: Backoff | None = None,
) -> None:
    """Run a relay until ``stop``. Any failure (PostgreSQL restarting, the broker away, a
    transaction that did not commit) starts a new relay from the committed position after a
    capped backoff; the waits start over once a relay has published again for a while. Nothing
    is skipped: events go out in order or not at all."""
    backoff = backoff or Backoff(initial=0.5, cap=30.0)
    while not stop.is_set():
        relay = Relay(settings, store)
        try:
            relay.run(stop)
        except Exception as error:
            if relay.published:  # it made progress: start the waits over
                backoff.reset()
            wait = backoff.next()
            level = logging.WARNING if is_transient(error) else logging.ERROR
            log.log(
                level,
                "relay %s failed (%s: %s); restarting from its committed position in %.1f s",
                relay.name,
                type(error).__name__,
                error,
                wait,
                exc_info=level == logging.ERROR,
            )
            stop.wait(wait)
