"""The Production aggregate: one render of one project revision."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.errors import Conflict, Invalid, NotFound
from domain.language import script_language
from domain.project import ASPECT_RATIOS, LANGUAGES, Project, check_choice
from domain.stages import (
    DEFAULT_MAX_ATTEMPTS,
    FINAL_STAGE,
    STAGE_NEEDS,
    Quality,
    StageProgress,
    UnitProgress,
)
from domain.voices import parse_voice

MAX_VOICE_NAME = 64


class ProductionOptions(BaseModel):
    """What a creator chooses for one render."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quality: Quality = "draft"
    language: str | None = Field(
        default=None,
        description="the language the script speaks; default: the project's, unless the "
        "script's words are written in another language's script",
        json_schema_extra={"enum": [*LANGUAGES, None]},
    )
    languages: list[str] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra={"items": {"type": "string", "enum": list(LANGUAGES)}},
    )
    aspect_ratio: str | None = Field(
        default=None, json_schema_extra={"enum": [*ASPECT_RATIOS, None]}
    )
    burn_subtitles: bool = False
    voices: dict[str, str] = Field(default_factory=dict, max_length=100)
    style: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")

    @model_validator(mode="after")
    def _final_only(self) -> ProductionOptions:
        if self.quality == "final":
            return self
        if self.style is not None:
            raise ValueError("an image style needs 'final' quality")
        neural = [v for v in self.voices.values() if parse_voice(v).needs_model]
        if neural:
            raise ValueError(f"{', '.join(neural)} need 'final' quality (the model voices)")
        return self

    def voice_samples(self) -> set[UUID]:
        """The uploaded samples this render's cloned voices speak with."""
        return {s for v in self.voices.values() if (s := parse_voice(v).sample_id) is not None}

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        for language in value:
            check_choice("languages", language, LANGUAGES)
        return list(dict.fromkeys(value))

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return None if value is None else check_choice("language", value, LANGUAGES)

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str | None) -> str | None:
        return None if value is None else check_choice("aspect_ratio", value, ASPECT_RATIOS)

    @field_validator("voices")
    @classmethod
    def _short_voice_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(k) > MAX_VOICE_NAME or len(v) > MAX_VOICE_NAME for k, v in value.items()):
            raise ValueError(f"character and voice names have at most {MAX_VOICE_NAME} characters")
        for voice in value.values():
            parse_voice(voice)  # says what is wrong with a malformed one
        return value


STATUSES = ("requested", "running", "cancelled", "completed", "failed")
FINISHED = ("cancelled", "completed", "failed")


class Production(Aggregate):
    """One render: requested with its credits reserved, then its stage graph runs unit by unit.

    Completion captures the credits used; failure or cancellation releases them all.
    """

    @classmethod
    def request(
        cls,
        production_id: UUID,
        project: Project,
        options: ProductionOptions,
        credits: int,
        estimated_seconds: float,
    ) -> Production:
        if project.archived:
            raise Conflict("this project is archived")
        if project.revision == 0:
            raise Conflict("this project has no script yet")
        language = options.language or script_language(
            project.script_format, project.script_text, project.language
        )
        foreign = [lang for lang in options.languages if lang != language]
        if options.quality == "draft" and foreign:
            raise Invalid(
                f"subtitles in {', '.join(foreign)} need translation, which only 'final' "
                f"quality offers; draft subtitles are in the script's language ({language})"
            )
        return cls(
            id=production_id,
            project_id=project.id,
            owner_id=project.owner_id,
            revision=project.revision,
            options=options.model_copy(update={"language": language}).model_dump(mode="json"),
            credits=credits,
            estimated_seconds=estimated_seconds,
        )

    @event("Requested")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library takes the aggregate id from here
        project_id: UUID,
        owner_id: UUID,
        revision: int,
        options: dict[str, Any],
        credits: int,
        estimated_seconds: float,
    ) -> None:
        self.project_id = project_id
        self.owner_id = owner_id
        self.revision = revision
        self.options = options
        self.credits = credits
        self.estimated_seconds = estimated_seconds
        self.status = "requested"
        self.cancel_reason = ""
        self.failure = ""
        self.stages: dict[str, StageProgress] = {}
        self.artifacts: dict[str, str] = {}
        self.duration_seconds = 0.0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    # The stage graph

    def ready_stages(self) -> list[str]:
        """Stages not yet started whose needs are all complete (none once finished)."""
        if self.finished:
            return []
        done = {name for name, stage in self.stages.items() if stage.complete}
        return [
            name
            for name, needs in STAGE_NEEDS.items()
            if name not in self.stages and all(n in done for n in needs)
        ]

    def start_stage(
        self,
        stage: str,
        units: list[str],
        now: float,
        deadline_seconds: float,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> bool:
        """Dispatch a ready stage's units; False when it already started (a repeated command)."""
        if stage in self.stages:
            return False
        self._check_running()
        if stage not in self.ready_stages():
            raise Conflict(f"stage {stage} is not ready: it needs {', '.join(STAGE_NEEDS[stage])}")
        if len(set(units)) != len(units):
            raise Invalid(f"stage {stage} needs distinct units")
        if deadline_seconds <= 0 or max_attempts < 1:
            raise Invalid("a stage needs a positive deadline and at least one attempt")
        self._stage_started(stage, units, now, deadline_seconds, max_attempts)
        if not units:  # nothing to do (say, lip sync in a film where nobody speaks on screen)
            self._stage_completed(stage)
        return True

    @event("StageStarted")
    def _stage_started(
        self, stage: str, units: list[str], now: float, deadline_seconds: float, max_attempts: int
    ) -> None:
        self.status = "running"
        self.stages[stage] = StageProgress(
            deadline_seconds, max_attempts, {u: UnitProgress(1, now) for u in units}
        )

    def complete_unit(self, stage: str, unit: str, attempt: int, artifact: str) -> bool:
        """Record a unit's artifact; False for a duplicate or a result after the end."""
        progress = self._unit(stage, unit)
        if progress.status != "running" or self.finished:
            return False
        self._unit_completed(stage, unit, attempt, artifact)
        if self.stages[stage].complete:
            self._stage_completed(stage)
        return True

    @event("UnitCompleted")
    def _unit_completed(self, stage: str, unit: str, attempt: int, artifact: str) -> None:
        progress = self.stages[stage].units[unit]
        progress.status, progress.artifact = "completed", artifact

    @event("StageCompleted")
    def _stage_completed(self, stage: str) -> None:
        pass

    def fail_unit(self, stage: str, unit: str, attempt: int, error: str, now: float) -> str:
        """A unit's attempt failed: retry within the budget, else fail the production.

        Returns "retried", "failed" or "ignored" (stale attempt, duplicate, or finished).
        """
        progress = self._unit(stage, unit)
        if progress.status != "running" or attempt != progress.attempt or self.finished:
            return "ignored"
        error = error[:2000]
        if attempt < self.stages[stage].max_attempts:
            self._unit_retried(stage, unit, attempt + 1, error, now)
            return "retried"
        self._unit_failed(stage, unit, attempt, error)
        self._failed(f"{stage} unit {unit} failed {attempt} times: {error[:500]}")
        return "failed"

    @event("UnitRetried")
    def _unit_retried(self, stage: str, unit: str, attempt: int, error: str, now: float) -> None:
        progress = self.stages[stage].units[unit]
        progress.attempt, progress.dispatched_at, progress.error = attempt, now, error

    @event("UnitFailed")
    def _unit_failed(self, stage: str, unit: str, attempt: int, error: str) -> None:
        progress = self.stages[stage].units[unit]
        progress.status, progress.error = "failed", error

    def ready_units(self, stage: str, waits: Mapping[str, Collection[str]]) -> list[str]:
        """The running units of `stage` that wait for others (`waits`: unit -> the units it
        waits for) and are not released yet, though all they wait for is completed."""
        progress = self.stages[stage].units if stage in self.stages else {}
        return [
            unit
            for unit, deps in waits.items()
            if unit in progress
            and progress[unit].status == "running"
            and not progress[unit].released
            and all(progress[d].status == "completed" for d in deps if d in progress)
        ]

    def release_unit(self, stage: str, unit: str, now: float) -> bool:
        """A unit that waited for others of its stage is dispatched: its deadline runs from
        `now`, not from the stage's start. False when it is not running or already released."""
        progress = self._unit(stage, unit)
        if progress.status != "running" or progress.released or self.finished:
            return False
        self._unit_released(stage, unit, progress.attempt, now)
        return True

    @event("UnitReleased")
    def _unit_released(self, stage: str, unit: str, attempt: int, now: float) -> None:
        progress = self.stages[stage].units[unit]
        progress.dispatched_at, progress.released = now, True

    def overdue_units(
        self, now: float, waits: Mapping[str, Mapping[str, Collection[str]]] | None = None
    ) -> list[tuple[str, str, int]]:
        """(stage, unit, attempt) of running units past their stage's deadline. `waits`
        (stage -> unit -> the units it waits for): a unit that waits is not overdue until it is
        released (`release_unit`), its deadline running from then."""
        if self.finished:
            return []
        waits = waits or {}
        return [
            (name, unit, progress.attempt)
            for name, stage in self.stages.items()
            for unit, progress in stage.units.items()
            if progress.status == "running"
            and (progress.released or unit not in waits.get(name, {}))
            and now - progress.dispatched_at > stage.deadline_seconds
        ]

    def complete(self, artifacts: dict[str, str], duration_seconds: float) -> bool:
        """The film is composed; False when already completed."""
        if self.status == "completed":
            return False
        self._check_running()
        final = self.stages.get(FINAL_STAGE)
        if final is None or not final.complete:
            raise Conflict("the film is not composed yet")
        self._completed(artifacts, duration_seconds)
        return True

    @event("Completed")
    def _completed(self, artifacts: dict[str, str], duration_seconds: float) -> None:
        self.status = "completed"
        self.artifacts = artifacts
        self.duration_seconds = duration_seconds

    def fail(self, reason: str) -> bool:
        """Give up on the production; False when it already failed."""
        if self.status == "failed":
            return False
        self._check_running()
        self._failed(reason[:500])
        return True

    @event("Failed")
    def _failed(self, reason: str) -> None:
        self.status = "failed"
        self.failure = reason

    def _unit(self, stage: str, unit: str) -> UnitProgress:
        try:
            return self.stages[stage].units[unit]
        except KeyError:
            raise NotFound(f"no unit {unit} in stage {stage} of this production") from None

    def _check_running(self) -> None:
        if self.finished:
            raise Conflict(f"this production is already {self.status}")

    def cancel(self, reason: str) -> bool:
        """Stop the production; False when it was already cancelled."""
        if self.status == "cancelled":
            return False
        if self.finished:
            raise Conflict(f"this production is already {self.status}")
        self._cancelled(reason[:500])
        return True

    @event("Cancelled")
    def _cancelled(self, reason: str) -> None:
        self.status = "cancelled"
        self.cancel_reason = reason
