"""A stage worker: one consumer group per stage, computing units into the media store.

The worker pulls a unit, computes its artifact unless the content-addressed store already has it,
reports the outcome on the results topic, and only then commits the offset, so a worker killed
mid-unit loses nothing (the unit is delivered again). While a unit computes, the worker pauses its
partitions and keeps polling, so a long unit never costs it its place in the group.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaException, Message, TopicPartition
from pydantic import ValidationError

from adapters import heartbeat
from adapters.bus import KafkaBus
from adapters.dead_letters import DeadLetters
from adapters.kafka import consumer, producer, send
from adapters.media import MediaStore, redeem
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from domain.stages import Quality
from schemas.work import ProgressTick, UnitResult, WorkUnit

log = logging.getLogger(__name__)

Compute = Callable[[WorkUnit, MediaStore, Path], None]
BatchCompute = Callable[[list[WorkUnit], MediaStore, list[Path]], None]
POLL_SECONDS = 0.5
SESSION_MS = 10_000  # a killed worker's partitions go to another (or its successor) in 10 s


def one_by_one(compute: Compute) -> BatchCompute:
    """A batch compute that runs `compute` for each unit in turn."""

    def batch(units: list[WorkUnit], media: MediaStore, folders: list[Path]) -> None:
        for unit, folder in zip(units, folders, strict=True):
            compute(unit, media, folder)

    return batch


class StageWorker:
    """Runs `compute` for every unit of one stage and backend (`one_by_one` adapts a per-unit
    compute). With `batch_size` above 1 (model backends on a GPU) the worker takes the units
    already waiting, up to that many, and computes them in one call; when a batch fails, each of
    its units is tried alone, so one bad unit fails only itself."""

    def __init__(
        self,
        settings: Settings,
        stage: str,
        compute: BatchCompute,
        media: MediaStore,
        *,
        quality: Quality = "draft",
        batch_size: int = 1,
    ) -> None:
        self.settings = settings
        self.stage = stage
        self.quality = quality
        self.batch_size = batch_size
        self.compute = compute
        self.media = media
        self.topic = settings.topics.work(stage, quality)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.computed = 0
        self._assigned: list[TopicPartition] = []
        self._busy = False

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop``. A Kafka outage (a transient error) rebuilds the clients after a
        capped backoff and resumes from the committed offsets, so what was not committed is
        delivered again; any other error escapes, and the process exits to be restarted."""
        backoff = Backoff(initial=1.0, cap=30.0)
        while not stop.is_set():
            try:
                self._run_clients(stop, backoff)
            except Exception as error:
                if not is_transient(error):
                    raise
                wait = backoff.next()
                log.warning("worker %s: %s; reconnecting in %.1f s", self.topic, error, wait)
                stop.wait(wait)

    def _run_clients(self, stop: threading.Event, backoff: Backoff) -> None:
        group = self.topic.replace(".work.", ".workers.", 1)
        self._consumer = consumer(
            self.settings,
            group,
            **{"max.poll.interval.ms": 300_000, "session.timeout.ms": SESSION_MS},
        )
        self._producer = producer(self.settings)
        self._dead_letters = DeadLetters(
            KafkaBus(self._producer), self.settings.topics.dead_letters(), group
        )
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("worker %s for %s started", self.name, self.topic)
        try:
            while not stop.is_set():
                heartbeat.beat()
                message = self._consumer.poll(POLL_SECONDS)
                if message is None:
                    continue
                batch = [message]
                if self.batch_size > 1:  # what is already waiting joins the batch
                    batch += self._consumer.consume(self.batch_size - 1, 0.05)
                self._handle([m for m in batch if not self._error(m)], stop)
                backoff.succeeded()
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.fatal():
            raise KafkaException(error)  # new clients are needed
        log.warning("worker %s: %s", self.topic, error)
        return True

    def _on_assign(self, consumer: object, partitions: list[TopicPartition]) -> None:
        self._assigned = partitions
        log.info("worker %s: assigned %s", self.topic, sorted(p.partition for p in partitions))
        if self._busy:
            self._consumer.pause(partitions)
        else:  # a pause from before a rebalance (its resume missed them) must not outlive it
            self._consumer.resume(partitions)

    def _on_revoke(self, consumer: object, partitions: list[TopicPartition]) -> None:
        log.info("worker %s: revoked %s", self.topic, sorted(p.partition for p in partitions))
        self._assigned = []

    def _handle(self, messages: list[Message], stop: threading.Event) -> None:
        work: list[tuple[Message, WorkUnit]] = []
        for message in messages:
            try:
                unit = redeem(WorkUnit.model_validate_json(message.value() or b""), self.media)
            except ValidationError as error:
                self._dead_letter_malformed(message, str(error))
                continue
            except FileNotFoundError:  # its inputs were deleted: the owner was erased
                self._dead_letter_malformed(message, "the unit's inputs are gone")
                continue
            work.append((message, unit))
            self._tick(unit, "started")
        started = time.monotonic()
        fresh = [
            unit
            for _, unit in work
            if unit.quality == self.quality and not self.media.exists(unit.key)
        ]
        errors = self._compute_while_polling(fresh, stop) if fresh else {}
        if errors is None:
            return  # stopped: not reported, not committed, so another worker takes them
        for message, unit in work:
            error = errors.get(unit.key, "")
            if unit.quality != self.quality:  # a unit on the wrong pool can never succeed here
                error = f"a {self.quality} worker got a {unit.quality} unit"
            self._report(unit, error, unit in fresh and not error, started)
            self._consumer.commit(message=message, asynchronous=False)

    def _report(self, unit: WorkUnit, error: str, computed: bool, started: float) -> None:
        result = UnitResult(
            production_id=unit.production_id,
            stage=unit.stage,
            unit=unit.unit,
            attempt=unit.attempt,
            key=unit.key,
            ok=not error,
            error=error,
            computed=computed,
            worker=self.name,
            seconds=round(time.monotonic() - started, 3),
            correlation_id=unit.correlation_id,
            causation_id=unit.causation_id,
        )
        send(
            self._producer,
            self.settings.topics.results,
            str(unit.production_id),
            result.to_bytes(),
        )
        self._tick(unit, "completed" if result.ok else "failed", error[:200])
        self.computed += computed

    def _compute_while_polling(
        self, units: list[WorkUnit], stop: threading.Event
    ) -> dict[str, str] | None:
        """Compute in a thread while the consumer keeps polling (paused); returns each failed
        unit's error by key, or None when stopped before the computation ended."""
        errors: dict[str, str] = {}

        def compute(batch: list[WorkUnit]) -> str:
            try:
                with ExitStack() as stack:
                    folders = [stack.enter_context(self.media.writing(u.key)) for u in batch]
                    self.compute(batch, self.media, folders)
                return ""
            except Exception as exc:  # a unit's failure is reported, never crashes the worker
                log.exception("%s units %s failed", self.stage, [u.unit for u in batch])
                return f"{type(exc).__name__}: {exc}"

        def work() -> None:
            error = compute(units)
            if error and len(units) > 1:  # one bad unit must not fail its batch-mates
                errors.update({u.key: e for u in units if (e := compute([u]))})
            elif error:
                errors[units[0].key] = error

        thread = threading.Thread(target=work, name=f"units-{units[0].unit}", daemon=True)
        self._busy = True
        self._consumer.pause(self._assigned)
        thread.start()
        try:
            while True:
                thread.join(POLL_SECONDS)  # returns the moment the unit is done
                if not thread.is_alive():
                    break
                if stop.is_set():
                    thread.join(30)
                    if thread.is_alive():
                        return None
                self._keep_membership()
                heartbeat.beat()
        finally:
            self._busy = False
            self._consumer.resume(self._assigned)
        return errors

    def _keep_membership(self) -> None:
        """Poll while paused, so the group keeps this worker. A message can still arrive (a
        partition assigned mid-unit starts fetching before it is paused): it goes back, by
        seeking its partition to it, to be delivered again once the unit is done."""
        message = self._consumer.poll(0)
        if message is None or message.error() is not None:
            return
        where = TopicPartition(message.topic(), message.partition(), message.offset())
        log.info("worker %s: %s arrived mid-unit; delivered again later", self.topic, where)
        self._consumer.pause([where])
        self._consumer.seek(where)

    def _dead_letter_malformed(self, message: Message, error: str) -> None:
        """A message that is not a unit at all can never succeed: to the dead letters, with
        the reason, and past it."""
        self._dead_letters.send_reason(message, "MalformedUnit", error)
        self._consumer.commit(message=message, asynchronous=False)

    def _tick(self, unit: WorkUnit, status: str, detail: str = "") -> None:
        tick = ProgressTick(
            production_id=unit.production_id,
            stage=unit.stage,
            unit=unit.unit,
            status=status,
            at=datetime.now(UTC),
            detail=detail,
            correlation_id=unit.correlation_id,
            causation_id=unit.causation_id,
        )
        self._producer.produce(
            self.settings.topics.progress, key=str(unit.production_id), value=tick.to_bytes()
        )
        self._producer.poll(0)
