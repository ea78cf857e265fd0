"""What each stage's worker computes for one unit with the offline backends.

Each function fills an artifact folder from the unit's inputs; upstream artifacts are read from
the media store by the content keys the saga put in the inputs.
"""

from __future__ import annotations

import json
import wave
import zlib
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from adapters.media import MediaStore
from domain import screenplay
from domain.speech import SpokenLine
from domain.storyboard import Scene, Shot, Storyboard
from domain.voices import parse_voice, voice_for
from gpu_consumers.draft import composition, frames, lipsync, music, subtitles, voices
from gpu_consumers.draft.composition_graph import Timeline, TimelineShot, VoiceClip
from gpu_consumers.draft.timeline import CROSSFADE, in_shot, joined, place
from gpu_consumers.worker import Compute
from schemas.work import (
    FilmInputs,
    LineInputs,
    LipSyncInputs,
    ScoreInputs,
    ScriptInputs,
    ShotContext,
    ShotInputs,
    SubtitlesInputs,
    UnitInputs,
    WorkUnit,
)

STORYBOARD = "storyboard.json"
LINE_AUDIO, LINE_SPEECH = "line.wav", "line.json"
FRAME = "frame.png"
LIPSYNC_CLIP, LIPSYNC_META = "lipsync.mp4", "lipsync.json"
SCORE = "score.wav"
SRT, VTT = "subtitles.srt", "subtitles.vtt"
FILM, THUMBNAIL, FILM_MANIFEST = "film.mp4", "thumbnail.jpg", "film.json"

InputsT = TypeVar("InputsT", bound=UnitInputs)


def inputs_of(unit: WorkUnit, kind: type[InputsT]) -> InputsT:
    """The unit's inputs as `kind`; a TypeError for a unit of a stage that takes other inputs."""
    if not isinstance(unit.inputs, kind):
        raise TypeError(
            f"a {unit.stage} unit has {type(unit.inputs).__name__}, not {kind.__name__}"
        )
    return unit.inputs


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


def _board(media: MediaStore, key: str) -> Storyboard:
    return Storyboard.model_validate_json(media.path(key, STORYBOARD).read_text())


def _speech(media: MediaStore, key: str) -> SpokenLine:
    return SpokenLine.model_validate_json(media.path(key, LINE_SPEECH).read_text())


def _one_shot(inputs: ShotContext) -> tuple[Storyboard, Scene, Shot]:
    """The storyboard as far as one shot's frame needs it."""
    shot = inputs.shot
    scene = inputs.scene.with_content(shots=[shot], lines=[])
    board = Storyboard(
        title="",
        language=inputs.language,
        characters=inputs.characters,
        scenes=[scene],
        estimated_seconds=scene.estimated_seconds,
    )
    return board, scene, shot


def script_analysis(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    i = inputs_of(unit, ScriptInputs)
    board = screenplay.analyse(i.format, i.text, i.language, i.voices or None)
    (out / STORYBOARD).write_text(board.model_dump_json(indent=1))


def image_generation(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    inputs = inputs_of(unit, ShotInputs)
    board, scene, shot = _one_shot(inputs)
    frames.write_frame(board, scene, shot, out / FRAME, inputs.width, inputs.height)


def voice_synthesis(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    inputs = inputs_of(unit, LineInputs)
    line = inputs.line
    voice = parse_voice(inputs.voice)
    if voice.engine == "piper" and line.language != "en":  # the neural voice speaks English
        voice = voice_for(line.language, voice.variant)
    if line.kind == "lyric":  # chanted over a drone
        chant = music.chant([line.text], line.language, out / LINE_AUDIO, seed=_seed(line.id))
        spoken = SpokenLine(
            line_id=line.id,
            voice=voice.id,
            language=line.language,
            text=line.text,
            audio=LINE_AUDIO,
            duration=round(chant.duration, 4),
            words=chant.words,
            phonemes=chant.phonemes,
        )
    else:
        spoken = voices.speak(line.text, line.language, voice.id, out, Path(LINE_AUDIO).stem)
        spoken = spoken.model_copy(update={"line_id": line.id})
    (out / LINE_SPEECH).write_text(spoken.model_dump_json())


def music_score(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    i = inputs_of(unit, ScoreInputs)
    music.score(i.mood, i.seconds, out / SCORE, seed=_seed(i.scene))


def lip_sync(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    inputs = inputs_of(unit, LipSyncInputs)
    board, scene, shot = _one_shot(inputs)
    width, height = inputs.width, inputs.height
    lines = in_shot([_speech(media, key) for key in inputs.voices])
    speech = joined(shot.id, lines)
    mouth = frames.mouths(board, scene, shot, width, height)[shot.speaker or ""]
    frame = media.path(inputs.frame, FRAME)
    lipsync.render_lipsync(frame, mouth, speech, out / LIPSYNC_CLIP)
    meta = {"start": lines[0][0], "box": list(lipsync.mouth_box(mouth, width, height))}
    (out / LIPSYNC_META).write_text(json.dumps(meta))


def placement_inputs(unit: WorkUnit, media: MediaStore) -> tuple[Storyboard, dict[str, SpokenLine]]:
    """The storyboard and each line's speech, for a subtitles or a composition unit."""
    inputs = unit.inputs
    if isinstance(inputs, SubtitlesInputs):
        storyboard, voice_keys = inputs.storyboard, inputs.voices
    else:
        film = inputs_of(unit, FilmInputs)
        storyboard, voice_keys = film.storyboard, film.stages.voice_synthesis
    speech = {line_id: _speech(media, key) for line_id, key in voice_keys.items()}
    return _board(media, storyboard), speech


def subtitles_unit(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    language = inputs_of(unit, SubtitlesInputs).language
    board, speech = placement_inputs(unit, media)
    if language != board.language:
        raise ValueError(f"subtitles in {language} need translation (final quality only)")
    subtitles.write_subtitles(place(board, speech).lines, out / SRT, out / VTT)


def composition_unit(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    inputs = inputs_of(unit, FilmInputs)
    board, speech = placement_inputs(unit, media)
    stages = inputs.stages
    placement = place(board, speech)
    shots = []
    for placed in placement.shots:
        clip_key = stages.lip_sync.get(placed.shot.id)
        extra: dict[str, Any] = {}
        if clip_key:
            meta = json.loads(media.path(clip_key, LIPSYNC_META).read_text())
            extra = {
                "lipsync": media.path(clip_key, LIPSYNC_CLIP),
                "lipsync_start": meta["start"],
                "lipsync_box": tuple(meta["box"]),
            }
        image = media.path(stages.image_generation[placed.shot.id], FRAME)
        shots.append(TimelineShot(image, placed.duration, key=placed.shot.id, **extra))
    clips = [
        VoiceClip(media.path(stages.voice_synthesis[line.line_id], LINE_AUDIO), start)
        for start, line in placement.lines
    ]
    score = _music_track(media, stages.music, placement.scene_spans(), out / "music.wav")
    timeline = Timeline(
        shots, inputs.width, inputs.height, crossfade=CROSSFADE, voices=clips, music=score
    )
    srt_key = stages.subtitles.get(inputs.subtitle_language)
    srt = media.path(srt_key, SRT) if srt_key else None
    mode = "burn" if inputs.burn_subtitles else "track"
    composition.compose(
        timeline, out / FILM, subtitles=srt, subtitle_mode=mode, thumbnail=out / THUMBNAIL
    )
    (out / "music.wav").unlink()
    manifest = {"duration_seconds": placement.duration, "shots": len(shots), "lines": len(clips)}
    (out / FILM_MANIFEST).write_text(json.dumps(manifest))


def _music_track(
    media: MediaStore,
    scores: dict[str, str],
    spans: dict[str, tuple[float, float]],
    path: Path,
) -> Path | None:
    """Each scene's score laid at the scene's place on the timeline, faded at the joins."""
    if not scores:
        return None
    rate = voices.SAMPLE_RATE
    total = max(end for _, end in spans.values())
    track = np.zeros((int(total * rate) + 1, 2), dtype=np.float32)
    fade = int(CROSSFADE * rate)
    for scene_id, (start, end) in spans.items():
        key = scores.get(f"score-{scene_id}")
        if key is None:
            continue
        with wave.open(str(media.path(key, SCORE)), "rb") as wav:
            raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            audio = raw.reshape(-1, wav.getnchannels()).astype(np.float32) / 32767
        if audio.shape[1] == 1:
            audio = np.repeat(audio, 2, axis=1)
        length = min(len(audio), int((end - start) * rate))
        piece = audio[:length].copy()
        ramp = np.linspace(0, 1, min(fade, length), dtype=np.float32)[:, None]
        piece[: len(ramp)] *= ramp
        piece[length - len(ramp) :] *= ramp[::-1]
        at = int(start * rate)
        track[at : at + length] += piece[: len(track) - at]
    return voices.write_wav(path, np.clip(track, -1, 1))


COMPUTE: dict[str, Compute] = {
    "script_analysis": script_analysis,
    "image_generation": image_generation,
    "voice_synthesis": voice_synthesis,
    "music": music_score,
    "lip_sync": lip_sync,
    "subtitles": subtitles_unit,
    "composition": composition_unit,
}
