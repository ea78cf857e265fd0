"""Kafka client settings every studio producer and consumer shares."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from adapters.settings import Settings


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


def send(producer: Producer, topic: str, key: str, value: bytes, timeout: float = 30.0) -> None:
    """Produce one message and wait until the broker has it (raises when it does not)."""
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    producer.produce(topic, key=key, value=value, on_delivery=delivered)
    if producer.flush(timeout) or errors:
        raise KafkaException(f"could not deliver to {topic}: {errors or 'timed out'}")
