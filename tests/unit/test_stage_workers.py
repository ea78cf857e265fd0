"""A worker process builds one consumer per stage, several for draft composition."""

from __future__ import annotations

from pathlib import Path

from adapters.settings import Settings
from domain.stages import STAGES
from filmstudio import bootstrap


def test_a_draft_worker_process_computes_composition_on_several_consumers(tmp_path: Path) -> None:
    built = bootstrap.stage_workers(Settings(state_dir=tmp_path, composition_consumers=4), "draft")
    stages = [worker.stage for worker in built]
    assert stages.count("composition") == 4
    assert sorted(set(stages)) == sorted(STAGES) and len(stages) == len(STAGES) + 3
    composition = {worker.topic for worker in built if worker.stage == "composition"}
    assert composition == {Settings().topics.work("composition", "draft")}, "one group"


def test_named_stages_only(tmp_path: Path) -> None:
    built = bootstrap.stage_workers(Settings(state_dir=tmp_path), "draft", ["music"])
    assert [worker.stage for worker in built] == ["music"]


def test_a_voice_worker_loads_the_piper_voice_when_it_starts() -> None:
    from gpu_consumers import units
    from gpu_consumers.draft import piper_voice

    piper_voice._voice.cache_clear()
    units.warm_up({"music", "composition"})
    assert piper_voice._voice.cache_info().currsize == 0, "loaded for stages that never speak"

    units.warm_up({"voice_synthesis"})

    assert piper_voice._voice.cache_info().currsize == 1
