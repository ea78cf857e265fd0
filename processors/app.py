"""The saga's faust-streaming application: `filmstudio saga` runs it.

Agents consume the production events and the workers' results (at-least-once, aiokafka driver,
no exactly-once mode); a timer fails overdue units. The decisions live in `ProductionSaga`, which
is synchronous (it issues commands to PostgreSQL), so the agents hand it each message on one
thread, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import faust
import psycopg
from confluent_kafka import KafkaException
from eventsourcing.persistence import OperationalError

from commands.application import EventStore
from commands.pipeline import Pipeline
from domain.errors import DomainError
from filmstudio.kafka import producer
from filmstudio.media import LocalMediaStore
from filmstudio.settings import Settings
from processors.saga import FINISHED_EVENTS, ProductionSaga
from schemas.envelope import Envelope
from schemas.work import UnitResult

log = logging.getLogger(__name__)

DEADLINE_CHECK_SECONDS = 5.0
ATTEMPTS = 5
TRANSIENT = (psycopg.OperationalError, OperationalError, KafkaException, OSError)


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.topic_prefix}.saga",
        broker=f"kafka://{settings.kafka_bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.state_dir / "faust"),
        store="memory://",
    )
    saga = ProductionSaga(
        settings,
        Pipeline(settings, EventStore(settings)),
        LocalMediaStore(settings.media_root),
        producer(settings),
    )
    one_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saga")
    running = app.Table("running", default=bool, partitions=settings.topic_partitions)
    events = app.topic(settings.event_topic("production"))
    results = app.topic(settings.topic("work.results"))

    async def call(handler: Callable[..., None], *args: Any) -> None:
        """Run a saga step off the event loop; retry transient failures, skip refused ones."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await loop.run_in_executor(one_thread, handler, *args)
                return
            except DomainError as refused:  # a stale or repeated message: nothing to do
                log.info("saga skipped a message: %s", refused)
                return
            except TRANSIENT:
                if attempt == ATTEMPTS:
                    raise
                log.exception("saga step failed (attempt %d); retrying", attempt)
                await asyncio.sleep(attempt)

    @app.agent(events)
    async def on_production_events(stream: AsyncIterator[bytes]) -> None:
        async for value in stream:
            envelope = Envelope.from_bytes(value)
            production_id = str(envelope.aggregate.id)
            if envelope.type == "production.Requested":
                running[production_id] = True
            elif envelope.type in FINISHED_EVENTS:
                running[production_id] = False
            await call(saga.on_event, envelope)

    @app.agent(results)
    async def on_results(stream: AsyncIterator[bytes]) -> None:
        async for value in stream:
            await call(saga.on_result, UnitResult.model_validate_json(value))

    @app.timer(interval=DEADLINE_CHECK_SECONDS)
    async def deadlines() -> None:
        watched = [UUID(key) for key, active in running.items() if active]
        if watched:
            await call(saga.check_deadlines, watched)

    return app
