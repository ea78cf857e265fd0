"""Where processors put the messages they emit: Kafka in the studio, a list in unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Producer

from adapters import kafka


class MessageBus(Protocol):
    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Deliver one message; returns once it is stored (raises when it cannot be)."""

    def publish_soon(self, topic: str, key: str, value: bytes) -> None:
        """Send one message nobody must wait for (a progress tick): best effort."""


class KafkaBus:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer

    def publish(self, topic: str, key: str, value: bytes) -> None:
        kafka.send(self.producer, topic, key, value)

    def publish_soon(self, topic: str, key: str, value: bytes) -> None:
        self.producer.produce(topic, key=key, value=value)
        self.producer.poll(0)


@dataclass(frozen=True)
class Published:
    topic: str
    key: str
    value: bytes


@dataclass
class InMemoryBus:
    """Keeps every message, in order, for a test to read."""

    messages: list[Published] = field(default_factory=list)

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.messages.append(Published(topic, key, value))

    def publish_soon(self, topic: str, key: str, value: bytes) -> None:
        self.messages.append(Published(topic, key, value))

    def on(self, topic: str) -> list[Published]:
        return [m for m in self.messages if m.topic == topic]
