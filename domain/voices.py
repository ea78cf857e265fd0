"""Voice ids: `<engine>:<voice>/<variant>`, e.g. `piper:joe/0` or `espeak:hi/3`.

English speaks through the neural piper voice, other languages through espeak-ng. A variant is
one of VARIANTS presets (pitch and pace) applied by the voice backend, so one model gives every
character a distinct voice. The narrator is variant 0; characters take 1, 2, ... in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

VARIANTS = 8
NEURAL_ENGLISH = ("piper", "joe")
ESPEAK_VOICE = {"sa": "hi"}
OFFLINE_ENGINES = ("piper", "espeak")
MODEL_ENGINES = ("coqui", "clone")
_SPEAKER = re.compile(
    r"[A-Za-z0-9_-]{1,40}"
)  # Sanskrit in Devanagari reads acceptably with the Hindi voice


@dataclass(frozen=True)
class Voice:
    engine: str
    voice: str
    variant: int

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.voice}/{self.variant}"

    @property
    def needs_model(self) -> bool:
        return self.engine in MODEL_ENGINES

    @property
    def sample_id(self) -> UUID | None:
        """The uploaded sample a cloned voice speaks with."""
        return UUID(self.voice) if self.engine == "clone" else None


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
    if engine not in OFFLINE_ENGINES + MODEL_ENGINES or not voice or not variant.isdigit():
        raise ValueError(
            "a voice looks like 'piper:joe/2', 'espeak:hi/1', 'coqui:auto/1' or "
            f"'clone:<sample id>/0', not {voice_id!r}"
        )
    if engine == "coqui" and not _SPEAKER.fullmatch(voice):
        raise ValueError(f"not a speaker name: {voice!r}")
    if engine == "clone":
        try:
            voice = str(UUID(voice))
        except ValueError:
            raise ValueError(f"a cloned voice names its sample id, not {voice!r}") from None
    if int(variant) >= VARIANTS:
        raise ValueError(f"voice variants run from 0 to {VARIANTS - 1}")
    return Voice(engine, voice, int(variant))
