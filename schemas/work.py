"""Messages of the work topics: a unit of stage work, a worker's result, a progress tick.

Each stage's unit carries its own typed inputs (`STAGE_INPUTS`); on the wire they are a plain JSON
object, and their JSON dump is what the unit's artifact key hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from domain.stages import Quality
from domain.storyboard import Character, Line, Mood, MoodSource, Scene, Shot, TimeOfDay, Value

ArtifactKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # see adapters.media.artifact_key
Pixels = Annotated[int, Field(gt=0)]


class UnitInputs(BaseModel):
    """What one unit of a stage computes from (upstream artifacts by their content keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SceneSetting(Value):
    """A scene without its shots and lines: where and when a shot of it happens."""

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
    estimated_seconds: float
    mood_source: MoodSource = "parser"
    locations: list[str] = Field(default_factory=list)
    mentioned: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, scene: Scene) -> SceneSetting:
        """The setting of `scene`."""
        return cls.model_validate(scene.model_dump(exclude={"shots", "lines"}))

    def with_content(self, shots: list[Shot], lines: list[Line]) -> Scene:
        """The scene again, holding `shots` and `lines`."""
        return Scene.model_validate({**self.model_dump(), "shots": shots, "lines": lines})


class ScriptInputs(UnitInputs):
    """script_analysis: the script, its language and the voices cast by the creator."""

    format: Literal["fountain", "plain"]
    text: str
    language: str
    voices: dict[str, str]  # character name -> voice id


class ShotContext(UnitInputs):
    """One shot in its scene, with who appears in it: what drawing its frame needs."""

    scene: SceneSetting
    shot: Shot
    characters: list[Character]  # those of the shot's characters the storyboard casts
    language: str
    width: Pixels
    height: Pixels


class ShotInputs(ShotContext):
    """image_generation: one shot's frame; `style` names a LoRA style (None: the base model)."""

    style: str | None = None


class LineInputs(UnitInputs):
    """voice_synthesis: one line in one voice; `owner` (cloned voices only) is the user whose
    voice sample it speaks with."""

    line: Line
    voice: str
    owner: str | None = Field(default=None, exclude_if=lambda owner: owner is None)


class ScoreInputs(UnitInputs):
    """music: one scene's score."""

    mood: Mood
    seconds: float
    scene: str  # the scene's id


class LipSyncInputs(ShotContext):
    """lip_sync: one speaking shot's frame animated to the speech of its lines."""

    frame: ArtifactKey  # the shot's image_generation artifact
    voices: list[ArtifactKey]  # the voice_synthesis artifacts of the shot's lines, in order


class SubtitlesInputs(UnitInputs):
    """subtitles: the cues of one language, timed by the spoken lines."""

    language: str
    storyboard: ArtifactKey
    voices: dict[str, ArtifactKey]  # line id -> voice_synthesis artifact


class FilmStages(Value):
    """The artifacts composition lays out: each stage's unit id -> artifact key."""

    image_generation: dict[str, ArtifactKey]
    voice_synthesis: dict[str, ArtifactKey]
    music: dict[str, ArtifactKey]
    lip_sync: dict[str, ArtifactKey]
    subtitles: dict[str, ArtifactKey]  # by language


class FilmInputs(UnitInputs):
    """composition: the film of every stage's artifacts."""

    storyboard: ArtifactKey
    stages: FilmStages
    width: Pixels
    height: Pixels
    burn_subtitles: bool
    subtitle_language: str


StageInputs = (
    ScriptInputs
    | ShotInputs
    | LineInputs
    | ScoreInputs
    | LipSyncInputs
    | SubtitlesInputs
    | FilmInputs
)
STAGE_INPUTS: dict[str, type[UnitInputs]] = {
    "script_analysis": ScriptInputs,
    "image_generation": ShotInputs,
    "voice_synthesis": LineInputs,
    "music": ScoreInputs,
    "lip_sync": LipSyncInputs,
    "subtitles": SubtitlesInputs,
    "composition": FilmInputs,
}


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class Traced(Message):
    """A message a production caused: `correlation_id` is the production's (the request's) and
    `causation_id` the id of the event that caused this message."""

    correlation_id: str = ""
    causation_id: str = ""


class WorkUnit(Traced):
    """One unit on `studio.work.<stage>` (`.final` for final quality), keyed by unit id;
    `key` is its artifact's address; `quality` names the backend that computes it. On the wire
    `inputs` is None: the saga claim-checks them into the media store and the worker reads them
    back (`adapters.media.claim_check`, `redeem`), so no creative text travels on Kafka."""

    production_id: UUID
    stage: str
    unit: str
    attempt: int = Field(ge=1)
    quality: Quality
    key: str
    inputs: StageInputs | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_of_the_stage(cls, inputs: Any, info: ValidationInfo) -> UnitInputs | None:
        """Validates the inputs as the model of the unit's stage (`STAGE_INPUTS`)."""
        if inputs is None:
            return None
        stage = info.data.get("stage")
        model = STAGE_INPUTS.get(stage) if isinstance(stage, str) else None
        if model is None:
            raise ValueError(f"no inputs for stage {stage!r}: not one of {', '.join(STAGE_INPUTS)}")
        if isinstance(inputs, UnitInputs) and not isinstance(inputs, model):
            raise ValueError(f"a {stage} unit takes {model.__name__}, not {type(inputs).__name__}")
        return model.model_validate(inputs)


class UnitResult(Traced):
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


class ProgressTick(Traced):
    """Ephemeral progress for live UIs, on `studio.progress`, keyed by production id."""

    production_id: UUID
    stage: str
    unit: str
    status: str  # started | completed | failed | retried | production status
    at: datetime
    detail: str = ""
