"""A message a consumer cannot handle is dead-lettered with its reason, and the consumer goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from adapters import kafka
from adapters.postgres import connection_pool
from adapters.settings import PROJECT_ROOT, Settings
from filmstudio import bootstrap
from projections.readmodels import ReadModelProjection
from projections.replay import replay
from projections.runner import ProjectionRunner, wait_for_position
from schemas.dead_letters import ConsumerDeadLetter
from schemas.envelope import AggregateRef, Envelope
from tests.integration.conftest import studio_env
from tests.integration.eventflow import command_side, relay_thread, running


def dead_letters(settings: Settings, count: int, timeout: float = 60.0) -> list[ConsumerDeadLetter]:
    """The first ``count`` dead letters of the installation (fails if fewer arrive)."""
    topic = settings.topics.dead_letters()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    letters: list[ConsumerDeadLetter] = []
    try:
        while len(letters) < count:
            message = consumer.poll(timeout)
            assert message is not None, f"only {len(letters)} of {count} dead letters arrived"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF
                continue
            letters.append(ConsumerDeadLetter.model_validate_json(message.value()))
    finally:
        consumer.close()
    return sorted(letters, key=lambda d: (d.topic, d.partition, d.offset))


def script_text(settings: Settings, project: uuid.UUID) -> str | None:
    with psycopg.connect(settings.pg_conninfo) as conn:
        row = conn.execute(
            "SELECT script_text FROM rm_projects WHERE project_id = %s", (project,)
        ).fetchone()
    return None if row is None else row[0]


def send(settings: Settings, topic: str, key: str, value: bytes) -> None:
    kafka.send(kafka.producer(settings), topic, key, value)


def test_the_projection_dead_letters_poison_and_projects_the_next_event(
    isolated_settings: Callable[[], Settings],
):
    settings = isolated_settings()
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=4, name="test-dead-letters") as pool,
        relay_thread(settings, studio.store),
    ):
        runner = ProjectionRunner(settings, pool, ReadModelProjection(studio.keys))
        with running(runner.run):
            owner, _ = studio.register("meera@example.com", "pw-pw-pw-pw", "Meera")
            project, _ = studio.create_project(owner, "The Lamp", "en", "16:9")
            _, position = studio.revise_script(owner, project, "plain", "First draft.")
            assert wait_for_position(pool, "readmodels", position, timeout=30)

            topic = settings.topics.events("project")
            send(settings, topic, str(project), b"{not json")
            nul = Envelope(
                event_id=uuid.uuid4(),
                type="project.ScriptRevised",
                version=1,
                aggregate=AggregateRef(type="project", id=project, sequence=1000),
                position=position,
                occurred_at=datetime.now(UTC),
                correlation_id="poison",
                causation_id="poison",
                actor="test",
                payload={"revision": 99, "script_format": "plain", "text": "nul \x00 byte"},
            )
            send(settings, topic, str(project), nul.to_bytes())
            _, position = studio.revise_script(owner, project, "plain", "After the poison.")
            assert wait_for_position(pool, "readmodels", position, timeout=60), (
                "the projection did not get past the poison messages"
            )
        live = script_text(settings, project)
        replay(runner)  # a rebuild meets the same poison, and gets past it too

    assert live == script_text(settings, project) == "After the poison."
    bad_json, again_json, bad_text, again_text = dead_letters(settings, 4)
    assert (again_json.offset, again_text.offset) == (bad_json.offset, bad_text.offset)
    group = settings.topics.group("projection.readmodels")
    assert (bad_json.group, bad_json.topic, bad_json.key) == (group, topic, str(project))
    assert bad_json.value == b"{not json" and bad_json.error_type == "ValidationError"
    assert bad_text.offset == bad_json.offset + 1
    assert bad_text.error_type and bad_text.error  # e.g. DataError: ... cannot contain NUL ...
    assert json.loads(bad_text.value)["payload"]["text"] == "nul \x00 byte"


def test_the_saga_dead_letters_malformed_results_and_goes_on(
    isolated_settings: Callable[[], Settings], tmp_path: Path
):
    settings = isolated_settings()
    log = tmp_path / "saga.log"
    with log.open("ab") as out:
        saga = subprocess.Popen(
            [sys.executable, "-m", "filmstudio.cli", "saga"],
            env=studio_env(settings),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        results = settings.topics.results
        send(settings, results, "a", b"not json at all")
        send(settings, results, "a", b'{"stage": "music"}')
        try:
            first, second = dead_letters(settings, 2, timeout=120)
        except AssertionError:
            pytest.fail(f"no dead letters; the saga said:\n{log.read_text()[-3000:]}")
        assert saga.poll() is None, "the saga died"
    finally:
        saga.terminate()
        saga.wait(30)
    assert {first.group, second.group} == {settings.topics.group("saga")}
    assert (first.value, second.value) == (b"not json at all", b'{"stage": "music"}')
    assert first.error_type == second.error_type == "ValidationError"
    assert second.offset == first.offset + 1


def test_a_worker_dead_letters_what_is_not_a_unit_and_goes_on(
    isolated_settings: Callable[[], Settings], tmp_path: Path
):
    settings = isolated_settings().model_copy(update={"media_dir": tmp_path / "media"})
    [worker] = bootstrap.stage_workers(settings, "draft", ["music"])
    topic = settings.topics.work("music")
    with running(worker.run):
        send(settings, topic, "p:u1", b"\x00\x01 not a unit")
        send(settings, topic, "p:u1", b'{"stage": "music"}')  # same key: same partition, next
        first, second = dead_letters(settings, 2)
    assert {first.group, second.group} == {settings.topics.group("workers.music")}
    assert (first.value, second.value) == (b"\x00\x01 not a unit", b'{"stage": "music"}')
    assert second.offset == first.offset + 1
    assert first.error_type == second.error_type == "MalformedUnit"
    assert "validation error" in second.error
