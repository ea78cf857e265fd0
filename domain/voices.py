"""Voice ids: `<engine>:<voice>/<variant>`, e.g. `piper:joe/0` or `espeak:hi/3`.

English speaks through the neural piper voice, other languages through espeak-ng. A variant is
one of VARIANTS presets (pitch and pace) applied by the voice backend, so one model gives every
character a distinct voice. The narrator is variant 0; characters take 1, 2, ... in order.
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = 8
NEURAL_ENGLISH = ("piper", "joe")
ESPEAK_VOICE = {"sa": "hi"}  # Sanskrit in Devanagari reads acceptably with the Hindi voice


@dataclass(frozen=True)
class Voice:
    engine: str
    voice: str
    variant: int

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.voice}/{self.variant}"


def voice_for(language: str, index: int) -> Voice:
    """The default voice of the index-th speaker (0 = narrator) in a language."""
    if language == "en":
        engine, voice = NEURAL_ENGLISH
    else:
        engine, voice = "espeak", ESPEAK_VOICE.get(language, language)
    return Voice(engine, voice, index % VARIANTS)


def parse_voice(voice_id: str) -> Voice:
    """Parse a voice id; ValueError says what is wrong with a bad one."""
    engine, _, rest = voice_id.partition(":")
    voice, _, variant = rest.partition("/")
    if engine not in ("piper", "espeak") or not voice or not variant.isdigit():
        raise ValueError(f"a voice looks like 'piper:joe/2' or 'espeak:hi/1', not {voice_id!r}")
    if int(variant) >= VARIANTS:
        raise ValueError(f"voice variants run from 0 to {VARIANTS - 1}")
    return Voice(engine, voice, int(variant))
