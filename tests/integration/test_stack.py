import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from adapters import kafka as topics
from adapters.settings import Settings
from adapters.topics import CATALOGUE


def _describe(settings: Settings) -> tuple[dict, dict]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = [settings.topics.name(spec) for spec in CATALOGUE]
    metadata = admin.list_topics(timeout=10).topics
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    configs = {
        r.name: {k: e.value for k, e in f.result().items()}
        for r, f in admin.describe_configs(resources).items()
    }
    return metadata, configs


def test_topics_exist_with_catalogue_configs(test_settings: Settings) -> None:
    metadata, configs = _describe(test_settings)
    for spec in CATALOGUE:
        name = test_settings.topics.name(spec)
        assert name in metadata, name
        expected = spec.partitions or test_settings.topic_partitions
        assert len(metadata[name].partitions) == expected, name
        assert configs[name]["retention.ms"] == str(spec.retention_ms), name
        assert configs[name]["cleanup.policy"] == spec.cleanup_policy, name
    position = configs[test_settings.topics.relay_position]
    assert position["cleanup.policy"] == "compact"
    assert configs[test_settings.topics.events("user")]["retention.ms"] == "-1"
    assert configs[test_settings.topics.progress]["retention.ms"] == str(6 * 3_600_000)


def test_ensure_topics_twice_is_harmless(test_settings: Settings) -> None:
    assert topics.ensure_topics(test_settings) == []
    assert topics.ensure_topics(test_settings) == []
    _, configs = _describe(test_settings)
    dead_letters = test_settings.topics.dead_letters("music")
    assert configs[dead_letters]["retention.ms"] == str(28 * 86_400_000)


def test_idempotent_producer_round_trip(test_settings: Settings) -> None:
    topic = test_settings.topics.events("user")
    key, value = str(uuid.uuid4()), b'{"type": "UserRegistered"}'
    producer = Producer(
        {
            "bootstrap.servers": test_settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
        }
    )
    producer.produce(topic, key=key, value=value, headers=[("type", b"UserRegistered")])
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": test_settings.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                break
        assert message is not None and message.error() is None
        assert (message.key().decode(), message.value()) == (key, value)
        assert dict(message.headers())["type"] == b"UserRegistered"
    finally:
        consumer.close()


def test_postgres_answers(test_settings: Settings) -> None:
    with psycopg.connect(test_settings.pg_conninfo) as conn:
        row = conn.execute("SELECT current_database(), current_user, 40 + 2").fetchone()
    assert row == (test_settings.pg_database, test_settings.pg_user, 42)


def test_kafka_cli_lists_topics(test_settings: Settings) -> None:
    cli = shutil.which("filmstudio") or str(Path(sys.executable).with_name("filmstudio"))
    env = {**os.environ, "FILMSTUDIO_KAFKA_BOOTSTRAP": test_settings.kafka_bootstrap}
    result = subprocess.run(
        [cli, "kafka", "topics", "--list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    listed = set(result.stdout.split())
    assert {test_settings.topics.name(spec) for spec in CATALOGUE} <= listed
