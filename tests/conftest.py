"""Shared fixtures. Tests under tests/integration are marked ``integration`` and may use the
local stack; tests under tests/unit must not need any service."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings, get_settings

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Settings:
    """The local Kafka and PostgreSQL, started if they are not running (left running after)."""
    from filmstudio import stack as local_stack

    settings = get_settings()
    local_stack.up(settings)
    return settings


@pytest.fixture(scope="session")
def isolated_settings(stack: Settings) -> Iterator[Callable[[], Settings]]:
    """A factory of Settings isolated from each other: each has its own topic prefix and its own
    database, all removed at the end of the session."""
    from adapters import kafka as topics
    from filmstudio.stack import postgres

    made: list[Settings] = []

    def make() -> Settings:
        suffix = secrets.token_hex(4)
        settings = stack.model_copy(
            update={"topic_prefix": f"t{suffix}", "pg_database": f"test_{suffix}"}
        )
        postgres.ensure_database(settings, settings.pg_database)
        topics.ensure_topics(settings)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        topics.delete_topics(settings)
        postgres.drop_database(settings, settings.pg_database)


@pytest.fixture(scope="session")
def test_settings(isolated_settings: Callable[[], Settings]) -> Settings:
    """Settings isolated for this test session: own topic prefix and own database."""
    return isolated_settings()
