"""Which units each stage runs for a production, and what each unit's inputs are.

Pure: given the storyboard and the artifacts of the stages before, it returns the units. Inputs
name upstream artifacts by their content keys, so a unit's own key changes exactly when
something it depends on changed ("edit one scene, re-render only that scene").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.media import artifact_key
from domain.stages import Quality
from domain.storyboard import Storyboard
from domain.voices import parse_voice, voice_for

VERSION = "1"
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
RESOLUTIONS = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (1080, 1080)}


@dataclass(frozen=True)
class PlannedUnit:
    """One unit: its inputs and the quality of the backend that computes it ("final" units
    run on the final pool's GPU machines)."""

    unit: str
    inputs: dict[str, Any]
    quality: Quality = "draft"
    version: str = VERSION

    def key(self, stage: str) -> str:
        return artifact_key(stage, self.quality, self.version, self.inputs)


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

    def unit(self, name: str, inputs: dict[str, Any], model: bool = False) -> PlannedUnit:
        """A final-quality unit when `model` and the production is final quality."""
        if model and self.quality == "final":
            return PlannedUnit(name, inputs, "final", f"model-{self.model_revision}")
        return PlannedUnit(name, inputs)


def deadline_seconds(stage: str, quality: str) -> float:
    """How long one unit of the stage may take before it is retried."""
    if quality == "final":
        return MODEL_DEADLINE_SECONDS.get(stage, DEADLINE_SECONDS[stage])
    return DEADLINE_SECONDS[stage]


def plan_script(p: Production) -> list[PlannedUnit]:
    inputs = {
        "format": p.script_format,
        "text": p.script_text,
        "language": p.language,
        "voices": p.voices,
    }
    return [p.unit("script", inputs, model=True)]


def plan(
    stage: str,
    p: Production,
    board: Storyboard,
    artifacts: dict[str, dict[str, str]],
) -> list[PlannedUnit]:
    """The units of `stage`; `artifacts` maps each completed stage's units to their keys."""
    width, height = RESOLUTIONS[p.aspect_ratio]
    characters = {c.name: c.model_dump(mode="json") for c in board.characters}
    if stage == "image_generation":
        style = {"style": p.style} if p.quality == "final" else {}
        return [
            p.unit(
                shot.id,
                {
                    "scene": scene.model_dump(mode="json", exclude={"shots", "lines"}),
                    "shot": shot.model_dump(mode="json"),
                    "characters": [characters[n] for n in shot.characters if n in characters],
                    "language": board.language,
                    "width": width,
                    "height": height,
                    **style,
                },
                model=True,
            )
            for scene in board.scenes
            for shot in scene.shots
        ]
    if stage == "voice_synthesis":
        units = []
        for scene in board.scenes:
            for line in scene.lines:
                voice = _voice(board, line.character, p)
                inputs = {"line": line.model_dump(mode="json"), "voice": voice}
                if parse_voice(voice).sample_id is not None:
                    inputs["owner"] = p.owner_id
                # chants come from the draft music backend
                units.append(p.unit(line.id, inputs, model=line.kind != "lyric"))
        return units
    if stage == "music":
        units = []
        for scene in board.scenes:
            units.append(
                PlannedUnit(
                    f"score-{scene.id}",
                    {"mood": scene.mood, "seconds": scene.estimated_seconds, "scene": scene.id},
                )
            )
        return units
    if stage == "lip_sync":
        voices = artifacts["voice_synthesis"]
        frames = artifacts["image_generation"]
        return [
            PlannedUnit(
                shot.id,
                {
                    "frame": frames[shot.id],
                    "scene": scene.model_dump(mode="json", exclude={"shots", "lines"}),
                    "shot": shot.model_dump(mode="json"),
                    "characters": [characters[n] for n in shot.characters if n in characters],
                    "voices": [voices[line_id] for line_id in shot.line_ids],
                    "language": board.language,
                    "width": width,
                    "height": height,
                },
            )
            for scene in board.scenes
            for shot in scene.shots
            if shot.speaker and shot.line_ids
        ]
    if stage == "subtitles":
        return [
            p.unit(
                language,
                {
                    "language": language,
                    "storyboard": artifacts["script_analysis"]["script"],
                    "voices": artifacts["voice_synthesis"],
                },
                model=language != board.language,  # translated by the language model
            )
            for language in (p.languages or [p.language])
        ]
    if stage == "composition":
        return [
            PlannedUnit(
                "film",
                {
                    "storyboard": artifacts["script_analysis"]["script"],
                    "stages": {
                        s: artifacts[s]
                        for s in (
                            "image_generation",
                            "voice_synthesis",
                            "music",
                            "lip_sync",
                            "subtitles",
                        )
                    },
                    "width": width,
                    "height": height,
                    "burn_subtitles": p.burn_subtitles,
                    "subtitle_language": (p.languages or [p.language])[0],
                },
            )
        ]
    raise ValueError(f"no planning for stage {stage}")


def _voice(board: Storyboard, character: str | None, p: Production) -> str:
    if character is None:
        return p.voices.get("NARRATOR") or voice_for(board.language, 0).id
    return board.character(character).voice
