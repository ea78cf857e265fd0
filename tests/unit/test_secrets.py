"""Generated secrets are created once, atomically: processes starting together agree on them."""

import multiprocessing
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest

from adapters.settings import Settings, create_once

RACERS = 8
ROUNDS = 10


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("FILMSTUDIO_MASTER_KEY", raising=False)
    return Settings(state_dir=tmp_path)


def _race(state_dir: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    results.put(Settings(state_dir=Path(state_dir)).secret("master_key"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("race", range(ROUNDS))  # a lost race shows in some rounds, not all
def test_processes_starting_together_end_up_with_one_master_key(settings, race):
    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(RACERS), fork.Queue()
    racers = [
        fork.Process(target=_race, args=(str(settings.state_dir), barrier, results))
        for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    seen = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join()
    assert len(set(seen)) == 1, f"racing processes generated {len(set(seen))} master keys"
    assert seen[0] == settings.secret("master_key")


def test_threads_starting_together_end_up_with_one_secret(settings):
    barrier = Barrier(RACERS)

    def race() -> str:
        barrier.wait()
        return settings.secret("jwt_secret")

    with ThreadPoolExecutor(RACERS) as pool:
        seen = {f.result() for f in [pool.submit(race) for _ in range(RACERS)]}
    assert len(seen) == 1, f"racing threads generated {len(seen)} secrets"


def test_the_loser_of_a_race_keeps_the_winners_value(tmp_path):
    path = tmp_path / "master_key"
    create_once(path, "winner")
    create_once(path, "loser")
    assert path.read_text() == "winner"
    assert [p.name for p in tmp_path.iterdir()] == ["master_key"], "a staging file was left"


def test_a_generated_secret_is_private(settings):
    settings.secret("master_key")
    path = settings.state_dir / "secrets" / "master_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
