"""The analytics feed against the real broker and database: events through Kafka become Parquet
files whose counts equal the event store's, a redelivered event changes no byte, a replay into a
fresh folder writes the same bytes (after an erasure too), erasure unlinks the user's rows, and
the CLI queries the feed and replays a time window into an analyst's own projection."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from adapters.eventstore import EventStore
from adapters.feed_store import feed_store
from adapters.postgres import connection_pool
from adapters.settings import PROJECT_ROOT, Settings
from commands.handlers import Studio
from domain.production import ProductionOptions
from filmstudio.analytics_cli import connect
from projections import analytics, state
from projections.analytics import AnalyticsProjection
from projections.analytics_rows import part_name
from projections.replay import replay
from projections.runner import ProjectionRunner, wait_for_position
from schemas.catalogue import BY_TOPIC
from tests.integration.conftest import studio_env
from tests.integration.eventflow import (
    Creator,
    command_side,
    consume_events,
    creators,
    relay_thread,
    running,
)

NAME = "analytics"
FILE_ROWS = 2  # small, so partitions roll into several files
DOC_QUERIES = re.findall(
    r"```sql\n(.*?)```", (PROJECT_ROOT / "docs" / "analytics.md").read_text(), re.S
)


@dataclass
class Feed:
    settings: Settings
    studio: Studio
    pool: ConnectionPool
    projection: AnalyticsProjection
    root: Path
    people: list[Creator]


@pytest.fixture(scope="module")
def feed(
    isolated_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Feed]:
    """A studio whose analytics projection runs live (its files flushed by the tests), after
    three creators, a production requested and cancelled and a production requested."""
    root = tmp_path_factory.mktemp("feed")
    settings = isolated_settings().model_copy(
        update={"analytics_dir": root, "analytics_file_rows": FILE_ROWS}
    )
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=6, name="test-analytics") as pool,
        relay_thread(settings, studio.store),
    ):
        people = creators(studio, 3, credits=500)
        first, second, _ = people
        cancelled = studio.request_production(first.user_id, first.projects[0], ProductionOptions())
        studio.cancel_production(first.user_id, cancelled.production_id, "changed my mind")
        studio.request_production(second.user_id, second.projects[0], ProductionOptions())
        studio.verify_email(second.user_id)
        projection = analytics.create(settings, pool)
        runner = ProjectionRunner(settings, pool, projection)
        with running(runner.run):
            yield Feed(settings, studio, pool, projection, root, people)


def caught_up(feed: Feed) -> None:
    """The projection has applied every event recorded so far, and its files are written."""
    position = feed.studio.store.last_position()
    assert wait_for_position(feed.pool, NAME, position, timeout=60), f"{NAME} at {position}"
    feed.projection.flush()


def store_counts(feed: Feed) -> dict[str, int]:
    return counts_in(feed.studio.store)


def counts_in(store: EventStore) -> dict[str, int]:
    """The event store's count of events per type."""
    notifications = store.recorder.select_notifications(start=1, limit=1_000_000)
    return dict(Counter(BY_TOPIC[n.topic].type for n in notifications))


def feed_counts(root: Path) -> dict[str, int]:
    rows = connect(root).execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
    return dict(rows)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


def query(root: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return connect(root).execute(sql, list(args)).fetchall()


def test_the_feed_holds_every_event_once_in_rolled_files(feed):
    caught_up(feed)
    counts = store_counts(feed)
    assert feed_counts(feed.root) == counts
    assert {"user.Registered", "production.Cancelled", "project.ScriptRevised"} <= set(counts)
    written = files(feed.root)
    assert any("/part-00001.parquet" in name for name in written), "no partition rolled"
    sizes = [pq.ParquetFile(feed.root / name).metadata.num_rows for name in written]
    assert max(sizes) == FILE_ROWS
    assert not list(feed.root.rglob(".tmp-*")), "a temporary file was left behind"


def test_every_query_in_the_docs_runs_and_the_countable_answers_agree(feed):
    caught_up(feed)
    db = connect(feed.root)
    answers = [db.execute(sql).fetchall() for sql in DOC_QUERIES]
    assert len(answers) >= 8
    counts = store_counts(feed)
    assert dict(answers[0]) == counts  # events per type
    assert sum(n for _, n in answers[1]) == counts["user.Registered"]  # sign-ups per week
    failures = next(a for sql, a in zip(DOC_QUERIES, answers, strict=True) if "failure_rate" in sql)
    assert sum(row[1] for row in failures) == counts["production.Requested"]
    assert sum(row[4] for row in failures) == counts["production.Cancelled"]
    keys = query(feed.root, "SELECT count(DISTINCT user_key) FROM user_registered")
    assert keys == [(3,)]


def test_a_redelivered_batch_changes_no_byte(feed):
    caught_up(feed)
    before = files(feed.root)
    owner = feed.people[0].user_id
    again = [m for m in consume_events(feed.settings) if m[4].aggregate.id == owner]
    assert again, "no event of the user was published"
    producer = Producer({"bootstrap.servers": feed.settings.kafka_bootstrap})
    delivered: list[tuple[str, int, int]] = []
    for topic, _, _, key, envelope in again:
        producer.produce(
            topic,
            key=key,
            value=envelope.to_bytes(),
            headers=envelope.headers(),
            on_delivery=lambda err, msg: delivered.append(
                (msg.topic(), msg.partition(), msg.offset())
            ),
        )
    producer.flush(10)
    assert len(delivered) == len(again)
    deadline = time.monotonic() + 30
    for topic, partition, offset in delivered:
        while next_offset(feed.pool, topic, partition) <= offset:
            assert time.monotonic() < deadline, "the projection did not consume the redelivery"
            time.sleep(0.05)
    feed.projection.flush()
    assert files(feed.root) == before
    assert feed_counts(feed.root) == store_counts(feed)


def next_offset(pool: ConnectionPool, topic: str, partition: int) -> int:
    with pool.connection() as conn:
        return state.offsets(conn, NAME).get((topic, partition), 0)


def replayed_into_a_fresh_folder(feed: Feed, folder: Path) -> dict[str, bytes]:
    settings = feed.settings.model_copy(update={"analytics_dir": folder})
    projection = analytics.create(settings, feed.pool)
    result = replay(ProjectionRunner(settings, feed.pool, projection), timeout=60)
    assert result.applied == sum(store_counts(feed).values())
    projection.flush()
    return files(folder)


def test_a_replay_into_a_fresh_folder_writes_identical_files(feed, tmp_path):
    caught_up(feed)
    live = files(feed.root)
    fresh = replayed_into_a_fresh_folder(feed, tmp_path / "fresh")
    assert sorted(fresh) == sorted(live)
    assert fresh == live, [n for n in live if fresh.get(n) != live[n]]


def test_the_query_cli_answers_the_event_counts(feed):
    caught_up(feed)
    env = {**studio_env(feed.settings), "FILMSTUDIO_ANALYTICS_DIR": str(feed.root)}
    sql = "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type"
    answer = cli(env, "analytics", "query", sql, "--format", "json")
    assert {r["type"]: r["n"] for r in json.loads(answer)} == store_counts(feed)
    table = cli(env, "analytics", "query", "SELECT count(*) AS sign_ups FROM user_registered")
    assert table.splitlines()[0].strip() == "sign_ups" and table.splitlines()[2].strip() == str(3)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "filmstudio.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_replay_from_to_fills_an_analysts_projection_with_the_window(feed):
    caught_up(feed)
    events = sorted((m[4] for m in consume_events(feed.settings)), key=lambda e: e.position)
    start, end = events[len(events) // 3].occurred_at, events[2 * len(events) // 3].occurred_at
    expected = {str(e.event_id) for e in events if start <= e.occurred_at < end}
    assert 0 < len(expected) < len(events)
    env = studio_env(feed.settings)
    spec = "tests.support.window_projection:create"
    cli(env, "replay", "--from", start.isoformat(), "--to", end.isoformat(), spec)
    with feed.pool.connection() as conn:
        found = {str(r[0]) for r in conn.execute("SELECT event_id FROM window_events")}
    assert found == expected


def test_erasure_unlinks_the_users_rows_and_a_replay_agrees(feed, tmp_path):
    caught_up(feed)
    user = feed.people[1].user_id
    key = feed.studio.keys.pseudonym(user, analytics.PSEUDONYM_PURPOSE)
    assert key is not None
    held = query(feed.root, "SELECT count(*) FROM events WHERE user_key = ?", key)[0][0]
    assert held >= 5, "the user's rows do not carry their pseudonym"
    feed.studio.erase_user(user)
    caught_up(feed)
    assert feed.studio.keys.pseudonym(user, analytics.PSEUDONYM_PURPOSE) is None
    assert query(feed.root, "SELECT count(*) FROM events WHERE user_key = ?", key) == [(0,)]
    assert not any(key.encode() in data for data in files(feed.root).values())
    assert feed_counts(feed.root) == store_counts(feed)
    live = files(feed.root)
    assert replayed_into_a_fresh_folder(feed, tmp_path / "after-erasure") == live


def test_the_s3_store_puts_under_the_prefix_and_mirrors_the_bucket(s3_server, tmp_path):
    prefix = f"t{uuid4().hex[:8]}"
    settings = Settings(
        state_dir=tmp_path / "state",
        media_store="s3",
        s3_bucket=s3_server.bucket,
        s3_prefix=prefix,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region=s3_server.region,
        s3_access_key_id=s3_server.access_key_id,
        s3_secret_access_key=SecretStr(s3_server.secret_access_key),
    )
    store = feed_store(settings)
    first, second = (part_name("user.Verified", "2026-12-01", n) for n in (0, 1))
    store.put(first, b"one")
    store.put(second, b"two")
    answer = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix)
    keys = sorted(item["Key"] for item in answer["Contents"])
    assert keys == [f"{prefix}/analytics/{first}", f"{prefix}/analytics/{second}"]
    assert store.names("type=user.Verified") == [first, second]
    local = store.local_copy()
    assert (local / first).read_bytes() == b"one" and (local / second).read_bytes() == b"two"
    store.put(first, b"uno")  # same size, other bytes
    store.delete([second])
    assert store.local_copy() == local
    assert (local / first).read_bytes() == b"uno" and not (local / second).exists()


def test_the_analytics_process_writes_the_files_as_events_come(isolated_settings, tmp_path):
    """`filmstudio projections --name analytics` (what `filmstudio up` starts) flushes by itself."""
    settings = isolated_settings()
    root = tmp_path / "feed"
    env = {**studio_env(settings), "FILMSTUDIO_ANALYTICS_DIR": str(root)}
    argv = [sys.executable, "-m", "filmstudio.cli", "projections", "--name", NAME]
    with command_side(settings) as studio, relay_thread(settings, studio.store):
        creators(studio, 1)
        expected = counts_in(studio.store)
        process = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT)
        try:
            deadline = time.monotonic() + 60
            while not root.is_dir() or feed_counts(root) != expected:
                assert process.poll() is None, "the analytics process ended"
                assert time.monotonic() < deadline, f"the feed has {feed_counts(root)}"
                time.sleep(0.2)
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0


class Crashing:
    """A feed store that dies after writing `after` files, as a process killed mid-flush."""

    def __init__(self, store: Any, after: int) -> None:
        self.store, self.left = store, after

    def put(self, name: str, data: bytes) -> None:
        if self.left == 0:
            raise SystemExit("killed")
        self.left -= 1
        self.store.put(name, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_a_flush_killed_midway_is_finished_by_the_next_with_the_same_bytes(feed):
    caught_up(feed)
    before = files(feed.root)
    with feed.pool.connection() as conn:
        conn.execute(
            "INSERT INTO analytics_dirty (event_type, day, from_position) "
            "SELECT event_type, day, min(position) FROM analytics_rows GROUP BY 1, 2"
        )
    store = feed.projection.store
    feed.projection.store = Crashing(store, after=3)
    try:
        with pytest.raises(SystemExit):
            feed.projection.flush()
    finally:
        feed.projection.store = store
    with feed.pool.connection() as conn:
        dirty = conn.execute("SELECT count(*) FROM analytics_dirty").fetchone()[0]
    partitions = len({name.rsplit("/", 1)[0] for name in before})
    assert 0 < dirty < partitions, "the killed flush marked its unfinished partition clean"
    assert feed.projection.flush() > 0
    assert files(feed.root) == before
