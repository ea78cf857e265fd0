"""The read-model projection against the real broker and database."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from adapters.postgres import connection_pool
from adapters.settings import Settings
from domain.credits import credit_account_id
from domain.production import ProductionOptions
from projections import state
from projections.readmodels import ReadModelProjection
from projections.replay import replay
from projections.runner import ProjectionRunner, wait_for_position
from tests.integration.eventflow import (
    SCRIPT,
    burst,
    command_side,
    consume_events,
    creators,
    relay_thread,
    running,
)

NAME = "readmodels"


@pytest.fixture(scope="module")
def flow(isolated_settings: Callable[[], Settings]):
    """An isolated installation with the command side, a relay and the live projection."""
    settings = isolated_settings()
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=6, name="test-projections") as pool,
        relay_thread(settings, studio.store),
    ):
        projection = ReadModelProjection(studio.keys)
        runner = ProjectionRunner(settings, pool, projection)
        with running(runner.run):
            yield settings, studio, pool, runner


def dump(pool) -> dict[str, list[tuple]]:
    with pool.connection() as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ReadModelProjection.tables
        }


def reach(pool, position: int) -> None:
    assert wait_for_position(pool, NAME, position, timeout=30), f"position {position} not reached"


def test_the_read_models_show_what_the_commands_did(flow):
    settings, studio, pool, _ = flow
    alice, _ = studio.register("alice@example.com", "pw-pw-pw-pw", "Alice")
    bob, _ = studio.register("bob@example.com", "pw-pw-pw-pw", "Bob")
    studio.change_profile(alice, "Alice A.")
    studio.grant_credits(alice, 500, "welcome", source="purchase")
    studio.grant_credits(bob, 30, "trial")
    project, _ = studio.create_project(alice, "Lamp", "en", "16:9")
    studio.revise_script(alice, project, "plain", "First draft.")
    studio.revise_script(alice, project, "fountain", SCRIPT)
    studio.change_project_settings(alice, project, title="The Lamp")
    kept = studio.request_production(alice, project, ProductionOptions())
    dropped = studio.request_production(alice, project, ProductionOptions(burn_subtitles=True))
    position = studio.cancel_production(alice, dropped.production_id, "changed my mind")
    position = max(position, studio.erase_user(bob))
    reach(pool, position)

    with pool.connection() as conn:
        users = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT user_id, email, display_name, role, erased, balance, reserved FROM rm_users"
            )
        }
        assert users[alice] == (
            "alice@example.com",
            "Alice A.",
            "creator",
            False,
            500 - kept.reserved_credits,
            kept.reserved_credits,
        )
        assert bob not in users, "an erased user's row stays"
        erased = conn.execute("SELECT user_id FROM rm_erased_users").fetchall()
        assert (bob,) in erased
        ledger = conn.execute(
            "SELECT kind, amount, production_id, source, reason FROM rm_credit_ledger "
            "WHERE user_id = %s ORDER BY position",
            (alice,),
        ).fetchall()
        assert ledger == [
            ("granted", 500, None, "purchase", "welcome"),
            ("reserved", kept.reserved_credits, kept.production_id, None, ""),
            ("reserved", dropped.reserved_credits, dropped.production_id, None, ""),
            ("released", dropped.reserved_credits, dropped.production_id, None, ""),
        ]
        row = conn.execute(
            "SELECT title, revision, script_format, script_text FROM rm_projects "
            "WHERE project_id = %s",
            (project,),
        ).fetchone()
        assert row == ("The Lamp", 2, "fountain", SCRIPT)
        revisions = conn.execute(
            "SELECT revision, script_text FROM rm_script_revisions WHERE project_id = %s "
            "ORDER BY revision",
            (project,),
        ).fetchall()
        assert revisions == [(1, "First draft."), (2, SCRIPT)]
        productions = dict(
            conn.execute(
                "SELECT production_id, status FROM rm_productions WHERE project_id = %s",
                (project,),
            ).fetchall()
        )
        assert productions == {kept.production_id: "requested", dropped.production_id: "cancelled"}


def test_wait_for_position(flow):
    settings, studio, pool, _ = flow
    people = creators(studio, 1)
    future = studio.store.last_position() + 1000
    started = time.monotonic()
    assert not wait_for_position(pool, NAME, future, timeout=0.3)
    assert time.monotonic() - started >= 0.3
    position = burst(studio, people, 5)
    assert wait_for_position(pool, NAME, position, timeout=30)
    with pool.connection() as conn:  # a plain connection works too
        assert wait_for_position(conn, NAME, position, timeout=0)
    assert not wait_for_position(pool, "no-such-projection", 1, timeout=0)


def test_a_duplicated_message_changes_nothing(flow):
    settings, studio, pool, _ = flow
    (creator,) = creators(studio, 1)
    reach(pool, studio.grant_credits(creator.user_id, 77, "duplicate me"))
    before = dump(pool)
    account = credit_account_id(creator.user_id)
    topic, partition, _, key, granted = next(
        m
        for m in consume_events(settings)
        if m[4].aggregate.id == account
        and m[4].type == "credits.Granted"
        and m[4].payload["amount"] == 77
    )
    delivered = []
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
        }
    )
    producer.produce(
        topic,
        key=key,
        value=granted.to_bytes(),
        headers=granted.headers(),
        on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())),
    )
    producer.flush(10)
    assert delivered and delivered[0][0] is None and delivered[0][1] == partition
    duplicate_offset = delivered[0][2]
    deadline = time.monotonic() + 30
    while _next_offset(pool, topic, partition) <= duplicate_offset:
        assert time.monotonic() < deadline, "the projection did not consume the duplicate"
        time.sleep(0.05)
    assert dump(pool) == before


def test_replay_rebuilds_identical_tables(flow):
    settings, studio, pool, _ = flow
    people = creators(studio, 2)
    reach(pool, burst(studio, people, 40))
    studio.erase_user(people[1].user_id)
    reach(pool, studio.store.last_position())  # every event recorded, not only those relayed yet
    before = dump(pool)
    with pool.connection() as conn:
        watermark = state.state(conn, NAME)[0]

    result = replay(ProjectionRunner(settings, pool, ReadModelProjection(studio.keys)))

    assert dump(pool) == before
    assert result.applied == len({m[4].event_id for m in consume_events(settings)})
    with pool.connection() as conn:
        assert state.state(conn, NAME)[0] == watermark


def test_a_replay_during_a_burst_then_live_runner_agree(flow):
    settings, studio, pool, _ = flow
    people = creators(studio, 2)
    last = []
    with running(lambda stop: last.append(burst(studio, people, 80, seed=3))):
        replay(ProjectionRunner(settings, pool, ReadModelProjection(studio.keys)))
    reach(pool, last[0])
    live = dump(pool)
    replay(ProjectionRunner(settings, pool, ReadModelProjection(studio.keys)))
    assert dump(pool) == live


def lag_becomes(check: Callable[[float], bool], seconds: float = 20.0) -> float | None:
    """The projection's lag gauge once `check` holds (None if it never did)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lag = REGISTRY.get_sample_value("studio_projection_lag", {"projection": NAME})
        if lag is not None and check(lag):
            return lag
        time.sleep(0.2)
    return None


def test_the_live_runner_pauses_while_a_replay_holds_the_projection_and_reports_its_lag(flow):
    settings, studio, pool, live = flow
    (creator,) = creators(studio, 1)
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as replaying:
        replaying.execute("SELECT pg_advisory_lock(%s)", (live.lock,))
        position = studio.create_project(creator.user_id, "Held", "en", "1:1")[1]
        assert not wait_for_position(pool, NAME, position, timeout=1.5)
        assert lag_becomes(lambda lag: lag >= 1), "the lag gauge did not show the held event"
    reach(pool, position)
    assert lag_becomes(lambda lag: lag == 0) == 0, "the lag gauge stayed up after catching up"


def _next_offset(pool, topic: str, partition: int) -> int:
    with pool.connection() as conn:
        return state.offsets(conn, NAME).get((topic, partition), 0)


def test_user_ids_are_uuids(flow):
    _, _, pool, _ = flow
    with pool.connection() as conn:
        ids = [r[0] for r in conn.execute("SELECT user_id FROM rm_users")]
    assert ids and all(isinstance(i, UUID) for i in ids)
