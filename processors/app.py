"""The saga's faust-streaming application: `filmstudio saga` runs it.

Agents consume the production events and the workers' results (at-least-once, aiokafka driver,
no exactly-once mode); a timer fails overdue units. The decisions live in `ProductionSaga`, which
is synchronous (it issues commands to PostgreSQL), so the agents hand it each message on one
thread, in order. `filmstudio.bootstrap.saga_app` builds the saga and its adapters.
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

from adapters.kafka import faust_broker
from adapters.settings import Settings
from domain.errors import DomainError
from processors.saga import ProductionSaga
from schemas.envelope import Envelope
from schemas.work import UnitResult

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 5.0
ATTEMPTS = 5
TRANSIENT = (psycopg.OperationalError, OperationalError, KafkaException, OSError)


def create_app(
    settings: Settings, saga: ProductionSaga, active: Callable[[], list[UUID]]
) -> faust.App:
    """The faust app driving `saga`; `active` lists the productions to reconcile."""
    app = faust.App(
        settings.topics.group("saga"),
        **faust_broker(settings),
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
    one_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saga")
    events = app.topic(settings.topics.events("production"))
    results = app.topic(settings.topics.results)

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
                if attempt < ATTEMPTS:
                    log.exception("saga step failed (attempt %d); retrying", attempt)
                    await asyncio.sleep(attempt)
                    continue
                log.exception("saga step failed %d times; reconciliation will repair", attempt)
            except Exception:  # never let one message kill the agent: reconciliation repairs
                log.exception("saga step failed; reconciliation will repair")
                return

    @app.agent(events)
    async def on_production_events(stream: AsyncIterator[bytes]) -> None:
        async for value in stream:
            await call(saga.on_event, Envelope.from_bytes(value))

    @app.agent(results)
    async def on_results(stream: AsyncIterator[bytes]) -> None:
        async for value in stream:
            await call(saga.on_result, UnitResult.model_validate_json(value))

    def reconcile_all() -> None:
        for production_id in active():
            try:
                saga.reconcile(production_id)
            except DomainError as refused:
                log.info("reconciling %s: %s", production_id, refused)

    @app.timer(interval=RECONCILE_SECONDS)
    async def reconcile() -> None:
        """Every active production, looked up in the read model, is reconciled."""
        await call(reconcile_all)

    return app
