"""Which units each stage runs for a production, and what each unit's typed inputs are.

Pure: given the storyboard and the artifacts of the stages before, it returns the units. Inputs
name upstream artifacts by their content keys, so a unit's own key changes exactly when
something it depends on changed ("edit one scene, re-render only that scene").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.media import artifact_key
from domain.film import CROSSFADE_FRAMES, FPS
from domain.stages import Quality
from domain.storyboard import Character, Shot, Storyboard
from domain.voices import parse_voice, voice_for
from schemas.work import (
    FilmInputs,
    LineInputs,
    LipSyncInputs,
    PieceShot,
    SceneSetting,
    ScoreInputs,
    ScriptInputs,
    SegmentInputs,
    ShotInputs,
    SoundInputs,
    StageInputs,
    SubtitlesInputs,
)

VERSION = "1"
# A stage whose artifact changed shape gets a version of its own, so keys made before are not
# reused: lip sync clips hold the mouth's box only since version 2 (were the whole frame).
STAGE_VERSIONS = {"lip_sync": "2"}
DEADLINE_SECONDS = {
    "script_analysis": 120.0,
    "image_generation": 120.0,
    "voice_synthesis": 120.0,
    "music": 180.0,
    "lip_sync": 300.0,
    "subtitles": 60.0,
    "composition": 900.0,
}
# A GPU worker's first unit also loads its model (SDXL: several GB from disk), and a language
# model answers at its own pace: model stages get more time in "final" quality.
MODEL_DEADLINE_SECONDS = {
    "script_analysis": 300.0,
    "image_generation": 600.0,
    "voice_synthesis": 300.0,
    "subtitles": 300.0,
}
ORDERED_STAGES = frozenset({"composition"})  # the stages whose units may wait for others (`after`)
RESOLUTIONS = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (1080, 1080)}


Artifacts = dict[str, dict[str, str]]  # stage -> unit id -> artifact key


@dataclass(frozen=True)
class PlannedUnit:
    """One unit: its inputs and the quality of the backend that computes it ("final" units
    run on the final pool's GPU machines)."""

    unit: str
    inputs: StageInputs
    quality: Quality = "draft"
    version: str = VERSION
    owner: str = ""  # the production's owner: artifacts are never shared between users
    after: tuple[str, ...] = ()  # units of the same stage that must complete first

    def key(self, stage: str) -> str:
        """The content address of the unit's artifact: changes exactly when an input does.
        The owner is hashed in too, so erasing a user's artifacts never breaks another's film."""
        inputs = self.inputs.model_dump(mode="json")
        hashed = {"owner": self.owner, "inputs": inputs} if self.owner else inputs
        return artifact_key(stage, self.quality, self.version, hashed)


@dataclass(frozen=True)
class Production:
    """What planning needs to know of one production."""

    script_format: str
    script_text: str
    language: str
    aspect_ratio: str
    languages: list[str]
    burn_subtitles: bool
    voices: dict[str, str]
    quality: Quality = "draft"  # "final" runs the model backends where a stage has one
    style: str | None = None  # a LoRA style of the image model (final only)
    model_revision: str = "1"
    owner_id: str = ""  # whose voice samples cloned voices speak with

    def unit(
        self,
        name: str,
        inputs: StageInputs,
        model: bool = False,
        after: tuple[str, ...] = (),
        version: str = VERSION,
    ) -> PlannedUnit:
        """A final-quality unit when `model` and the production is final quality."""
        if model and self.quality == "final":
            return PlannedUnit(
                name, inputs, "final", f"model-{self.model_revision}", self.owner_id, after
            )
        return PlannedUnit(name, inputs, version=version, owner=self.owner_id, after=after)

    @property
    def size(self) -> tuple[int, int]:
        """The film's width and height in pixels."""
        return RESOLUTIONS[self.aspect_ratio]

    @property
    def subtitle_languages(self) -> list[str]:
        return self.languages or [self.language]


def deadline_seconds(stage: str, quality: str) -> float:
    """How long one unit of the stage may take before it is retried."""
    if quality == "final":
        return MODEL_DEADLINE_SECONDS.get(stage, DEADLINE_SECONDS[stage])
    return DEADLINE_SECONDS[stage]


def plan_script(p: Production) -> list[PlannedUnit]:
    inputs = ScriptInputs.model_validate(
        {
            "format": p.script_format,
            "text": p.script_text,
            "language": p.language,
            "voices": p.voices,
        }
    )
    return [p.unit("script", inputs, model=True)]


def plan_images(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """One frame per shot, in the production's style on the model backend."""
    width, height = p.size
    style = p.style if p.quality == "final" else None
    return [
        p.unit(
            shot.id,
            ShotInputs(
                scene=SceneSetting.of(scene),
                shot=shot,
                characters=_cast(board, shot),
                language=board.language,
                width=width,
                height=height,
                style=style,
            ),
            model=True,
        )
        for scene in board.scenes
        for shot in scene.shots
    ]


def plan_voices(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """One recording per line; a cloned voice carries its owner, chants come from the draft
    music backend."""
    units = []
    for scene in board.scenes:
        for line in scene.lines:
            voice = _voice(board, line.character, p)
            owner = p.owner_id if parse_voice(voice).sample_id is not None else None
            inputs = LineInputs(line=line, voice=voice, owner=owner)
            units.append(p.unit(line.id, inputs, model=line.kind != "lyric"))
    return units


def plan_music(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """One score per scene."""
    return [
        p.unit(
            f"score-{scene.id}",
            ScoreInputs(mood=scene.mood, seconds=scene.estimated_seconds, scene=scene.id),
        )
        for scene in board.scenes
    ]


def plan_lip_sync(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """One clip per shot that someone speaks in, from its frame and its lines' speech."""
    width, height = p.size
    voices, frames = artifacts["voice_synthesis"], artifacts["image_generation"]
    return [
        p.unit(
            shot.id,
            LipSyncInputs(
                frame=frames[shot.id],
                scene=SceneSetting.of(scene),
                shot=shot,
                characters=_cast(board, shot),
                voices=[voices[line_id] for line_id in shot.line_ids],
                language=board.language,
                width=width,
                height=height,
            ),
            version=STAGE_VERSIONS["lip_sync"],
        )
        for scene in board.scenes
        for shot in scene.shots
        if shot.speaker and shot.line_ids
    ]


def plan_subtitles(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """One track per language; only translation needs the language model."""
    return [
        p.unit(
            language,
            SubtitlesInputs(
                language=language,
                storyboard=artifacts["script_analysis"]["script"],
                voices=artifacts["voice_synthesis"],
            ),
            model=language != board.language,
        )
        for language in p.subtitle_languages
    ]


def plan_composition(p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """The film's `sound` and its video in pieces, one per shot (`shot-<shot id>`): the crossfade
    into it from the shot before, then the shot up to the crossfade into the next one, each
    naming only the shots it shows, so an edited shot re-renders its piece and the next one's;
    all at once, then `film`, after them, naming them by their keys."""
    width, height = p.size
    images, voices = artifacts["image_generation"], artifacts["voice_synthesis"]
    lipsync = artifacts["lip_sync"]
    language = p.subtitle_languages[0]
    translated = p.burn_subtitles and language != board.language
    shots = [shot for scene in board.scenes for shot in scene.shots]

    def piece_shot(shot: Shot) -> PieceShot:
        return PieceShot(
            id=shot.id,
            seconds=shot.estimated_seconds,
            image=images[shot.id],
            lipsync=lipsync.get(shot.id),
            voices=[voices[line_id] for line_id in shot.line_ids],
        )

    pieces: list[PlannedUnit] = []
    for i, shot in enumerate(shots):
        piece = SegmentInputs(
            shots=[piece_shot(shot)],
            lead_in=piece_shot(shots[i - 1]) if i > 0 else None,
            head=0,
            tail=CROSSFADE_FRAMES if i < len(shots) - 1 else 0,
            # a translated track is timed on the film: the piece starts after these
            earlier=[piece_shot(s) for s in shots[: max(0, i - 1)]] if translated else [],
            width=width,
            height=height,
            fps=FPS,
            burn=p.burn_subtitles,
            burn_track=artifacts["subtitles"][language] if translated else None,
        )
        pieces.append(p.unit(f"shot-{shot.id}", piece))
    storyboard, music = artifacts["script_analysis"]["script"], artifacts["music"]
    sound = p.unit("sound", SoundInputs(storyboard=storyboard, voices=voices, music=music))
    inputs = FilmInputs(
        storyboard=storyboard,
        pieces=[u.key("composition") for u in pieces],
        sound=sound.key("composition"),
        voices=voices,
        music=music,
        subtitles=artifacts["subtitles"],
        width=width,
        height=height,
        burn_subtitles=p.burn_subtitles,
        subtitle_language=language,
    )
    waits_for = (sound.unit, *(u.unit for u in pieces))
    return [sound, *pieces, p.unit("film", inputs, after=waits_for)]


Planner = Callable[[Production, Storyboard, Artifacts], list[PlannedUnit]]
PLANNERS: dict[str, Planner] = {
    "image_generation": plan_images,
    "voice_synthesis": plan_voices,
    "music": plan_music,
    "lip_sync": plan_lip_sync,
    "subtitles": plan_subtitles,
    "composition": plan_composition,
}


def plan(stage: str, p: Production, board: Storyboard, artifacts: Artifacts) -> list[PlannedUnit]:
    """The units of `stage` after script analysis; `artifacts` maps each completed stage's units
    to their keys."""
    planner = PLANNERS.get(stage)
    if planner is None:
        raise ValueError(f"no planning for stage {stage}")
    return planner(p, board, artifacts)


def _cast(board: Storyboard, shot: Shot) -> list[Character]:
    """The shot's characters that the storyboard casts, in the shot's order."""
    cast = {c.name: c for c in board.characters}
    return [cast[name] for name in shot.characters if name in cast]


def _voice(board: Storyboard, character: str | None, p: Production) -> str:
    if character is None:
        return p.voices.get("NARRATOR") or voice_for(board.language, 0).id
    return board.character(character).voice
