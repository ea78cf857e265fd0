"""The relay's progress record: the last notification it published and the offsets it reached.

One record per relay transaction on ``settings.topics.relay_position`` (key ``b"relay"``), written
in the same Kafka transaction as the events it covers, so a committed record is always true.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from adapters import kafka
from adapters.settings import Settings

RELAY_KEY = b"relay"
_ELECTING = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


@dataclass(frozen=True)
class RelayPosition:
    """``offsets`` maps ``"<topic>:<partition>"`` to the last offset written there, cumulatively."""

    position: int = 0
    offsets: dict[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps({"position": self.position, "offsets": self.offsets}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RelayPosition:
        raw: dict[str, Any] = json.loads(data)
        return cls(int(raw["position"]), {k: int(v) for k, v in raw.get("offsets", {}).items()})


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def read_last_position(settings: Settings, timeout: float = 30.0) -> RelayPosition:
    """The last committed record on the position topic (none yet: position 0).

    Call it after ``init_transactions()``: the relay's own unfinished transaction is then aborted,
    so reading to the end (read_committed) finds the last record that was really committed.
    """
    consumer = kafka.consumer(
        settings,
        settings.topics.group("relay.position-reader"),
        **{"enable.partition.eof": True, "fetch.wait.max.ms": 20},
    )
    try:
        topic = settings.topics.relay_position
        low, high = _watermarks(consumer, TopicPartition(topic, 0), timeout)
        window = 64
        start = high
        while start > low:
            start = max(low, start - window)
            found = _last_record(consumer, TopicPartition(topic, 0, start), timeout)
            if found is not None:
                return found
            window *= 4
        return RelayPosition()
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout: float) -> tuple[int, int]:
    """The partition's low and high watermarks, retried while its leader is being elected."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            transient = error.retriable() or error.code() in _ELECTING
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _last_record(consumer: Consumer, start: TopicPartition, timeout: float) -> RelayPosition | None:
    """Read from ``start`` to the end of the partition; the last relay record seen."""
    consumer.assign([start])
    last: RelayPosition | None = None
    while True:
        message = consumer.poll(timeout)
        if message is None:
            raise TimeoutError("no answer from Kafka while reading the relay position")
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return last
            raise RuntimeError(f"reading the relay position failed: {error}")
        if message.key() == RELAY_KEY and (value := message.value()) is not None:
            last = RelayPosition.from_bytes(value)
