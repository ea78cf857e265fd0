"""The relay and a projection ride out PostgreSQL dropping every connection (as in a restart):
they retry with a backoff and carry on, losing and repeating nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg

from adapters.postgres import connection_pool
from adapters.relay import run_relay
from adapters.settings import Settings
from projections.readmodels import ReadModelProjection
from projections.runner import ProjectionRunner, wait_for_position
from tests.integration.eventflow import command_side, running

T = TypeVar("T")


def drop_connections(settings: Settings) -> int:
    """Terminate every other session on the installation's database; returns how many."""
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def again(command: Callable[[], T]) -> T:
    """The test's own command side meets its dropped pooled connections, one per try."""
    for _ in range(9):
        try:
            return command()
        except psycopg.OperationalError:
            continue
    return command()


def test_relay_and_projection_carry_on_after_their_connections_are_dropped(
    isolated_settings: Callable[[], Settings],
):
    settings = isolated_settings()
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=4, name="test-outages") as pool,
    ):
        runner = ProjectionRunner(settings, pool, ReadModelProjection(studio.keys))
        with (
            running(lambda stop: run_relay(settings, studio.store, stop)),
            running(runner.run),
        ):
            first, _ = studio.register("a@example.com", "pw-pw-pw-pw", "A")
            position = studio.grant_credits(first, 10, "before")
            assert wait_for_position(pool, "readmodels", position, timeout=30)

            assert drop_connections(settings) >= 2  # the relay's lock and the runner's at least
            second, _ = again(lambda: studio.register("b@example.com", "pw-pw-pw-pw", "B"))
            position = again(lambda: studio.grant_credits(second, 20, "after"))
            with psycopg.connect(settings.pg_conninfo, autocommit=True) as fresh:
                assert wait_for_position(fresh, "readmodels", position, timeout=120), (
                    "the relay or the projection did not recover from the dropped connections"
                )
    with psycopg.connect(settings.pg_conninfo) as conn:
        balances = conn.execute("SELECT balance FROM rm_users ORDER BY balance").fetchall()
    assert balances == [(10,), (20,)]
