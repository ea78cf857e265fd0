"""Messages of the work topics: a unit of stage work, a worker's result, a progress tick."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.stages import Quality


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class WorkUnit(Message):
    """One unit on `studio.work.<stage>` (`.final` for final quality), keyed by unit id;
    `key` is its artifact's address; `quality` names the backend that computes it."""

    production_id: UUID
    stage: str
    unit: str
    attempt: int = Field(ge=1)
    quality: Quality
    key: str
    inputs: dict[str, Any]


class UnitResult(Message):
    """A worker's outcome on `studio.work.results`, keyed by production id."""

    production_id: UUID
    stage: str
    unit: str
    attempt: int
    key: str
    ok: bool
    error: str = ""
    computed: bool = False  # False when the artifact already existed (not recomputed)
    worker: str = ""
    seconds: float = 0.0


class DeadLetter(Message):
    """A unit that failed every attempt, on `studio.work.<stage>.dlq`."""

    unit: WorkUnit
    error: str
    attempts: int


class ProgressTick(Message):
    """Ephemeral progress for live UIs, on `studio.progress`, keyed by production id."""

    production_id: UUID
    stage: str
    unit: str
    status: str  # started | completed | failed | retried | production status
    at: datetime
    detail: str = ""
