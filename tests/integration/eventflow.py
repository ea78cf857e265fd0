"""Helpers for the relay and projection tests: an isolated installation, commands, consumption."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from adapters.eventstore import EventStore
from adapters.keystore import KeyStore
from adapters.postgres import connection_pool
from adapters.relay import Relay
from adapters.settings import PROJECT_ROOT, Settings
from commands.handlers import Studio
from domain.production import ProductionOptions
from schemas.envelope import Envelope

SCRIPT = "INT. HOUSE - DAY\n\nMEERA\nLight the lamp.\n"


@contextmanager
def command_side(settings: Settings) -> Iterator[Studio]:
    with connection_pool(settings, max_size=4, name="test-commands") as pool:
        keys = KeyStore(pool, settings.secret("master_key"))
        keys.ensure_schema()
        store = EventStore(settings, keys)
        try:
            yield Studio(settings, store, keys)
        finally:
            store.close()


@contextmanager
def running(target: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run ``target(stop)`` in a thread for the block; re-raise what it raised."""
    stop = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            target(stop)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive(), "the thread did not stop"
    if failure:
        raise failure[0]


@contextmanager
def relay_thread(settings: Settings, store: EventStore) -> Iterator[Relay]:
    relay = Relay(settings, store)
    with running(relay.run):
        yield relay


def relay_process(settings: Settings, log: str) -> subprocess.Popen[bytes]:
    """``filmstudio relay`` as its own process (``python -m filmstudio.cli relay``)."""
    env = {
        **os.environ,
        "FILMSTUDIO_TOPIC_PREFIX": settings.topic_prefix,
        "FILMSTUDIO_PG_DATABASE": settings.pg_database,
        "PYTHONUNBUFFERED": "1",
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "filmstudio.cli", "relay"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@dataclass
class Creator:
    user_id: UUID
    projects: list[UUID]


def creators(studio: Studio, count: int, credits: int = 10_000) -> list[Creator]:
    """Creators with credits and one scripted project each."""
    found = []
    for n in range(count):
        user_id, _ = studio.register(
            f"c{n}-{secrets.token_hex(3)}@example.com", "pw-pw-pw-pw", f"Creator {n}"
        )
        studio.grant_credits(user_id, credits, "welcome", source="purchase")
        project_id, _ = studio.create_project(user_id, f"Film {n}", "en", "16:9")
        studio.revise_script(user_id, project_id, "fountain", SCRIPT)
        found.append(Creator(user_id, [project_id]))
    return found


def burst(
    studio: Studio,
    people: list[Creator],
    commands: int,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Issue a mix of commands (``progress(n)`` before the n-th); returns the last position."""
    rng = random.Random(seed)
    position = 0
    for n in range(commands):
        if progress is not None:
            progress(n)
        who = rng.choice(people)
        project = rng.choice(who.projects)
        choice = n % 6
        if choice == 0:
            project, position = studio.create_project(who.user_id, f"P{n}", "hi", "9:16")
            studio.revise_script(who.user_id, project, "plain", f"Scene {n}.")
            who.projects.append(project)
        elif choice == 1:
            position = studio.grant_credits(who.user_id, rng.randint(1, 50), f"gift {n}")
        elif choice in (2, 3):
            position = studio.revise_script(who.user_id, project, "plain", f"Take {n}.")[1]
        elif choice == 4:
            requested = studio.request_production(who.user_id, project, ProductionOptions())
            position = requested.position
        else:
            position = studio.change_project_settings(who.user_id, project, title=f"T{n}")
    return position


def consume_events(
    settings: Settings, timeout: float = 30.0
) -> list[tuple[str, int, int, bytes, Envelope]]:
    """Every committed event message: (topic, partition, offset, key, envelope), in offset order
    per partition."""
    topics = settings.topics.all_events
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}.test-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t in topics
            for p in metadata.topics[t].partitions
        ]
        consumer.assign(partitions)
        pending = {(tp.topic, tp.partition) for tp in partitions}
        found = []
        while pending:
            message = consumer.poll(timeout)
            assert message is not None, f"no end of partition reached for {pending}"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                pending.discard((message.topic(), message.partition()))
                continue
            found.append(
                (
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    message.key(),
                    Envelope.from_bytes(message.value()),
                )
            )
        return found
    finally:
        consumer.close()


def assert_exactly_once_in_order(settings: Settings, store: EventStore) -> int:
    """Every stored event is on its topic once, keyed by its aggregate, in aggregate order."""
    notifications = store.recorder.select_notifications(start=None, limit=1_000_000)
    messages = consume_events(settings)
    ids = [m[4].event_id for m in messages]
    duplicates = len(ids) - len(set(ids))
    assert duplicates == 0, f"{duplicates} events published more than once"
    stored = {(n.originator_id, n.originator_version): n.id for n in notifications}
    published = {(m[4].aggregate.id, m[4].aggregate.sequence): m[4].position for m in messages}
    assert published == stored, (
        f"{len(set(stored) - set(published))} stored events missing, "
        f"{len(set(published) - set(stored))} unknown published"
    )
    placement: dict[UUID, set[tuple[str, int]]] = defaultdict(set)
    sequences: dict[UUID, list[int]] = defaultdict(list)
    by_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
    for topic, partition, _offset, key, envelope in messages:
        assert topic == settings.topics.events(envelope.aggregate.type)
        assert key == str(envelope.aggregate.id).encode()
        placement[envelope.aggregate.id].add((topic, partition))
        sequences[envelope.aggregate.id].append(envelope.aggregate.sequence)
        by_partition[(topic, partition)].append(envelope.position)
    assert all(len(p) == 1 for p in placement.values()), "an aggregate spans partitions"
    for aggregate, seqs in sequences.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{aggregate} out of order: {seqs}"
    for partition, positions in by_partition.items():
        assert positions == sorted(positions), f"{partition} not in notification order"
    return len(messages)
