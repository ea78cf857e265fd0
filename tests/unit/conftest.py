"""Fixtures of the in-memory studio: the command side and the saga wired by
`filmstudio.bootstrap.in_memory`, with no Kafka and no PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from adapters.settings import Settings
from filmstudio import bootstrap
from filmstudio.bootstrap import InMemoryStudio


@pytest.fixture
def unit_settings(tmp_path: Path) -> Settings:
    """Settings of one test: its own state and media folders, the default topic names."""
    return Settings(
        state_dir=tmp_path / "state",
        media_dir=tmp_path / "media",
        topic_prefix="studio",
        credits_per_minute=10,
        model_backends=False,
        master_key=SecretStr("unit-test-master-key"),
        llm_base_url=None,
    )


@pytest.fixture
def memory(unit_settings: Settings) -> Iterator[InMemoryStudio]:
    """The in-memory studio. Passwords are hashed with cheap Argon2id parameters: the rules
    under test do not depend on the cost, and the default costs 0.2 s a hash."""
    wired = bootstrap.in_memory(unit_settings, unit_settings.media_root)
    wired.studio.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield wired
    wired.close()
