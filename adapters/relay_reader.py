"""The relay's reading side: the recorded events after a position, as Kafka messages, in batches
bounded by count and bytes, read ahead on a thread while the previous batch is published.

Each message is the envelope bytes stored with its event (`adapters.studio_recorder`) with the
position spliced in (`schemas.envelope.published_bytes`); only a row stored without them is
decoded and built again (`to_envelope`).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, Notification
from psycopg import sql

from adapters.settings import Settings
from adapters.studio_recorder import StudioRecorder
from schemas.catalogue import BY_TOPIC
from schemas.envelope import Envelope, envelope_from_stored, published_message

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 8 * 1024 * 1024  # far below the producer's buffer, a few broker requests
FETCH_ROWS = 1000  # rows per round trip while a batch is read
IDLE_WAIT = 0.5  # a fallback: the store NOTIFYs on every append
T = TypeVar("T")


class Outgoing(NamedTuple):
    """One event as it goes to Kafka."""

    position: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def outgoing_size(event: Outgoing) -> int:
    """What a batch's byte bound counts: key and value."""
    return len(event.key) + len(event.value)


def take_batch(
    items: Iterable[T], size: Callable[[T], int], max_count: int, max_bytes: int
) -> list[T]:
    """The longest prefix of `items` within `max_count` items and `max_bytes` (by `size`);
    never empty while `items` is not, however large its first item. Reads one item past the
    batch when the bytes end it."""
    batch: list[T] = []
    total = 0
    for item in items:
        item_size = size(item)
        if batch and total + item_size > max_bytes:
            break
        batch.append(item)
        total += item_size
        if len(batch) >= max_count:
            break
    return batch


def to_envelope(mapper: Mapper[Any], notification: Notification) -> Envelope:
    """The published envelope of one stored event, built from its state."""
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


class Outgoings:
    """Turns the relay query's rows into messages; caches each event type's topic and headers."""

    def __init__(self, settings: Settings, mapper: Mapper[Any]) -> None:
        self.settings = settings
        self.mapper = mapper
        self._routes: dict[str, tuple[str, bytes, bytes]] = {}  # stored topic -> route

    def __call__(
        self,
        position: int,
        aggregate_id: str,
        sequence: int,
        topic: str,
        template: bytes | None,
        state: bytes | None,
    ) -> Outgoing:
        """One row of `StudioRecorder.select_for_relay` as it goes out."""
        kafka_topic, event_type, version = self._routes.get(topic) or self._route(topic)
        if template is not None:
            value, headers = published_message(template, event_type, version, position)
        else:  # recorded before envelopes were stored with events
            notification = Notification(
                id=position,
                originator_id=UUID(aggregate_id),
                originator_version=sequence,
                topic=topic,
                state=cast(bytes, state),
            )
            envelope = to_envelope(self.mapper, notification)
            value, headers = envelope.to_bytes(), envelope.headers()
        return Outgoing(position, kafka_topic, aggregate_id.encode(), value, headers)

    def _route(self, topic: str) -> tuple[str, bytes, bytes]:
        """Its Kafka topic and its type and version headers, for an event type."""
        event_type = BY_TOPIC[topic]
        route = (
            self.settings.topics.events(event_type.aggregate),
            event_type.type.encode(),
            b"%d" % event_type.version,
        )
        self._routes[topic] = route
        return route


class BatchReader:
    """Reads batches after `after` on its own thread, one batch ahead of the publisher; waits
    for the store's NOTIFY when there is nothing new. `next_batch` hands them over in order."""

    def __init__(
        self,
        settings: Settings,
        recorder: StudioRecorder,
        outgoings: Outgoings,
        after: int,
        max_events: int = MAX_BATCH_EVENTS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.outgoings = outgoings
        self.after = after
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._ready: queue.Queue[list[Outgoing] | BaseException] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-reader", daemon=True)

    def __enter__(self) -> BatchReader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def next_batch(self, timeout: float) -> list[Outgoing]:
        """The next batch; empty if none came within `timeout`. Raises what the reader hit."""
        try:
            batch = self._ready.get(timeout=timeout)
        except queue.Empty:
            return []
        if isinstance(batch, BaseException):
            raise batch
        return batch

    def _run(self) -> None:
        try:
            with psycopg.connect(
                self.settings.pg_conninfo,
                autocommit=True,  # LISTEN takes effect at once; batches read in transactions
                application_name=f"{self.settings.topics.group('relay')}-reader:{os.getpid()}",
            ) as conn:
                channel = sql.Identifier(self.recorder.channel_name)
                conn.execute(sql.SQL("LISTEN {}").format(channel))
                while not self._stop.is_set():
                    batch = self._read(conn)
                    if batch:
                        self.after = batch[-1].position
                        self._hand_over(batch)
                    else:  # idle: wake on the store's NOTIFY, or after a short wait
                        for _ in conn.notifies(timeout=IDLE_WAIT, stop_after=1):
                            pass
        except BaseException as exc:  # the publisher raises it
            self._hand_over(exc)

    def _read(self, conn: psycopg.Connection) -> list[Outgoing]:
        """Through a server-side cursor: rows past the byte bound mostly stay in the database."""
        with conn.transaction(), conn.cursor("relay-batch", binary=True) as cursor:
            cursor.execute(self.recorder.select_for_relay, (self.after, self.max_events))
            size = min(FETCH_ROWS, self.max_events)
            pages = iter(lambda: cursor.fetchmany(size), [])
            outgoing = self.outgoings
            rows = (outgoing(*row) for row in itertools.chain.from_iterable(pages))
            return take_batch(rows, outgoing_size, self.max_events, self.max_bytes)

    def _hand_over(self, item: list[Outgoing] | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
