"""What voice synthesis reports of a spoken line: its duration and the timings inside it.

Voice synthesis writes these; lip sync turns the phonemes into mouth shapes and subtitles turn
the words into cues. Times are seconds from the start of the line's audio; phonemes are IPA.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Timed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float
    end: float


class WordTiming(Timed):
    text: str


class PhonemeTiming(Timed):
    phoneme: str


class SpokenLine(BaseModel):
    """One line's speech; `audio` names its WAV (48 kHz; speech mono, chant stereo) alongside."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: str
    voice: str
    language: str
    text: str
    audio: str
    duration: float
    words: list[WordTiming]
    phonemes: list[PhonemeTiming]
