"""The topic catalogue (one place, as data) and its idempotent creation on the broker."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from adapters.settings import AGGREGATE_TOPICS, Settings
from domain.stages import STAGES
from schemas.work import MODEL_STAGES, work_topic

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    """One topic, named relative to the prefix (``events.user`` -> ``studio.events.user``)."""

    name: str
    key: str
    purpose: str
    retention_ms: int
    partitions: int | None = None  # None: ``settings.topic_partitions``
    cleanup_policy: str = "delete"

    def full_name(self, settings: Settings) -> str:
        return settings.topic(self.name)

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


CATALOGUE: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(f"events.{agg}", "aggregate id", f"{agg} event envelopes", FOREVER)
        for agg in AGGREGATE_TOPICS
    ),
    *(TopicSpec(f"work.{stage}", "unit id", f"{stage} work units", 7 * DAY_MS) for stage in STAGES),
    *(
        TopicSpec(
            work_topic(stage, "model"), "unit id", f"{stage} model units (GPU pool)", 7 * DAY_MS
        )
        for stage in MODEL_STAGES
    ),
    *(
        TopicSpec(
            f"work.{stage}.dlq", "unit id", f"{stage} units that failed every attempt", 28 * DAY_MS
        )
        for stage in STAGES
    ),
    TopicSpec("work.results", "production id", "unit outcomes from the workers", 7 * DAY_MS),
    TopicSpec("progress", "production id", "ephemeral progress ticks for live UIs", 6 * HOUR_MS),
    TopicSpec(
        "relay.position",
        "relay name",
        "the relay's last published notification id",
        FOREVER,
        partitions=1,
        cleanup_policy="compact",
    ),
)


def _admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap})


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the missing catalogue topics and align configs of existing ones; returns created."""
    admin = _admin(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = {spec.full_name(settings): spec for spec in CATALOGUE}
    new = [
        NewTopic(
            name,
            spec.partitions or settings.topic_partitions,
            settings.topic_replication,
            config=spec.config(),
        )
        for name, spec in wanted.items()
        if name not in existing
    ]
    created = []
    for name, future in admin.create_topics(new, request_timeout=timeout).items() if new else ():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:  # created concurrently by someone else: fine
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    _align_configs(admin, [(n, s) for n, s in wanted.items() if n in existing], timeout)
    _wait_until_led(admin, list(wanted), timeout)
    return created


def _wait_until_led(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Return once every topic is in the metadata with a leader for each partition: a fresh
    broker answers "unknown topic" for a while after creating one, and clients subscribing then
    would only look again at their next metadata refresh."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        waiting = [
            name
            for name in names
            if name not in topics
            or topics[name].error is not None
            or not topics[name].partitions
            or any(p.leader < 0 for p in topics[name].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KafkaException(f"topics without a leader after {timeout} s: {waiting}")
        time.sleep(0.1)


def _align_configs(admin: AdminClient, topics: list[tuple[str, TopicSpec]], timeout: float) -> None:
    """Set the catalogue's configs on existing topics where they differ."""
    if not topics:
        return
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name, _ in topics]
    described = admin.describe_configs(resources, request_timeout=timeout)
    changes = []
    for (name, spec), resource in zip(topics, resources, strict=True):
        current = described[resource].result()
        drift = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in spec.config().items()
            if current[k].value != v
        ]
        if drift:
            changes.append(
                ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=drift)
            )
    for future in admin.incremental_alter_configs(changes).values() if changes else ():
        future.result()


def delete_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Delete this prefix's catalogue topics (for throw-away test prefixes)."""
    admin = _admin(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = [s.full_name(settings) for s in CATALOGUE if s.full_name(settings) in existing]
    for future in admin.delete_topics(names, request_timeout=timeout).values() if names else ():
        future.result()
