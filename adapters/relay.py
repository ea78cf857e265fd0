"""The relay: publishes every recorded event to Kafka, in notification order, exactly once.

Each Kafka transaction holds a batch of events plus one position record (see
``adapters.relay_position``); a restarted relay resumes after the last committed record, and its
transactional id fences a zombie predecessor. A Postgres advisory lock keeps one relay active;
the others wait as standbys.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import psycopg
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from adapters import heartbeat, kafka
from adapters.eventstore import EventStore
from adapters.relay_position import RELAY_KEY, RelayPosition, partition_key, read_last_position
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from schemas.envelope import Envelope, envelope_from_stored

log = logging.getLogger(__name__)

BATCH_SIZE = 500
IDLE_WAIT = 0.5  # a fallback: the store NOTIFYs on every append
STANDBY_WAIT = 0.5


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


class Relay:
    """Publishes the event store's notifications; ``run`` until ``stop`` is set."""

    def __init__(self, settings: Settings, store: EventStore, batch_size: int = BATCH_SIZE) -> None:
        self.settings = settings
        self.store = store
        self.batch_size = batch_size
        self.name = settings.topics.group("relay")
        self.active = threading.Event()
        self.position = RelayPosition()
        self.published = 0

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
                recorder = cast(PostgresApplicationRecorder, self.store.recorder)
                channel = sql.Identifier(recorder.channel_name)
                lock_conn.execute(sql.SQL("LISTEN {}").format(channel))
                self._publish_until(stop, lock_conn)
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

    def _publish_until(self, stop: threading.Event, lock_conn: psycopg.Connection) -> None:
        producer = kafka.producer(self.settings, transactional_id=self.name)
        producer.init_transactions(30)  # fences any earlier producer with our id
        try:
            self.position = read_last_position(self.settings)
            log.info("relay %s resumes after position %d", self.name, self.position.position)
            while not stop.is_set():
                heartbeat.beat()
                notifications = self.store.recorder.select_notifications(
                    start=self.position.position, limit=self.batch_size, inclusive_of_start=False
                )
                if notifications:
                    self._publish(producer, notifications)
                else:  # idle: wake on the store's NOTIFY, or after a short wait
                    for _ in lock_conn.notifies(timeout=IDLE_WAIT, stop_after=1):
                        pass
        finally:
            producer.flush(10)

    def _publish(self, producer: Producer, notifications: Sequence[Notification]) -> None:
        """One transaction: the events, then the position record with their offsets."""
        offsets = dict(self.position.offsets)
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error)
                return
            # a delivered message has its topic, partition and offset
            key = partition_key(cast(str, message.topic()), cast(int, message.partition()))
            offsets[key] = max(offsets.get(key, -1), cast(int, message.offset()))

        producer.begin_transaction()
        try:
            for notification in notifications:
                envelope = to_envelope(self.store.mapper, notification)
                producer.produce(
                    self.settings.topics.events(envelope.aggregate.type),
                    key=str(envelope.aggregate.id).encode(),
                    value=envelope.to_bytes(),
                    headers=list(envelope.headers()),
                    on_delivery=delivered,
                )
                producer.poll(0)
            producer.flush()
            if failures:
                raise KafkaException(failures[0])
            position = RelayPosition(notifications[-1].id, offsets)
            producer.produce(
                self.settings.topics.relay_position, key=RELAY_KEY, value=position.to_bytes()
            )
            producer.commit_transaction()
        except KafkaException as exc:
            self._abort(producer, exc)
            raise
        self.position = position
        self.published += len(notifications)

    @staticmethod
    def _abort(producer: Producer, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if error is not None and error.fatal():
            return  # fenced or broken: this producer can do nothing more
        try:
            producer.abort_transaction(30)
        except KafkaException:
            log.exception("aborting the relay transaction failed")


def to_envelope(mapper: Mapper[Any], notification: Notification) -> Envelope:
    """The published envelope of one stored event."""
    data = notification.state
    if mapper.cipher is not None:
        data = mapper.cipher.decrypt(data)
    if mapper.compressor is not None:
        data = mapper.compressor.decompress(data)
    state = mapper.transcoder.decode(data)
    return envelope_from_stored(
        notification.topic,
        cast(UUID, notification.originator_id),  # the store's ids are UUIDs
        notification.originator_version,
        notification.id,
        state,
    )


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
