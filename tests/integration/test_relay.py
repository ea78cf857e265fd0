"""The relay against the real broker and database: exactly once, in order, through crashes."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from confluent_kafka import KafkaException, Producer

from adapters.relay import Relay
from adapters.relay_position import read_last_position
from adapters.settings import Settings
from tests.integration.eventflow import (
    assert_exactly_once_in_order,
    burst,
    command_side,
    creators,
    relay_process,
    relay_thread,
    running,
)


@pytest.fixture()
def settings(isolated_settings: Callable[[], Settings]) -> Settings:
    """A fresh installation per test: its own database and topics."""
    return isolated_settings()


def wait_published(settings: Settings, position: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while read_last_position(settings).position < position:
        assert time.monotonic() < deadline, f"the relay did not reach position {position}"
        time.sleep(0.05)


def active_relays(settings: Settings) -> list[str]:
    """application_name of the sessions holding the relay lock (``<prefix>.relay:<pid>``)."""
    with psycopg.connect(settings.pg_conninfo) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
        ).fetchall()
    return [r[0] for r in rows]


def test_every_event_is_published_once_in_aggregate_order(settings):
    with command_side(settings) as studio:
        people = creators(studio, 3)
        burst(studio, people, 30)  # recorded before the relay starts: the backlog
        with relay_thread(settings, studio.store) as relay:
            wait_published(settings, studio.store.last_position())
            position = burst(studio, people, 30, seed=8)  # recorded while it tails the store
            wait_published(settings, position)
            assert relay.active.is_set()
        count = assert_exactly_once_in_order(settings, studio.store)
        assert count == relay.published > 80


def test_a_restarted_relay_resumes_after_its_last_committed_batch(settings):
    with command_side(settings) as studio:
        people = creators(studio, 2)
        with relay_thread(settings, studio.store) as first:
            wait_published(settings, studio.store.last_position())
        position = burst(studio, people, 20)
        later = studio.store.recorder.select_notifications(
            start=first.position.position, limit=10_000, inclusive_of_start=False
        )
        with relay_thread(settings, studio.store) as second:
            wait_published(settings, position)
        assert second.published == len(later) > 0  # nothing republished, nothing skipped
        assert_exactly_once_in_order(settings, studio.store)


def test_a_second_relay_stands_by_and_takes_over(settings):
    with command_side(settings) as studio:
        people = creators(studio, 2)
        first = Relay(settings, studio.store)
        with running(first.run) as stop_first:
            assert first.active.wait(20)
            with relay_thread(settings, studio.store) as second:
                wait_published(settings, burst(studio, people, 10))
                assert not second.active.is_set() and second.published == 0
                assert len(active_relays(settings)) == 1
                stop_first.set()  # the active relay goes away
                assert second.active.wait(10), "the standby did not take over"
                wait_published(settings, burst(studio, people, 10, seed=9))
                assert second.published > 0
        assert_exactly_once_in_order(settings, studio.store)


def test_a_fenced_relay_stops_and_its_successor_publishes_each_event_once(settings):
    with command_side(settings) as studio:
        people = creators(studio, 2)
        zombie = Relay(settings, studio.store)
        with pytest.raises(KafkaException) as fenced, running(zombie.run):
            wait_published(settings, studio.store.last_position())
            successor = Producer(
                {"bootstrap.servers": settings.kafka_bootstrap, "transactional.id": zombie.name}
            )
            successor.init_transactions(30)  # what a new relay does first: fences the old one
            burst(studio, people, 5)
            deadline = time.monotonic() + 30
            while zombie.active.is_set():
                assert time.monotonic() < deadline, "the fenced relay kept going"
                time.sleep(0.05)
        assert fenced.value.args[0].fatal()
        with relay_thread(settings, studio.store):
            wait_published(settings, studio.store.last_position())
        assert_exactly_once_in_order(settings, studio.store)


def test_relays_killed_mid_burst_leave_every_event_once_and_in_order(settings, tmp_path):
    log = tmp_path / "relay.log"
    with command_side(settings) as studio:
        people = creators(studio, 4)
        relays = [relay_process(settings, str(log)), relay_process(settings, str(log))]
        wait_published(settings, studio.store.last_position())
        kill_points = {100: threading.Event(), 200: threading.Event()}
        done = threading.Event()
        last = []

        def commands() -> None:
            last.append(burst(studio, people, 400, progress=lambda n: _reached(kill_points, n)))
            done.set()

        writer = threading.Thread(target=commands, daemon=True)
        writer.start()
        try:
            for point in kill_points.values():  # kill -9 the active relay; the standby takes over
                assert point.wait(60)
                published_before = read_last_position(settings).position
                victim = next(p for p in relays if p.pid == _active_pid(settings, timeout=10))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                assert not done.is_set(), "the burst ended before the relay was killed"
                assert published_before > 0
                relays.remove(victim)
                relays.append(relay_process(settings, str(log)))  # a fresh standby
            writer.join(120)
            assert done.is_set()
            wait_published(settings, last[0], timeout=60)
            _wait_connected(settings, {p.pid for p in relays})  # signal handlers are installed
        finally:
            for process in relays:
                process.terminate()
            codes = [p.wait(20) for p in relays]
        assert codes == [0, 0], log.read_text()[-3000:]  # SIGTERM: a clean exit
        assert_exactly_once_in_order(settings, studio.store)


def _wait_connected(settings: Settings, pids: set[int], timeout: float = 30) -> None:
    """Until every relay process holds its lock session (active or standby): it is running."""
    prefix = f"{settings.topic_prefix}.relay:"
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(settings.pg_conninfo) as conn:
            names = conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE %s",
                (prefix + "%",),
            ).fetchall()
        if pids <= {int(name.removeprefix(prefix)) for (name,) in names}:
            return
        assert time.monotonic() < deadline, "the relays did not start"
        time.sleep(0.05)


def _reached(points: dict[int, threading.Event], n: int) -> None:
    if n in points:
        points[n].set()


def _active_pid(settings: Settings, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        holders = active_relays(settings)
        if holders:
            assert len(holders) == 1, holders
            return int(holders[0].rsplit(":", 1)[1])
        assert time.monotonic() < deadline, "no relay holds the lock"
        time.sleep(0.05)
