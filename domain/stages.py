"""The production's stage graph: which stage needs which, and each unit's progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

STAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "script_analysis": (),
    "image_generation": ("script_analysis",),
    "voice_synthesis": ("script_analysis",),
    "music": ("script_analysis",),
    "lip_sync": ("image_generation", "voice_synthesis"),
    "subtitles": ("voice_synthesis",),
    "composition": ("image_generation", "voice_synthesis", "music", "lip_sync", "subtitles"),
}
STAGES = tuple(STAGE_NEEDS)
FINAL_STAGE = "composition"
DEFAULT_MAX_ATTEMPTS = 3
# A production's quality names its backends: "draft" runs everything on the CPU, offline;
# "final" runs the model backends (on GPU machines) of the stages that have one.
Quality = Literal["draft", "final"]
FINAL_QUALITY_STAGES = ("script_analysis", "image_generation", "voice_synthesis", "subtitles")


@dataclass
class UnitProgress:
    """One unit of a stage: its current attempt and what came of it."""

    attempt: int
    dispatched_at: float
    status: str = "running"  # running | completed | failed
    artifact: str = ""
    error: str = ""
    released: bool = False  # a unit that waited for others of its stage was dispatched


@dataclass
class StageProgress:
    deadline_seconds: float
    max_attempts: int
    units: dict[str, UnitProgress]

    @property
    def complete(self) -> bool:
        return all(u.status == "completed" for u in self.units.values())

    @property
    def done_count(self) -> int:
        return sum(u.status == "completed" for u in self.units.values())
