"""Messages of the work topics: a unit of stage work, a worker's result, a progress tick.

Each stage's unit carries its own typed inputs (`STAGE_INPUTS`); on the wire they are a plain JSON
object, and their JSON dump is what the unit's artifact key hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.stages import Quality
from domain.storyboard import Character, Line, Mood, MoodSource, Scene, Shot, TimeOfDay, Value

ArtifactKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # see adapters.media.artifact_key
Pixels = Annotated[int, Field(gt=0)]


class UnitInputs(BaseModel):
    """What one unit of a stage computes from (upstream artifacts by their content keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SceneSetting(Value):
    """A scene without its shots and lines (nor its length, theirs): where and when a shot of it
    happens. A shot's unit depends on this, so editing another line of the scene leaves it be."""

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
    mood_source: MoodSource = "parser"
    locations: list[str] = Field(default_factory=list)
    mentioned: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, scene: Scene) -> SceneSetting:
        """The setting of `scene`."""
        return cls.model_validate(scene.model_dump(exclude={"shots", "lines", "estimated_seconds"}))

    def with_content(self, shots: list[Shot], lines: list[Line]) -> Scene:
        """The scene again, holding `shots` and `lines` (as long as its shots are)."""
        seconds = round(sum(shot.estimated_seconds for shot in shots), 2)
        return Scene.model_validate(
            {**self.model_dump(), "shots": shots, "lines": lines, "estimated_seconds": seconds}
        )


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


class CompositionInputs(UnitInputs):
    """composition: a piece of the film's video, its sound, or the film itself. Validating as
    this base yields the subclass its `kind` names."""

    kind: str

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        if cls is CompositionInputs and not isinstance(obj, CompositionInputs):
            return _COMPOSITION.validate_python(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Any:
        if cls is CompositionInputs:
            return _COMPOSITION.validate_json(json_data, **kwargs)
        return super().model_validate_json(json_data, **kwargs)


class PieceShot(Value):
    """One shot as a piece of video needs it: its id picks the camera move; its duration comes
    from its estimate and the speech of its lines (`timeline.shot_seconds`)."""

    id: str
    seconds: float  # the storyboard's estimate
    image: ArtifactKey
    lipsync: ArtifactKey | None = None
    voices: list[ArtifactKey]  # the voice_synthesis artifacts of its lines, in order


class PieceInputs(CompositionInputs):
    """What every piece of video shares: the frame, and how subtitles are burned in.

    `burn` burns the cues of the piece's own lines (the script's language); with `burn_track`
    (a translated track, final quality) it burns that track instead, placed after the `earlier`
    shots of the film, so every piece depends on every voice in that mode."""

    width: Pixels
    height: Pixels
    fps: Annotated[int, Field(gt=0)] = 30
    burn: bool = False
    burn_track: ArtifactKey | None = None
    earlier: list[PieceShot] = Field(default_factory=list)


class SegmentInputs(PieceInputs):
    """composition, `shot-<shot id>`: the `shots` with the crossfades between them, opened by
    the crossfade into the first from `lead_in` (the shot before, when there is one), less the
    first shot's `head` frames and the last one's `tail` frames, which other pieces show.

    Planning makes one per shot (`lead_in` and `tail`: the crossfades around it), so an edited
    shot re-renders its own piece and the next one's; `segment-<scene id>` units (a scene's shots,
    planned before) are still computed."""

    kind: Literal["segment"] = "segment"
    shots: Annotated[list[PieceShot], Field(min_length=1)]
    lead_in: PieceShot | None = None
    head: Annotated[int, Field(ge=0)]
    tail: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _head_or_lead_in(self) -> SegmentInputs:
        if self.lead_in is not None and self.head:
            raise ValueError("a piece opened by the crossfade from a lead-in has no head to cut")
        return self


class JoinInputs(PieceInputs):
    """composition, `join-<scene id>` (planned before pieces per shot; still computed): the
    `frames`-long crossfade from the last shot of that scene (`before`) into the next scene's
    first shot (`after`)."""

    kind: Literal["join"] = "join"
    before: PieceShot
    after: PieceShot
    frames: Annotated[int, Field(gt=0)]


class SoundInputs(CompositionInputs):
    """composition, `sound`: the film's sound, mastered: voices placed by the storyboard, each
    scene's score under them."""

    kind: Literal["sound"] = "sound"
    storyboard: ArtifactKey
    voices: dict[str, ArtifactKey]  # line id -> voice_synthesis artifact
    music: dict[str, ArtifactKey]  # score unit -> artifact


class FilmInputs(CompositionInputs):
    """composition, `film`: the pieces and the `sound` joined by stream copy, with its subtitle
    track. A film planned before `sound` units (None) mixes its sound itself."""

    kind: Literal["film"] = "film"
    storyboard: ArtifactKey
    pieces: Annotated[list[ArtifactKey], Field(min_length=1)]  # in film order
    sound: ArtifactKey | None = None
    voices: dict[str, ArtifactKey]  # line id -> voice_synthesis artifact
    music: dict[str, ArtifactKey]  # score unit -> artifact
    subtitles: dict[str, ArtifactKey]  # by language
    width: Pixels
    height: Pixels
    burn_subtitles: bool
    subtitle_language: str


_COMPOSITION: TypeAdapter[SegmentInputs | JoinInputs | SoundInputs | FilmInputs] = TypeAdapter(
    Annotated[SegmentInputs | JoinInputs | SoundInputs | FilmInputs, Field(discriminator="kind")]
)

StageInputs = (
    ScriptInputs
    | ShotInputs
    | LineInputs
    | ScoreInputs
    | LipSyncInputs
    | SubtitlesInputs
    | SegmentInputs
    | JoinInputs
    | SoundInputs
    | FilmInputs
)
STAGE_INPUTS: dict[str, type[UnitInputs]] = {
    "script_analysis": ScriptInputs,
    "image_generation": ShotInputs,
    "voice_synthesis": LineInputs,
    "music": ScoreInputs,
    "lip_sync": LipSyncInputs,
    "subtitles": SubtitlesInputs,
    "composition": CompositionInputs,  # as SegmentInputs, JoinInputs, SoundInputs or FilmInputs
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
