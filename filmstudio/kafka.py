"""Kafka client settings every studio producer and consumer shares."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer

from filmstudio.settings import Settings


def producer(settings: Settings, **extra: Any) -> Producer:
    """Idempotent, acks=all, and murmur2 partitioning like Java and faust clients."""
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            **extra,
        }
    )


def consumer(settings: Settings, group: str, **extra: Any) -> Consumer:
    """Committed reads only, offsets committed by the caller after its work is done."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 10_000,
            **extra,
        }
    )


def delivery_error(errors: list[str]) -> Any:
    """An on_delivery callback that collects failures, for a flush-then-check producer."""

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    return delivered
