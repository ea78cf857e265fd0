"""The local Kafka of several nodes, as configuration: each node's addresses and properties, the
clients' bootstrap list and the topics' replication; and a stage worker that polls while a unit
computes gives back a message that arrives meanwhile."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import pytest
from confluent_kafka import Consumer, TopicPartition

from adapters.kafka import bootstrap_servers, topic_config
from adapters.media import MediaStore
from adapters.settings import Settings
from adapters.topics import CATALOGUE
from filmstudio.procutil import ServiceError
from filmstudio.stack import kafka as local_kafka
from gpu_consumers.worker import StageWorker, one_by_one
from schemas.work import ScoreInputs, WorkUnit


def cluster(tmp_path: Path, brokers: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": tmp_path,
        "kafka_bootstrap": "127.0.0.1:29092",
        "kafka_controller_port": 29093,
        "kafka_brokers": brokers,
    }
    return Settings(**{**values, **extra})


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_three_nodes_form_one_static_quorum_with_three_replicas(tmp_path: Path) -> None:
    settings = cluster(tmp_path, 3)
    nodes = [properties(local_kafka.server_properties(settings, n)) for n in range(3)]
    voters = "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
    assert [n["controller.quorum.voters"] for n in nodes] == [voters] * 3
    assert [n["node.id"] for n in nodes] == ["1", "2", "3"]
    assert [n["listeners"] for n in nodes] == [
        f"PLAINTEXT://127.0.0.1:{29092 + 2 * i},CONTROLLER://127.0.0.1:{29093 + 2 * i}"
        for i in range(3)
    ]
    assert len({n["log.dirs"] for n in nodes}) == 3
    for node in nodes:
        assert node["offsets.topic.replication.factor"] == "3"
        assert node["transaction.state.log.replication.factor"] == "3"
        assert node["transaction.state.log.min.isr"] == "2"
        assert node["min.insync.replicas"] == "2"
        assert "controller.quorum.bootstrap.servers" not in node


def test_one_node_is_its_own_quorum_as_before(tmp_path: Path) -> None:
    node = properties(local_kafka.server_properties(cluster(tmp_path, 1), 0))
    assert node["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    assert "controller.quorum.voters" not in node
    assert node["offsets.topic.replication.factor"] == "1"
    assert node["log.dirs"] == str(tmp_path / "kafka" / "data")


def test_clients_know_every_node_and_topics_keep_two_replicas_in_sync(tmp_path: Path) -> None:
    three = cluster(tmp_path, 3)
    assert bootstrap_servers(three) == ["127.0.0.1:29092", "127.0.0.1:29094", "127.0.0.1:29096"]
    assert (three.replication_factor, three.min_insync_replicas) == (3, 2)
    assert topic_config(three, CATALOGUE[0])["min.insync.replicas"] == "2"
    one = cluster(tmp_path, 1)
    assert bootstrap_servers(one) == ["127.0.0.1:29092"]
    assert (one.replication_factor, one.min_insync_replicas) == (1, 1)
    managed = cluster(tmp_path, 1, kafka_bootstrap="a:9093, b:9093", topic_replication=3)
    assert bootstrap_servers(managed) == ["a:9093", "b:9093"]  # a given list is kept
    assert managed.replication_factor == 3


def test_a_cluster_refuses_to_start_with_another_node_count(tmp_path: Path) -> None:
    data = tmp_path / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("formatted")
    (tmp_path / "kafka" / "nodes").write_text("3")
    with pytest.raises(ServiceError, match="FILMSTUDIO_KAFKA_BROKERS=3"):
        local_kafka.start(cluster(tmp_path, 1))


class Arrival:
    """A message as confluent-kafka hands it over."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._where = (topic, partition, offset)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]


class PausedConsumer:
    """Records what the worker asks of its consumer while a unit computes; the first poll
    hands over a message, as a partition assigned mid-unit does before it is paused."""

    def __init__(self, arrival: Arrival) -> None:
        self.arrivals = [arrival]
        self.calls: list[tuple[str, list[tuple[str, int, int]]]] = []

    def poll(self, timeout: float) -> Arrival | None:
        return self.arrivals.pop() if self.arrivals else None

    def _record(self, name: str, partitions: list[TopicPartition]) -> None:
        self.calls.append((name, [(p.topic, p.partition, p.offset) for p in partitions]))

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._record("pause", partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._record("resume", partitions)

    def seek(self, partition: TopicPartition) -> None:
        self._record("seek", [partition])


class Folders:
    """A media store as far as computing a unit needs it: a folder to write into."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def writing(self, key: str) -> AbstractContextManager[Path]:
        return nullcontext(self.path)


def test_a_message_arriving_mid_unit_is_given_back_not_dropped(tmp_path: Path) -> None:
    released = threading.Event()
    media = cast(MediaStore, Folders(tmp_path))
    worker = StageWorker(
        Settings(state_dir=tmp_path), "music", one_by_one(lambda *_: released.wait(5)), media
    )
    consumer = PausedConsumer(Arrival(worker.topic, 2, 41))
    worker._consumer = cast(Consumer, consumer)
    worker._assigned = [TopicPartition(worker.topic, 2)]
    threading.Timer(1.5, released.set).start()
    unit = WorkUnit(
        production_id=uuid4(),
        stage="music",
        unit="score-1",
        attempt=1,
        quality="draft",
        key="a" * 64,
        inputs=ScoreInputs(mood="calm", seconds=2.0, scene="s1"),
    )
    assert worker._compute_while_polling([unit], threading.Event()) == {}
    seeks = [call for call in consumer.calls if call[0] == "seek"]
    assert seeks == [("seek", [(worker.topic, 2, 41)])], consumer.calls
    assert consumer.calls[-1][0] == "resume", consumer.calls
