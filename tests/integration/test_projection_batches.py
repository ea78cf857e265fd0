"""Batched apply gives exactly the read models that one message at a time gives: the same event
stream (with republished duplicates and poison messages among it) replayed both ways."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from psycopg import sql

from adapters import kafka
from adapters.postgres import connection_pool
from adapters.settings import Settings
from domain.production import ProductionOptions
from projections import state
from projections.readmodels import ReadModelProjection
from projections.replay import replay
from projections.runner import ProjectionRunner
from schemas.envelope import AggregateRef, Envelope
from tests.integration.eventflow import (
    SCRIPT,
    burst,
    command_side,
    consume_events,
    creators,
    relay_thread,
)
from tests.integration.test_dead_letters import dead_letters


def dump(pool) -> dict[str, list[tuple]]:
    with pool.connection() as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ReadModelProjection.tables
        }


def event_ids(settings: Settings) -> set[uuid.UUID]:
    """The ids of the studio's events on the topics (not the poison, nor the duplicates)."""
    found = set()
    for topic in settings.topics.all_events:
        for value in kafka_values(settings, topic):
            try:
                envelope = Envelope.from_bytes(value)
            except ValueError:
                continue
            if envelope.correlation_id != "poison":
                found.add(envelope.event_id)
    return found


def kafka_values(settings: Settings, topic: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        values, pending = [], set(partitions)
        while pending:
            message = consumer.poll(10)
            assert message is not None, f"no end of {topic} reached"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF
                pending.discard(message.partition())
            else:
                values.append(message.value())
        return values
    finally:
        consumer.close()


def relayed(settings: Settings, studio, timeout: float = 60.0) -> set[uuid.UUID]:
    """Every event the store holds, once the relay has published it; their ids."""
    table = studio.store.recorder.events_table_name
    with psycopg.connect(settings.pg_conninfo) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        recorded = row.fetchone()[0]
    deadline = time.monotonic() + timeout
    while len(ids := event_ids(settings)) < recorded:
        assert time.monotonic() < deadline, "the relay did not publish every event"
        time.sleep(0.2)
    return ids


def test_batches_give_the_same_read_models_as_one_message_at_a_time(
    isolated_settings: Callable[[], Settings],
):
    settings = isolated_settings()
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=4, name="test-batches") as pool,
    ):
        with relay_thread(settings, studio.store):
            people = creators(studio, 3)
            burst(studio, people[:2], 60)
            alice, bob, gone = (p.user_id for p in people)
            studio.change_profile(alice, "Alice A.")
            studio.verify_email(alice)
            project = people[0].projects[0]
            production = studio.request_production(alice, project, ProductionOptions())
            studio.cancel_production(alice, production.production_id, "changed my mind")
            doomed, _ = studio.create_project(gone, "Soon gone", "en", "1:1")
            studio.revise_script(gone, doomed, "fountain", SCRIPT)
            studio.erase_user(gone)
            relayed(settings, studio)
        events = consume_events(settings)

        # republished duplicates and poison, then more events after them
        producer = Producer(  # the relay's partitioner: each copy lands in its original's partition
            {"bootstrap.servers": settings.kafka_bootstrap, "partitioner": "murmur2_random"}
        )
        for topic, _, _, key, envelope in events[::7]:
            producer.produce(topic, key=key, value=envelope.to_bytes(), headers=envelope.headers())
        producer.flush(10)
        topic = settings.topics.events("project")
        kafka.send(kafka.producer(settings), topic, str(project), b"{not json")
        nul = Envelope(
            event_id=uuid.uuid4(),
            type="project.ScriptRevised",
            version=1,
            aggregate=AggregateRef(type="project", id=project, sequence=1000),
            position=1,
            occurred_at=datetime.now(UTC),
            correlation_id="poison",
            causation_id="poison",
            actor="test",
            payload={"revision": 99, "script_format": "plain", "text": "nul \x00 byte"},
        )
        kafka.send(kafka.producer(settings), topic, str(project), nul.to_bytes())
        with relay_thread(settings, studio.store):
            burst(studio, people[:2], 30, seed=11)
            studio.grant_credits(bob, 5, "after the poison")
            studio.change_project_settings(alice, project, title="After the poison")
            every = relayed(settings, studio)

        def rebuild(batch_size: int) -> tuple[dict[str, list[tuple]], int, int]:
            runner = ProjectionRunner(
                settings, pool, ReadModelProjection(studio.keys), batch_size=batch_size
            )
            result = replay(runner, timeout=120)
            with pool.connection() as conn:
                position = state.state(conn, "readmodels")[0]
            return dump(pool), result.applied, position

        one_by_one = rebuild(1)
        batched = rebuild(5000)  # the poison in the middle of a batch
        small_batches = rebuild(7)

    assert batched == one_by_one
    assert small_batches == one_by_one
    tables, applied, _ = batched
    assert applied == len(every)
    assert tables["rm_projects"] and tables["rm_credit_ledger"] and tables["rm_productions"]
    del tables["rm_erased_users"]
    assert not any(gone in row for rows in tables.values() for row in rows)
    letters = dead_letters(settings, 4)
    assert [d.value for d in letters[::2]] == [b"{not json", nul.to_bytes()]
