"""The Production aggregate: one render of one project revision."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.errors import Conflict, Invalid
from domain.project import ASPECT_RATIOS, LANGUAGES, Project, check_choice

MAX_VOICE_NAME = 64
Quality = Literal["draft", "final"]


class ProductionOptions(BaseModel):
    """What a creator chooses for one render."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quality: Quality = "draft"
    languages: list[str] = Field(default_factory=list, max_length=8)
    aspect_ratio: str | None = None
    burn_subtitles: bool = False
    voices: dict[str, str] = Field(default_factory=dict, max_length=100)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        for language in value:
            check_choice("languages", language, LANGUAGES)
        return list(dict.fromkeys(value))

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str | None) -> str | None:
        return None if value is None else check_choice("aspect_ratio", value, ASPECT_RATIOS)

    @field_validator("voices")
    @classmethod
    def _short_voice_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(k) > MAX_VOICE_NAME or len(v) > MAX_VOICE_NAME for k, v in value.items()):
            raise ValueError(f"character and voice names have at most {MAX_VOICE_NAME} characters")
        return value


STATUSES = ("requested", "cancelled", "completed", "failed")


class Production(Aggregate):
    """Requested with its credits reserved; cancelled releases them."""

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
        foreign = [lang for lang in options.languages if lang != project.language]
        if options.quality == "draft" and foreign:
            raise Invalid(
                f"subtitles in {', '.join(foreign)} need translation, which only 'final' "
                f"quality offers; draft subtitles are in the script's language ({project.language})"
            )
        return cls(
            id=production_id,
            project_id=project.id,
            owner_id=project.owner_id,
            revision=project.revision,
            options=options.model_dump(mode="json"),
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
        options: dict,
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

    @property
    def finished(self) -> bool:
        return self.status != "requested"

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
