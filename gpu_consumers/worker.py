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
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Message, TopicPartition
from pydantic import ValidationError

from filmstudio.kafka import consumer, producer, send
from filmstudio.media import LocalMediaStore
from filmstudio.settings import Settings
from schemas.work import ProgressTick, UnitResult, WorkUnit

log = logging.getLogger(__name__)

Compute = Callable[[WorkUnit, LocalMediaStore, Path], None]
POLL_SECONDS = 0.5


class StageWorker:
    """Runs `compute` for every unit of one stage."""

    def __init__(
        self, settings: Settings, stage: str, compute: Compute, media: LocalMediaStore
    ) -> None:
        self.settings = settings
        self.stage = stage
        self.compute = compute
        self.media = media
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.computed = 0
        self._assigned: list[TopicPartition] = []
        self._busy = False

    def run(self, stop: threading.Event) -> None:
        self._consumer = consumer(
            self.settings,
            f"{self.settings.topic_prefix}.workers.{self.stage}",
            **{"max.poll.interval.ms": 300_000, "session.timeout.ms": 30_000},
        )
        self._producer = producer(self.settings)
        self._consumer.subscribe(
            [self.settings.topic(f"work.{self.stage}")],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        log.info("worker %s for %s started", self.name, self.stage)
        try:
            while not stop.is_set():
                message = self._consumer.poll(POLL_SECONDS)
                if message is None:
                    continue
                if message.error():
                    log.warning("worker %s: %s", self.stage, message.error())
                    continue
                self._handle(message, stop)
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _on_assign(self, consumer: object, partitions: list[TopicPartition]) -> None:
        self._assigned = partitions
        if self._busy:
            self._consumer.pause(partitions)

    def _on_revoke(self, consumer: object, partitions: list[TopicPartition]) -> None:
        self._assigned = []

    def _handle(self, message: Message, stop: threading.Event) -> None:
        try:
            unit = WorkUnit.model_validate_json(message.value() or b"")
        except ValidationError as error:
            self._dead_letter_malformed(message, str(error))
            return
        self._tick(unit, "started")
        started = time.monotonic()
        computed = False
        error = ""
        if not self.media.exists(unit.key):
            error = self._compute_while_polling(unit, stop)
            computed = not error
        if stop.is_set() and error == "stopped":
            return  # not reported, not committed: another worker takes it
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
        )
        send(
            self._producer,
            self.settings.topic("work.results"),
            str(unit.production_id),
            result.to_bytes(),
        )
        self._tick(unit, "completed" if result.ok else "failed", error[:200])
        self._consumer.commit(message=message, asynchronous=False)
        self.computed += computed

    def _compute_while_polling(self, unit: WorkUnit, stop: threading.Event) -> str:
        """Compute in a thread while the consumer keeps polling (paused); returns an error."""
        errors: list[str] = []

        def work() -> None:
            try:
                with self.media.writing(unit.key) as folder:
                    self.compute(unit, self.media, folder)
            except Exception as exc:  # a unit's failure is reported, never crashes the worker
                log.exception("unit %s/%s failed", unit.stage, unit.unit)
                errors.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=work, name=f"unit-{unit.unit}", daemon=True)
        self._busy = True
        self._consumer.pause(self._assigned)
        thread.start()
        try:
            while thread.is_alive():
                if stop.is_set():
                    thread.join(30)
                    if thread.is_alive():
                        return "stopped"
                self._consumer.poll(POLL_SECONDS)  # paused: keeps the membership alive
                thread.join(0)
        finally:
            self._busy = False
            self._consumer.resume(self._assigned)
        return errors[0] if errors else ""

    def _dead_letter_malformed(self, message: Message, error: str) -> None:
        """A message that is not a unit at all can never succeed: straight to the DLQ."""
        log.error("malformed unit on %s: %s", message.topic(), error[:300])
        send(
            self._producer,
            f"{message.topic()}.dlq",
            (message.key() or b"").decode(),
            message.value() or b"",
        )
        self._consumer.commit(message=message, asynchronous=False)

    def _tick(self, unit: WorkUnit, status: str, detail: str = "") -> None:
        tick = ProgressTick(
            production_id=unit.production_id,
            stage=unit.stage,
            unit=unit.unit,
            status=status,
            at=datetime.now(UTC),
            detail=detail,
        )
        self._producer.produce(
            self.settings.topic("progress"), key=str(unit.production_id), value=tick.to_bytes()
        )
        self._producer.poll(0)
