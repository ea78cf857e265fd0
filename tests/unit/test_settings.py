from pathlib import Path

import pytest

from adapters.settings import Settings
from adapters.topics import CATALOGUE
from domain.stages import STAGES


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("TOPIC_PREFIX", "JWT_SECRET", "PG_PORT"):
        monkeypatch.delenv(f"FILMSTUDIO_{name}", raising=False)
    return Settings(state_dir=tmp_path)


def test_env_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FILMSTUDIO_TOPIC_PREFIX", "acme")
    monkeypatch.setenv("FILMSTUDIO_PG_PORT", "6543")
    monkeypatch.setenv("TOPIC_PREFIX", "ignored")
    settings = Settings(state_dir=tmp_path)
    assert settings.topic_prefix == "acme"
    assert settings.pg_port == 6543
    assert "port=6543" in settings.pg_conninfo


def test_topic_names(settings: Settings) -> None:
    assert settings.topics.progress == "studio.progress"
    assert settings.topics.events("user") == "studio.events.user"
    assert settings.topics.relay_position == "studio.relay.position"


def test_catalogue_covers_the_design(settings: Settings) -> None:
    names = {settings.topics.name(spec) for spec in CATALOGUE}
    assert len(names) == len(CATALOGUE)
    assert set(settings.topics.all_events) <= names
    for stage in STAGES:
        assert {f"studio.work.{stage}", f"studio.work.{stage}.dlq"} <= names
    assert {"studio.work.results", "studio.progress", settings.topics.relay_position} <= names
    position = next(s for s in CATALOGUE if s.name == "relay.position")
    assert position.partitions == 1 and position.cleanup_policy == "compact"
    assert all(s.retention_ms == -1 for s in CATALOGUE if s.name.startswith("events."))


def test_secret_generated_once_and_stable(settings: Settings) -> None:
    first = settings.secret("jwt_secret")
    assert len(first) >= 32
    assert Settings(state_dir=settings.state_dir).secret("jwt_secret") == first
    path = settings.state_dir / "secrets" / "jwt_secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert settings.secret("master_key") != first


def test_configured_secret_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FILMSTUDIO_JWT_SECRET", "from-env")
    settings = Settings(state_dir=tmp_path)
    assert settings.secret("jwt_secret") == "from-env"
    assert "from-env" not in repr(settings)
    assert not (tmp_path / "secrets" / "jwt_secret").exists()
