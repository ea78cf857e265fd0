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
