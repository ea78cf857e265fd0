"""The composition root: every process's adapters are built here, from settings, and nowhere else.

`api_app` (uvicorn's factory: `uvicorn --factory filmstudio.bootstrap:api_app`), `saga_app`,
`stage_workers`, `projection_runner` and `run_relay` wire the studio's processes on PostgreSQL and
Kafka; the CLIs in `filmstudio/` only call them. `in_memory` wires the write side and the saga
with no service at all (an in-memory event store, key store and bus), for unit tests.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from uuid import UUID

import faust
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from adapters import relay
from adapters.account_tokens import AccountTokens
from adapters.billing_index import SCHEMA as BILLING_SCHEMA
from adapters.billing_index import PostgresBillingIndex
from adapters.bus import InMemoryBus, KafkaBus
from adapters.dead_letters import DeadLetters
from adapters.eventstore import EventStore
from adapters.kafka import producer
from adapters.keystore import SCHEMA as KEYSTORE_SCHEMA
from adapters.keystore import KeyStore
from adapters.mailer import mailer
from adapters.media import LocalMediaStore
from adapters.metadata import message_context
from adapters.postgres import connection_pool
from adapters.s3_media import S3MediaStore, s3_media_store
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings, get_settings
from adapters.stripe_gateway import StripeGateway
from adapters.youtube import YouTubeOAuth
from adapters.youtube_store import SCHEMA as YOUTUBE_SCHEMA
from adapters.youtube_store import YouTubeStore
from api.app import create_app as create_api
from api.auth import Tokens
from api.deps import Services
from api.idempotency import SCHEMA as IDEMPOTENCY_SCHEMA
from api.idempotency import IdempotencyStore
from api.queries import ReadModels
from api.ratelimit import SCHEMA as RATE_LIMIT_SCHEMA
from api.ratelimit import RateLimits
from commands.billing import Billing, PaymentGateway
from commands.handlers import Studio
from commands.pipeline import Pipeline
from commands.publishing import Publishing
from domain.stages import FINAL_QUALITY_STAGES, STAGES, Quality
from gpu_consumers.worker import BatchCompute, StageWorker, one_by_one
from processors.app import create_app as create_saga_app
from processors.publisher import Publisher
from processors.saga import ACTIVE_SQL, ProductionSaga
from projections import analytics
from projections.base import Projection
from projections.mail_sender import Composer, MailSender
from projections.notifications import SCHEMA as NOTIFICATIONS_SCHEMA
from projections.notifications import NotificationsProjection
from projections.readmodels import ReadModelProjection
from projections.runner import ProjectionRunner
from projections.salesforce_sender import SalesforceSender
from projections.salesforce_sync import SCHEMA as SALESFORCE_SCHEMA
from projections.salesforce_sync import SalesforceProjection
from projections.schema import SCHEMA as READ_MODEL_SCHEMA
from projections.state import ensure_schema
from schemas.envelope import Envelope

log = logging.getLogger(__name__)

# The media store


def media_store(settings: Settings) -> LocalMediaStore | S3MediaStore:
    """The artifacts' store the settings choose: the local folder or an S3 bucket."""
    if settings.media_store == "s3":
        return s3_media_store(settings)
    return LocalMediaStore(settings.media_root)


# The API


def payment_gateway(settings: Settings) -> PaymentGateway | None:
    """Stripe (or its stand-in) when an API key is configured; else None: no billing."""
    if settings.stripe_api_key is None:
        return None
    return StripeGateway.from_settings(settings)


def account_tokens(settings: Settings) -> AccountTokens:
    """The signer of e-mailed links (verify, reset, unsubscribe): the API and the mailer."""
    return AccountTokens(
        settings.secret("account_token_secret"),
        settings.verify_token_ttl_seconds,
        settings.reset_token_ttl_seconds,
    )


def youtube_oauth(settings: Settings) -> YouTubeOAuth | None:
    """Google's OAuth client (or its stand-in's) when a YouTube client is configured."""
    if settings.youtube_client_id is None or settings.youtube_client_secret is None:
        return None
    return YouTubeOAuth(settings)


def api_services(settings: Settings) -> Services:
    """What the API's routes use: the command side on PostgreSQL, read models, tokens."""
    pool = connection_pool(settings, max_size=16, name="api")
    with pool.connection() as conn:
        ensure_schema(
            conn,
            KEYSTORE_SCHEMA,
            IDEMPOTENCY_SCHEMA,
            RATE_LIMIT_SCHEMA,
            READ_MODEL_SCHEMA,
            BILLING_SCHEMA,
            YOUTUBE_SCHEMA,
        )
    keys = KeyStore(pool, settings.secret("master_key"), settings.api_key_cache_seconds)
    media = media_store(settings)
    store = EventStore(settings, keys, cache_size=settings.api_aggregate_cache_size)
    studio = Studio(settings, store, keys, media)
    if isinstance(media, S3MediaStore):
        media.ensure_lifecycle(settings.s3_inputs_expire_days)
        studio.outside_erasers.append(media.delete_uploads)  # what they PUT but never sent on
    billing = Billing(studio, PostgresBillingIndex(pool), payment_gateway(settings))
    studio.outside_erasers.append(billing.forget_customer)
    publishing = Publishing(studio, YouTubeStore(pool), youtube_oauth(settings))
    studio.outside_erasers.append(publishing.forget_connection)
    with message_context(actor="system:startup"):
        studio.ensure_admin(settings.admin_email, settings.secret("admin_password"))
        for user_id in studio.resume_erasures():  # what a crash interrupted
            log.info("finished the erasure of user %s", user_id)
    return Services(
        settings=settings,
        studio=studio,
        pool=pool,
        reads=ReadModels(pool),
        idempotency=IdempotencyStore(pool),
        tokens=Tokens(settings.secret("jwt_secret"), settings.token_ttl_seconds),
        rate_limits=RateLimits(pool, settings.rate_window_seconds),
        account_tokens=account_tokens(settings),
        billing=billing,
        media=media,
        publishing=publishing,
    )


def api_app() -> FastAPI:
    """uvicorn's factory: the API of the environment's settings."""
    return create_api(get_settings(), api_services)


# The saga


def active_productions(pool: ConnectionPool) -> list[UUID]:
    """Productions the read model lists as requested or running: the ones to reconcile."""
    with pool.connection() as conn:
        return [UUID(str(row[0])) for row in conn.execute(ACTIVE_SQL).fetchall()]


def saga_app(settings: Settings) -> faust.App:
    """The saga's faust app: commands on PostgreSQL, work and progress to Kafka."""
    pool = connection_pool(settings, max_size=4, name="saga")
    keys = KeyStore(pool, settings.secret("master_key"))  # opens the scripts it plans from
    saga = ProductionSaga(
        settings,
        Pipeline(settings, EventStore(settings, keys)),
        media_store(settings),
        KafkaBus(producer(settings)),
    )
    return create_saga_app(settings, saga, partial(active_productions, pool))


# The publisher


@contextmanager
def publisher(settings: Settings) -> Iterator[Publisher]:
    """The YouTube publisher on its own pool, closed after the block; ValueError when no
    YouTube client is configured."""
    oauth = youtube_oauth(settings)
    if oauth is None:
        raise ValueError("the publisher needs FILMSTUDIO_YOUTUBE_CLIENT_ID and _CLIENT_SECRET")
    with connection_pool(settings, max_size=2, name="publisher") as pool:
        with pool.connection() as conn:
            ensure_schema(conn, KEYSTORE_SCHEMA, YOUTUBE_SCHEMA)
        keys = KeyStore(pool, settings.secret("master_key"))
        store = EventStore(settings, keys)
        studio = Studio(settings, store, keys, media_store(settings))
        try:
            yield Publisher(settings, Publishing(studio, YouTubeStore(pool), oauth), studio.media)
        finally:
            store.close()
            oauth.close()


# Stage workers


def stage_computes(quality: Quality) -> dict[str, BatchCompute]:
    """Each stage's backend of a quality; imported only when a worker of it starts."""
    if quality == "final":
        from gpu_consumers.final.units import MODEL_COMPUTE  # imports torch and the models

        return MODEL_COMPUTE
    from gpu_consumers.units import COMPUTE  # imports the media backends

    return {stage: one_by_one(compute) for stage, compute in COMPUTE.items()}


def stage_workers(
    settings: Settings, quality: Quality, stages: Sequence[str] = ()
) -> list[StageWorker]:
    """A worker per stage (default: every stage of the quality; draft composition: as many as
    `composition_consumers`) on one media store; ValueError names a stage the quality has no
    backend for."""
    computes = stage_computes(quality)
    unknown = [s for s in stages if s not in computes]
    if unknown:
        raise ValueError(f"the {quality} quality has no backend for {', '.join(unknown)}")
    media = media_store(settings)
    swept = media.sweep_staging()  # what workers killed mid-unit left half-written
    if swept:
        log.info("removed %d stale staging folders", swept)
    consumers = {"composition": settings.composition_consumers} if quality == "draft" else {}
    return [
        StageWorker(
            settings,
            stage,
            computes[stage],
            media,
            quality=quality,
            batch_size=settings.image_batch if stage == "image_generation" else 1,
        )
        for stage in stages or (FINAL_QUALITY_STAGES if quality == "final" else STAGES)
        for _ in range(consumers.get(stage, 1))
    ]


# Projections and the relay


def _readmodels(settings: Settings, pool: ConnectionPool) -> Projection:
    return ReadModelProjection(KeyStore(pool, settings.secret("master_key")))


PROJECTIONS: dict[str, Callable[[Settings, ConnectionPool], Projection]] = {
    "readmodels": _readmodels,
    "notifications": lambda settings, pool: NotificationsProjection(
        timedelta(hours=settings.mail_max_event_age_hours)
    ),
    "analytics": analytics.create,
    "salesforce": lambda settings, pool: SalesforceProjection(),
}


@contextmanager
def projection_runner(
    settings: Settings, name: str, purpose: str = "projection"
) -> Iterator[ProjectionRunner]:
    """The runner of projection `name` on its own pool, closed after the block."""
    with connection_pool(settings, max_size=4, name=f"{purpose}-{name}") as pool:
        yield ProjectionRunner(settings, pool, PROJECTIONS[name](settings, pool))


@contextmanager
def notification_sender(settings: Settings) -> Iterator[MailSender]:
    """The sender of the notifications projection's outbox (SendGrid, or .eml files when no
    key is set), on its own pool, closed after the block."""
    with connection_pool(settings, max_size=2, name="mail-sender") as pool:
        with pool.connection() as conn:
            ensure_schema(conn, KEYSTORE_SCHEMA, NOTIFICATIONS_SCHEMA)
        keys = KeyStore(pool, settings.secret("master_key"))
        group = settings.topics.group("notifications.mail")
        yield MailSender(
            settings,
            pool,
            Composer(settings, keys, account_tokens(settings)),
            mailer(settings),
            lambda: DeadLetters(
                KafkaBus(producer(settings)), settings.topics.dead_letters(), group
            ),
        )


@contextmanager
def salesforce_sender(settings: Settings) -> Iterator[SalesforceSender]:
    """The sender of the Salesforce projection's records to the org the settings name, on its
    own pool, closed after the block."""
    with connection_pool(settings, max_size=2, name="salesforce-sender") as pool:
        with pool.connection() as conn:
            ensure_schema(conn, KEYSTORE_SCHEMA, SALESFORCE_SCHEMA)
        group = settings.topics.group("salesforce.sender")
        sender = SalesforceSender(
            settings,
            pool,
            KeyStore(pool, settings.secret("master_key")),
            partial(SalesforceClient, settings),
            lambda: DeadLetters(
                KafkaBus(producer(settings)), settings.topics.dead_letters(), group
            ),
        )
        try:
            yield sender
        finally:
            sender.close()


def run_relay(settings: Settings, stop: threading.Event) -> None:
    """The relay on the PostgreSQL event store, publishing to Kafka until `stop`."""
    store = EventStore(settings)
    try:
        relay.run_relay(settings, store, stop)
    finally:
        store.close()


# In memory, for unit tests


@dataclass
class InMemoryStudio:
    """The command side and the saga wired to in-memory adapters; `bus` keeps what the saga
    published, `media` is a real folder."""

    settings: Settings
    store: EventStore
    keys: KeyStore
    studio: Studio
    pipeline: Pipeline
    bus: InMemoryBus
    saga: ProductionSaga
    media: LocalMediaStore

    def envelopes(self, after: int = 0) -> list[Envelope]:
        """What the relay would publish: every event recorded after notification `after`."""
        notifications = self.store.recorder.select_notifications(
            start=after, limit=1_000_000, inclusive_of_start=False
        )
        return [relay.to_envelope(self.store.mapper, n) for n in notifications]

    def close(self) -> None:
        self.store.close()


def in_memory(settings: Settings, media_dir: Path) -> InMemoryStudio:
    """No Kafka, no PostgreSQL: events and keys live in this process; artifacts under
    `media_dir` and voice samples under `settings.state_dir` are files."""
    master = settings.master_key.get_secret_value() if settings.master_key else None
    keys = KeyStore.in_memory(master or secrets.token_urlsafe(32))
    store = EventStore.in_memory(keys, settings.event_max_bytes)
    media = LocalMediaStore(media_dir)
    pipeline = Pipeline(settings, store)
    bus = InMemoryBus()
    return InMemoryStudio(
        settings=settings,
        store=store,
        keys=keys,
        studio=Studio(settings, store, keys, media),
        pipeline=pipeline,
        bus=bus,
        saga=ProductionSaga(settings, pipeline, media, bus),
        media=media,
    )
