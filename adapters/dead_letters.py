"""Dead letters: a message a consumer cannot handle is published, with the reason, to
`<prefix>.dead_letters` and counted, so the consumer can commit past it and go on."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter

from adapters.bus import MessageBus
from schemas.dead_letters import ConsumerDeadLetter

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "studio_dead_letters",
    "Messages a consumer could not handle and dead-lettered",
    ["group", "topic", "error_type"],
)
ERROR_CHARS = 2000


class Received(Protocol):
    """What is needed of a consumed message (confluent-kafka's Message has it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> str | bytes | None: ...
    def value(self) -> str | bytes | None: ...


def letter(
    group: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    value: bytes | str | None,
    error_type: str,
    error: str,
) -> ConsumerDeadLetter:
    """The dead letter of one message and why it could not be handled."""
    raw = value.encode() if isinstance(value, str) else value or b""
    return ConsumerDeadLetter(
        group=group,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace") if isinstance(key, bytes) else key,
        value_base64=base64.b64encode(raw).decode(),
        error_type=error_type,
        error=error[:ERROR_CHARS],
        at=datetime.now(UTC),
    )


class DeadLetters:
    """Publishes the dead letters of one consumer group to one topic."""

    def __init__(self, bus: MessageBus, topic: str, group: str) -> None:
        self.bus = bus
        self.topic = topic
        self.group = group

    def send(self, message: Received, error: BaseException) -> ConsumerDeadLetter:
        """Dead-letter a consumed message for ``error``; returns once the broker has it."""
        return self.send_reason(message, type(error).__name__, str(error))

    def send_reason(self, message: Received, error_type: str, reason: str) -> ConsumerDeadLetter:
        return self.send_raw(
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
            message.key(),
            message.value(),
            error_type,
            reason,
        )

    def send_raw(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | str | None,
        value: bytes | str | None,
        error_type: str,
        reason: str,
    ) -> ConsumerDeadLetter:
        """Dead-letter a message given by its place and bytes (a consumer without Message
        objects, e.g. faust's)."""
        dead = letter(self.group, topic, partition, offset, key, value, error_type, reason)
        self.bus.publish(self.topic, self.group, dead.to_bytes())
        DEAD_LETTERS.labels(self.group, topic, error_type).inc()
        log.error(
            "%s dead-lettered %s[%d]@%d: %s: %s",
            self.group,
            topic,
            partition,
            offset,
            error_type,
            dead.error[:300],
        )
        return dead
