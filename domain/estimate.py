"""How long a script will run on screen, and what rendering it costs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SPOKEN_WORDS_PER_SECOND = 2.5
ACTION_WORDS_PER_SECOND = 4.0
SECONDS_PER_SCENE = 3.0
MINIMUM_SECONDS = 5.0
QUALITY_MULTIPLIER = {"draft": 1, "final": 4}

_SCENE_HEADING = re.compile(r"^(\.(?=[A-Za-z])|(INT|EXT|EST|INT\./EXT|I/E)[. ])", re.IGNORECASE)
_CHARACTER = re.compile(r"^[A-Z][A-Z0-9 ._'\-]*(\(.*\))?\s*\^?$")


@dataclass(frozen=True)
class Estimate:
    seconds: float
    credits: int


def estimate_seconds(script_format: str, text: str) -> float:
    """Screen time: dialogue read aloud, action shown, plus a beat per scene."""
    words = 0.0
    seconds = 0.0
    scenes = 0
    in_dialogue = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_dialogue = False
            continue
        count = len(line.split())
        if script_format == "fountain" and _SCENE_HEADING.match(line):
            scenes += 1
        elif script_format == "fountain" and _CHARACTER.match(line) and not in_dialogue:
            in_dialogue = True
        elif script_format == "plain" or in_dialogue:
            words += count
        else:
            seconds += count / ACTION_WORDS_PER_SECOND
    if script_format == "plain":
        scenes = max(1, len([p for p in re.split(r"\n\s*\n", text) if p.strip()]))
    seconds += words / SPOKEN_WORDS_PER_SECOND + scenes * SECONDS_PER_SCENE
    return round(max(seconds, MINIMUM_SECONDS), 1)


def credits_for(seconds: float, credits_per_minute: int, quality: str = "draft") -> int:
    """Credits are charged per started minute of film, scaled by quality."""
    return math.ceil(seconds / 60) * credits_per_minute * QUALITY_MULTIPLIER[quality]


def estimate(
    script_format: str, text: str, credits_per_minute: int, quality: str = "draft"
) -> Estimate:
    """What a script will cost to render, before it is rendered."""
    seconds = estimate_seconds(script_format, text)
    return Estimate(seconds=seconds, credits=credits_for(seconds, credits_per_minute, quality))
