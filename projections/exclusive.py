"""One sender at a time: a loop that drains an outbox while holding a PostgreSQL advisory lock,
so a second process waits as a standby, and that waits outages out with a capped backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from adapters import heartbeat
from adapters.retry import Backoff, is_transient

log = logging.getLogger(__name__)


def hold_lock(
    conn: psycopg.Connection[Any], lock: int, stop: threading.Event, poll_seconds: float
) -> None:
    """Return once `conn` holds the session advisory lock `lock` (or `stop` is set)."""
    while not stop.is_set():
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
        if row and row[0]:
            return
        heartbeat.beat()
        stop.wait(poll_seconds)


def run_exclusively(
    name: str,
    conninfo: str,
    lock: int,
    stop: threading.Event,
    step: Callable[[], int],
    *,
    poll_seconds: float,
    backoff: Backoff,
    on_start: Callable[[], None] = lambda: None,
    wait_out: tuple[type[Exception], ...] = (),
) -> None:
    """Call `step` (how much it did; 0: wait `poll_seconds`) until `stop`, under `lock`.
    `on_start` runs each time the lock is taken. Transient failures and `wait_out` ones (an
    outside service away) are retried after the backoff; any other failure is raised."""
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as lock_conn:
                hold_lock(lock_conn, lock, stop, poll_seconds)
                if stop.is_set():
                    return
                on_start()
                while not stop.is_set():
                    heartbeat.beat()
                    if not step():
                        stop.wait(poll_seconds)
                    backoff.succeeded()
        except Exception as error:
            if not (isinstance(error, wait_out) or is_transient(error)):
                raise
            wait = backoff.next()
            why = (
                f"{type(error).__name__}: {error}"
                if isinstance(error, wait_out)
                else (
                    type(error).__name__  # a driver's message may quote data: the class only
                )
            )
            log.warning("%s: %s; trying again in %.1f s", name, why, wait)
            stop.wait(wait)
