"""The storyboard: what script analysis makes of a script, and what every later stage reads.

Pure values (pydantic, JSON-serialisable). Ids are stable for unchanged content, so an edit to one
scene leaves the ids, and so the content-addressed artifacts, of every other scene unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LineKind = Literal["dialogue", "narration", "lyric"]
TimeOfDay = Literal["dawn", "morning", "day", "evening", "dusk", "night", "unknown"]
Mood = Literal["calm", "joyful", "tense", "sad", "devotional", "mysterious", "triumphant"]
MoodSource = Literal["parser", "model"]


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Character(Value):
    """Someone who speaks; `voice` names a backend voice, `seed` keeps their look consistent."""

    name: str
    voice: str
    seed: int
    language: str


class Line(Value):
    """One spoken or chanted unit. `character` is None for the narrator."""

    id: str
    kind: LineKind
    character: str | None
    text: str
    language: str
    parenthetical: str | None = None
    extension: str | None = None  # V.O., O.S., CONT'D ...
    dual: bool = False
    estimated_seconds: float


class Shot(Value):
    """One frame on screen: what is seen, who is in it, which lines play over it."""

    id: str
    description: str
    characters: list[str] = Field(default_factory=list)
    speaker: str | None = None
    line_ids: list[str] = Field(default_factory=list)
    estimated_seconds: float


class Scene(Value):
    id: str
    index: int
    heading: str
    place: str
    interior: bool | None
    time_of_day: TimeOfDay
    mood: Mood
    synopsis: str | None = None
    section: str | None = None
    transition: str | None = None
    shots: list[Shot]
    lines: list[Line]
    estimated_seconds: float
    # Filled by the model backend of script analysis; the offline parser leaves the defaults.
    mood_source: MoodSource = "parser"  # who chose `mood`
    locations: list[str] = Field(default_factory=list)  # places named in the action
    mentioned: list[str] = Field(default_factory=list)  # characters named there who do not speak


class Storyboard(Value):
    title: str
    language: str
    credits: dict[str, str] = Field(default_factory=dict)  # the title page's other keys
    characters: list[Character]
    scenes: list[Scene]
    estimated_seconds: float

    def character(self, name: str) -> Character:
        return next(c for c in self.characters if c.name == name)
