"""The saga's faust-streaming application: `filmstudio saga` runs it.

Agents consume the production events and the workers' results (at-least-once, aiokafka driver,
no exactly-once mode); a timer reconciles the active productions. The decisions live in
`ProductionSaga`, which is synchronous (it issues commands to PostgreSQL), so the agents hand it
each message on one thread, in order. A transient failure (PostgreSQL or Kafka away) is retried
with a capped backoff until it passes; a message that cannot be handled is dead-lettered with
the reason and passed; one production that fails to reconcile does not stop the others.
`filmstudio.bootstrap.saga_app` builds the saga and its adapters.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import faust
from prometheus_client import Counter

from adapters import heartbeat
from adapters.dead_letters import DeadLetters
from adapters.kafka import faust_broker
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from domain.errors import DomainError
from processors.saga import ProductionSaga
from schemas.envelope import Envelope
from schemas.work import UnitResult

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 5.0
SESSION_SECONDS = 10.0
RECONCILE_FAILURES = Counter(
    "studio_saga_reconcile_failures", "Productions whose reconciliation raised"
)


def reconcile_each(saga: ProductionSaga, productions: Iterable[UUID]) -> list[UUID]:
    """Reconcile every production; one that raises is logged and counted, and the rest go on
    (a transient error ends the round: the next one retries). Returns the ones that failed."""
    failed = []
    for production_id in productions:
        try:
            saga.reconcile(production_id)
        except DomainError as refused:
            log.info("reconciling %s: %s", production_id, refused)
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("reconciling %s failed; going on with the others", production_id)
            RECONCILE_FAILURES.inc()
            failed.append(production_id)
    return failed


def create_app(
    settings: Settings,
    saga: ProductionSaga,
    active: Callable[[], list[UUID]],
    dead_letters: DeadLetters | None = None,
) -> faust.App:
    """The faust app driving `saga`; `active` lists the productions to reconcile; what cannot
    be handled goes to `dead_letters` (default: the dead-letter topic, through the saga's bus)."""
    group = settings.topics.group("saga")
    letters = dead_letters or DeadLetters(saga.bus, settings.topics.dead_letters(), group)
    app = faust.App(
        group,
        **faust_broker(settings),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        # a killed saga's membership lapses in 10 s (not 60), so its successor is assigned soon
        broker_session_timeout=SESSION_SECONDS,
        # static membership: a restarted saga on this host takes its partitions straight back
        consumer_group_instance_id=f"{group}.{socket.gethostname()}",
        datadir=str(settings.state_dir / "faust"),
        store="memory://",
    )
    one_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saga")
    outage = asyncio.Event()  # set while a step or a reconciliation meets a transient error
    events = app.topic(settings.topics.events("production"))
    results = app.topic(settings.topics.results)

    async def call(handler: Callable[..., Any], *args: Any) -> None:
        """Run a saga step off the event loop; a transient failure is retried (capped backoff)
        until it passes, a refused (stale or repeated) message skipped; others raise."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(initial=1.0, cap=30.0)
        while True:
            try:
                await loop.run_in_executor(one_thread, handler, *args)
                outage.clear()
                return
            except DomainError as refused:
                log.info("saga skipped a message: %s", refused)
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                outage.set()
                wait = backoff.next()
                log.warning(
                    "saga step failed (%s: %s); retrying in %.0f s",
                    type(error).__name__,
                    error,
                    wait,
                )
                await asyncio.sleep(wait)

    async def handle(event: faust.EventT, react: Callable[[bytes], None]) -> None:
        """React to one message; one that cannot be handled is dead-lettered and passed."""
        message = event.message
        try:
            await call(react, message.value)
        except Exception as error:
            log.exception(
                "saga cannot handle %s[%d]@%d", message.topic, message.partition, message.offset
            )
            try:
                await call(
                    letters.send_raw,
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    type(error).__name__,
                    str(error),
                )
            except Exception:
                log.exception(
                    "dead-lettering %s[%d]@%d failed",
                    message.topic,
                    message.partition,
                    message.offset,
                )

    def on_event(value: bytes) -> None:
        saga.on_event(Envelope.from_bytes(value))

    def on_result(value: bytes) -> None:
        saga.on_result(UnitResult.model_validate_json(value))

    @app.agent(events)
    async def on_production_events(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handle(event, on_event)

    @app.agent(results)
    async def on_results(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handle(event, on_result)

    @app.timer(interval=heartbeat.EVERY)
    async def alive() -> None:
        """The saga's sign of life for its supervisor: its event loop runs, and no outage holds
        it up."""
        if not outage.is_set():
            heartbeat.beat()

    @app.timer(interval=RECONCILE_SECONDS)
    async def reconcile() -> None:
        """Every active production, looked up in the read model, is reconciled; a failed round
        (the database away) is logged, and the next one tries again."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(one_thread, lambda: reconcile_each(saga, active()))
            outage.clear()
        except Exception as error:
            if is_transient(error):
                outage.set()
            log.warning("reconciliation round failed (%s: %s)", type(error).__name__, error)

    return app
