"""Where every shot and line sits on the film's timeline, from the real speech durations.

Subtitles and composition both place lines with `place()`, so the cues match the sound. A shot
lasts a whole number of frames and at least two crossfades, so every shot starts on a frame and
the crossfade at a join between scenes is always `CROSSFADE` long: a scene's video depends on its
own shots only (composition renders it as a segment of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from domain.film import CROSSFADE, FPS, MIN_SHOT
from domain.speech import PhonemeTiming, SpokenLine, WordTiming
from domain.storyboard import Shot, Storyboard

LEAD_IN = 0.4  # silence before a shot's first line
GAP = 0.3  # between two lines of one shot
TAIL = 0.8  # after a shot's last line (longer than the crossfade into the next shot)


@dataclass(frozen=True)
class PlacedShot:
    shot: Shot
    scene_id: str
    start: float
    duration: float
    lines: list[tuple[float, SpokenLine]]  # film-time start, speech


@dataclass(frozen=True)
class Placement:
    shots: list[PlacedShot]
    duration: float

    @property
    def lines(self) -> list[tuple[float, SpokenLine]]:
        return [placed for shot in self.shots for placed in shot.lines]

    def scene_spans(self) -> dict[str, tuple[float, float]]:
        spans: dict[str, tuple[float, float]] = {}
        for shot in self.shots:
            start, end = spans.get(shot.scene_id, (shot.start, shot.start))
            spans[shot.scene_id] = (min(start, shot.start), max(end, shot.start + shot.duration))
        return spans


def place(board: Storyboard, speech: dict[str, SpokenLine]) -> Placement:
    """Shots follow each other with a crossfade; each lasts as long as its speech needs."""
    placed: list[PlacedShot] = []
    frame, fade = 0, round(CROSSFADE * FPS)  # where the shot starts, in frames
    for scene in board.scenes:
        for shot in scene.shots:
            inside = in_shot([speech[i] for i in shot.line_ids if i in speech])
            duration = shot_seconds(shot.estimated_seconds, inside)
            at = frame / FPS
            lines = [(round(at + offset, 3), line) for offset, line in inside]
            placed.append(PlacedShot(shot, scene.id, round(at, 3), round(duration, 3), lines))
            frame += round(duration * FPS) - fade
    return Placement(placed, round((frame + fade) / FPS, 3) if placed else 0.0)


def shot_seconds(estimated: float, inside: Sequence[tuple[float, SpokenLine]]) -> float:
    """How long a shot lasts: its estimate, or as long as its lines (`in_shot`) need, at least
    `MIN_SHOT`; rounded up to whole frames."""
    needed = inside[-1][0] + inside[-1][1].duration + TAIL if inside else 0.0
    return math.ceil(round(max(estimated, needed, MIN_SHOT) * FPS, 6)) / FPS


def in_shot(spoken: list[SpokenLine]) -> list[tuple[float, SpokenLine]]:
    """Each line's start within its shot: after a lead-in, one after another."""
    placed, cursor = [], LEAD_IN
    for line in spoken:
        placed.append((round(cursor, 3), line))
        cursor += line.duration + GAP
    return placed


def joined(shot_id: str, lines: list[tuple[float, SpokenLine]]) -> SpokenLine:
    """A shot's lines as one speech starting with its first line (for one lip-sync clip)."""
    origin = lines[0][0]
    words: list[WordTiming] = []
    phonemes: list[PhonemeTiming] = []
    for start, line in lines:
        offset = start - origin
        words += [
            w.model_copy(update={"start": w.start + offset, "end": w.end + offset})
            for w in line.words
        ]
        phonemes += [
            p.model_copy(update={"start": p.start + offset, "end": p.end + offset})
            for p in line.phonemes
        ]
    last_start, last = lines[-1]
    return lines[0][1].model_copy(
        update={
            "line_id": shot_id,
            "text": " ".join(line.text for _, line in lines),
            "duration": round(last_start - origin + last.duration, 4),
            "words": words,
            "phonemes": phonemes,
        }
    )
