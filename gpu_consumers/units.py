"""What each stage's worker computes for one unit with the offline backends.

Each function fills an artifact folder from the unit's inputs; upstream artifacts are read from
the media store by the content keys the saga put in the inputs.
"""

from __future__ import annotations

import json
import wave
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from adapters.media import MediaStore
from domain import screenplay
from domain.film import CROSSFADE, CROSSFADE_FRAMES
from domain.speech import SpokenLine
from domain.storyboard import Scene, Shot, Storyboard
from domain.voices import parse_voice, voice_for
from gpu_consumers.draft import (
    composition,
    frames,
    lipsync,
    music,
    piper_voice,
    subtitles,
    voices,
)
from gpu_consumers.draft.composition_graph import (
    Timeline,
    TimelineShot,
    VoiceClip,
    film_frames,
    frames_of,
    shot_starts,
)
from gpu_consumers.draft.timeline import in_shot, joined, place, shot_seconds
from gpu_consumers.worker import Compute
from schemas.work import (
    FilmInputs,
    JoinInputs,
    LineInputs,
    LipSyncInputs,
    PieceShot,
    ScoreInputs,
    ScriptInputs,
    SegmentInputs,
    ShotContext,
    ShotInputs,
    SoundInputs,
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
PIECE, PIECE_MANIFEST = "piece.mp4", "piece.json"
SOUND = "sound.m4a"

InputsT = TypeVar("InputsT", bound=UnitInputs)
Timed = tuple[TimelineShot, list[tuple[float, SpokenLine]]]  # a shot and its lines in it


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
    """The storyboard and each line's speech, for a subtitles, sound or film unit."""
    inputs = unit.inputs
    if not isinstance(inputs, SubtitlesInputs | SoundInputs | FilmInputs):
        raise TypeError(f"a {unit.stage} unit places no lines")
    speech = {line_id: _speech(media, key) for line_id, key in inputs.voices.items()}
    return _board(media, inputs.storyboard), speech


def subtitles_unit(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    language = inputs_of(unit, SubtitlesInputs).language
    board, speech = placement_inputs(unit, media)
    if language != board.language:
        raise ValueError(f"subtitles in {language} need translation (final quality only)")
    subtitles.write_subtitles(place(board, speech).lines, out / SRT, out / VTT)


def composition_unit(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """A piece of the film's video (a shot's, a segment or a join), its sound, or the film."""
    if isinstance(unit.inputs, SegmentInputs | JoinInputs):
        _piece(unit.inputs, media, out)
    elif isinstance(unit.inputs, SoundInputs):
        _sound(unit, media, out)
    else:
        _film(unit, media, out)


def _timed(
    shot: PieceShot, media: MediaStore
) -> tuple[TimelineShot, list[tuple[float, SpokenLine]]]:
    """The shot on a timeline (as long as its speech needs) and its lines, timed in the shot."""
    inside = in_shot([_speech(media, key) for key in shot.voices])
    extra: dict[str, Any] = {}
    if shot.lipsync:
        meta = json.loads(media.path(shot.lipsync, LIPSYNC_META).read_text())
        extra = {
            "lipsync": media.path(shot.lipsync, LIPSYNC_CLIP),
            "lipsync_start": meta["start"],
            "lipsync_box": tuple(meta["box"]),
        }
    image = media.path(shot.image, FRAME)
    return TimelineShot(image, shot_seconds(shot.seconds, inside), key=shot.id, **extra), inside


def _piece(inputs: SegmentInputs | JoinInputs, media: MediaStore, out: Path) -> None:
    """Frames of the film's video: a shot (or a scene) opened by the crossfade into it, less
    what the next piece shows; or the crossfade of a join."""
    if isinstance(inputs, SegmentInputs):
        lead_in = [inputs.lead_in] if inputs.lead_in is not None else []
        shots = [*lead_in, *inputs.shots]
    else:
        shots = [inputs.before, inputs.after]
    timed = [_timed(shot, media) for shot in shots]
    timeline = Timeline(
        [t for t, _ in timed], inputs.width, inputs.height, fps=inputs.fps, crossfade=CROSSFADE
    )
    fps, lengths = inputs.fps, [frames_of(t.duration, inputs.fps) for t, _ in timed]
    if min(lengths) < 2 * CROSSFADE_FRAMES:
        raise ValueError(f"shots of {lengths} frames: each needs two crossfades")
    if isinstance(inputs, SegmentInputs):  # a lead-in shows only its crossfade
        head = lengths[0] - CROSSFADE_FRAMES if lead_in else inputs.head
        tail = inputs.tail
    else:
        head, tail = lengths[0] - inputs.frames, lengths[1] - inputs.frames
    srt, offset = None, head / fps
    if inputs.burn and inputs.burn_track is not None:  # a translated track, on the film's time
        earlier = [frames_of(_timed(s, media)[0].duration, fps) for s in inputs.earlier]
        offset += (sum(earlier) - CROSSFADE_FRAMES * len(earlier)) / fps
        srt = media.path(inputs.burn_track, SRT)
    elif inputs.burn:  # the cues of the piece's own lines
        placed = [
            (round(start + offset_in_shot, 3), line)
            for start, (_, inside) in zip(shot_starts(timeline), timed, strict=True)
            for offset_in_shot, line in inside
        ]
        if placed:
            srt = out / "piece.srt"
            subtitles.write_cues(subtitles.build_cues(placed), srt, out / "piece.vtt")
    frames = composition.render_piece(
        timeline, out / PIECE, head=head, tail=tail, subtitles=srt, subtitle_offset=offset
    )
    (out / PIECE_MANIFEST).write_text(json.dumps({"frames": frames, "fps": fps}))


def _sound_timeline(unit: WorkUnit, media: MediaStore, scores: dict[str, str] | None,
                    out: Path) -> tuple[Timeline, float]:  # fmt: skip
    """The film's timeline for its sound (the shots' lengths, the voices placed and, with
    `scores`, their music laid out in `out`) and its length in seconds; pictures come in pieces."""
    inputs = unit.inputs
    assert isinstance(inputs, SoundInputs | FilmInputs)
    placement = place(*placement_inputs(unit, media))
    shots = [TimelineShot(Path(), placed.duration) for placed in placement.shots]
    clips = [
        VoiceClip(media.path(inputs.voices[line.line_id], LINE_AUDIO), start)
        for start, line in placement.lines
    ]
    music = (
        _music_track(media, scores, placement.scene_spans(), out / "music.wav")
        if scores is not None
        else None
    )
    timeline = Timeline(shots, 0, 0, crossfade=CROSSFADE, voices=clips, music=music)  # sound only
    return timeline, placement.duration


def _sound(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """The film's sound, mastered: made while the pieces render."""
    inputs = unit.inputs
    assert isinstance(inputs, SoundInputs | FilmInputs)
    timeline, _ = _sound_timeline(unit, media, inputs.music, out)
    composition.sound(timeline, out / SOUND)
    if timeline.music is not None:
        timeline.music.unlink()


def _film(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """The pieces and the sound joined, with the film's subtitle track."""
    inputs = inputs_of(unit, FilmInputs)
    timeline, duration = _sound_timeline(unit, media, None, out)
    pieces = [
        (media.path(key, PIECE), json.loads(media.path(key, PIECE_MANIFEST).read_text())["frames"])
        for key in inputs.pieces
    ]
    frames = sum(count for _, count in pieces)
    if frames != film_frames(timeline):
        raise ValueError(f"the pieces hold {frames} frames, the film {film_frames(timeline)}")
    if inputs.sound is not None:
        track = media.path(inputs.sound, SOUND)
    else:  # a film planned before sound units mixes its own
        _sound(unit, media, out)
        track = out / SOUND
    srt_key = inputs.subtitles.get(inputs.subtitle_language)
    srt = media.path(srt_key, SRT) if srt_key and not inputs.burn_subtitles else None
    composition.join(
        pieces, timeline, out / FILM, track=track, subtitles=srt, thumbnail=out / THUMBNAIL
    )
    if inputs.sound is None:
        track.unlink()
    manifest = {
        "duration_seconds": duration,
        "shots": len(timeline.shots),
        "lines": len(timeline.voices),
    }
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


def warm_up(stages: Iterable[str]) -> None:
    """Load what the stages' backends load once per process (the piper voice model, ~0.7 s),
    as a worker does when it starts, so that its first unit does not wait for it."""
    if "voice_synthesis" in stages:
        piper_voice.load()


COMPUTE: dict[str, Compute] = {
    "script_analysis": script_analysis,
    "image_generation": image_generation,
    "voice_synthesis": voice_synthesis,
    "music": music_score,
    "lip_sync": lip_sync,
    "subtitles": subtitles_unit,
    "composition": composition_unit,
}
