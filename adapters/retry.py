"""Riding out outages: which errors are transient, and a capped exponential backoff.

A transient error (PostgreSQL restarting, a Kafka broker away) is retried after a wait that
doubles up to a cap; anything else is the message's or the code's fault and is not retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import KafkaError, KafkaException
from eventsourcing.persistence import InterfaceError, OperationalError

# psycopg's OperationalError covers lost connections, admin shutdown, pool timeouts,
# serialization failures and deadlocks; eventsourcing wraps the same as its own classes.
TRANSIENT_DATABASE = (psycopg.OperationalError, psycopg.InterfaceError)
TRANSIENT_STORE = (OperationalError, InterfaceError)
MESSAGE_FAULTS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass by itself: a database or broker outage, not bad data."""
    if isinstance(error, TRANSIENT_DATABASE + TRANSIENT_STORE):
        return True
    if isinstance(error, KafkaException):
        kafka_error = error.args[0] if error.args else None
        if not isinstance(kafka_error, KafkaError):
            return True  # e.g. "could not deliver ... timed out" from adapters.kafka.send
        return kafka_error.code() not in MESSAGE_FAULTS  # fresh clients fix even fatal errors
    return isinstance(error, ConnectionError | TimeoutError)


def retry_delay(attempts: int, initial: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, capped (for a retry
    kept in a row rather than in a running loop, where `Backoff` serves)."""
    return float(min(cap, initial * 2 ** max(0, attempts - 1)))


@dataclass
class Backoff:
    """Waits of ``initial`` seconds, doubling up to ``cap``; back to the first wait once things
    have gone well for ``reset_after`` seconds (``succeeded``) or at once (``reset``)."""

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    reset_after: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    _since: float = field(default=0.0, repr=False)

    def next(self) -> float:
        """The wait before the next try; each call counts one failure."""
        delay = min(self.cap, self.initial * self.factor**self.failures)
        self.failures += 1
        self._since = self.clock()
        return delay

    def succeeded(self) -> None:
        """Things work again; the waits start over once they have worked for ``reset_after``."""
        if self.failures and self.clock() - self._since >= self.reset_after:
            self.failures = 0

    def reset(self) -> None:
        self.failures = 0
