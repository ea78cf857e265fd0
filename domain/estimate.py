"""How long a script will run on screen, and what rendering it costs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.fountain import parse_fountain, parse_plain

SPOKEN_WORDS_PER_SECOND = 2.5
ACTION_WORDS_PER_SECOND = 4.0
SECONDS_PER_SCENE = 3.0
MINIMUM_SECONDS = 5.0
QUALITY_MULTIPLIER = {"draft": 1, "final": 4}
SPOKEN = ("dialogue", "lyric")
SHOWN = ("action", "centered")


@dataclass(frozen=True)
class Estimate:
    seconds: float
    credits: int


def estimate_seconds(script_format: str, text: str) -> float:
    """Screen time: dialogue read aloud, action shown, plus a beat per scene. Scenes are the
    parser's (`domain.fountain`), so the estimate and the storyboard agree on where scenes are."""
    elements = parse_plain(text) if script_format == "plain" else parse_fountain(text)
    spoken = shown = 0
    scenes = 0
    for element in elements:
        words = len(element.text.split())
        if element.kind == "scene_heading":
            scenes += 1
        elif element.kind in SPOKEN or script_format == "plain":  # plain text is narrated
            spoken += words
        elif element.kind in SHOWN:
            shown += words
    seconds = (
        spoken / SPOKEN_WORDS_PER_SECOND
        + shown / ACTION_WORDS_PER_SECOND
        + max(scenes, 1) * SECONDS_PER_SCENE
    )
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
