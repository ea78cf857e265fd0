"""The Publication aggregate: one completed film published to its creator's YouTube channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from domain.errors import Conflict
from domain.text import STORABLE_PATTERN, unstorable

PRIVACIES = ("private", "unlisted", "public")
STATES = ("requested", "uploading", "uploaded", "failed")
MAX_ATTEMPTS_RECORDED = 1000
STORABLE: JsonDict = {"pattern": STORABLE_PATTERN}  # the documented form of `_storable`


def _storable(value: str) -> str:
    """The value, unless a store cannot hold it (NUL and other control characters)."""
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def first_publication_id(production_id: UUID) -> UUID:
    """The id of a production's first publication: a second one is refused by the store."""
    return uuid5(NAMESPACE_URL, f"filmstudio:publication:{production_id}")


class PublishOptions(BaseModel):
    """What a creator says about the video: YouTube's limits, checked before anything is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=100, json_schema_extra=STORABLE)
    description: str = Field(default="", max_length=5000, json_schema_extra=STORABLE)
    tags: list[Annotated[str, Field(json_schema_extra=STORABLE)]] = Field(
        default_factory=list, max_length=50
    )
    privacy: Literal["private", "unlisted", "public"] = "private"
    category: str = Field(default="1", pattern=r"^[0-9]{1,3}$")  # 1: Film & Animation
    made_for_kids: bool = False
    publish_at: datetime | None = Field(
        default=None, description="a scheduled release; the video stays private until then"
    )
    republish: bool = Field(
        default=False, description="publish again although this film was published before"
    )

    @field_validator("title", "description")
    @classmethod
    def _no_angle_brackets(cls, value: str) -> str:
        if {"<", ">"} & set(value):
            raise ValueError("YouTube takes no angle brackets in titles and descriptions")
        return _storable(value)

    @field_validator("tags")
    @classmethod
    def _short_tags(cls, value: list[str]) -> list[str]:
        if sum(len(t) for t in value) > 500 or any(not t.strip() for t in value):
            raise ValueError("tags are non-empty and at most 500 characters together")
        for tag in value:
            _storable(tag)
        return value

    @model_validator(mode="after")
    def _scheduled_private(self) -> PublishOptions:
        if self.publish_at is not None:
            if self.publish_at.tzinfo is None:
                raise ValueError("publish_at needs a time zone")
            if self.privacy != "private":
                raise ValueError("a scheduled video is private until publish_at")
        return self


class Publication(Aggregate):
    """Requested for a completed production, then uploaded by the publisher (attempt by
    attempt) or failed for good. The upload session URI is no part of it: it is a capability to
    write to the creator's channel and stays in the publisher's own table."""

    @classmethod
    def request(
        cls,
        publication_id: UUID,
        production_id: UUID,
        owner_id: UUID,
        options: PublishOptions,
        film: str,
        captions: dict[str, str],
    ) -> Publication:
        return cls(
            id=publication_id,
            production_id=production_id,
            owner_id=owner_id,
            title=options.title,
            description=options.description,
            tags=list(options.tags),
            privacy=options.privacy,
            category=options.category,
            made_for_kids=options.made_for_kids,
            publish_at=None if options.publish_at is None else options.publish_at.isoformat(),
            film=film,
            captions=dict(captions),
        )

    @event("Requested")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library takes the aggregate id from here
        production_id: UUID,
        owner_id: UUID,
        title: str,
        description: str,
        tags: list[str],
        privacy: str,
        category: str,
        made_for_kids: bool,
        publish_at: str | None,
        film: str,
        captions: dict[str, str],
    ) -> None:
        self.production_id = production_id
        self.owner_id = owner_id
        self.title = title
        self.description = description
        self.tags = tags
        self.privacy = privacy
        self.category = category
        self.made_for_kids = made_for_kids
        self.publish_at = publish_at
        self.film = film  # the film's artifact key
        self.captions = captions  # language -> subtitles artifact key
        self.state = "requested"
        self.attempts = 0
        self.video_id = ""
        self.url = ""
        self.failure = ""

    @property
    def finished(self) -> bool:
        return self.state in ("uploaded", "failed")

    def start_upload(self) -> int:
        """A new upload attempt (a resumed one counts too); returns its number."""
        self._check_open()
        self._uploading(min(self.attempts + 1, MAX_ATTEMPTS_RECORDED))
        return self.attempts

    @event("Uploading")
    def _uploading(self, attempt: int) -> None:
        self.state = "uploading"
        self.attempts = attempt

    def uploaded(self, video_id: str, url: str, captions: list[str], thumbnail: bool) -> bool:
        """The video is on YouTube with its captions and thumbnail; False when already so."""
        if self.state == "uploaded":
            return False
        self._check_open()
        self._uploaded(video_id, url, captions, thumbnail)
        return True

    @event("Uploaded")
    def _uploaded(self, video_id: str, url: str, captions: list[str], thumbnail: bool) -> None:
        self.state = "uploaded"
        self.video_id = video_id
        self.url = url

    def fail(self, reason: str) -> bool:
        """YouTube refused for good; False when already failed."""
        if self.state == "failed":
            return False
        self._check_open()
        self._failed(reason[:500])
        return True

    @event("Failed")
    def _failed(self, reason: str) -> None:
        self.state = "failed"
        self.failure = reason

    def _check_open(self) -> None:
        if self.finished:
            raise Conflict(f"this publication is already {self.state}")
