"""Offline voice synthesis: one entry, `speak`, dispatching a voice id to its engine.

`piper:joe/<variant>` speaks English through the neural piper voice (piper_voice.py);
`espeak:<voice>/<variant>` speaks any language espeak-ng has a voice for (espeak.py). A variant
picks one of PRESETS (pitch, pace, espeak timbre), so one model gives every character a voice.

This module also holds what both engines share: the `Speech` they return, 48 kHz resampling and
WAV writing. The engines are imported inside `speak`, so loading one never loads the other.
"""

from __future__ import annotations

import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from domain.speech import PhonemeTiming, SpokenLine, WordTiming
from domain.voices import ESPEAK_VOICE, VARIANTS, parse_voice

SAMPLE_RATE = 48_000
PEAK = 10 ** (-1 / 20)  # speech is written peak-normalised to -1 dBFS


@dataclass(frozen=True)
class Preset:
    """A variant's voice: pitch in semitones from the voice's own, pace as a speed factor
    (1.1 = 10 % faster) and, for espeak, a timbre variant (`f3`: female, `m3`: male, ...)."""

    pitch: float
    pace: float
    timbre: str


PRESETS: tuple[Preset, ...] = (
    Preset(0.0, 1.00, ""),  # the narrator
    Preset(3.0, 0.95, "f3"),
    Preset(-2.0, 1.05, "m3"),
    Preset(5.0, 1.10, "f2"),
    Preset(-4.0, 0.90, "m7"),
    Preset(1.5, 1.15, "f4"),
    Preset(-1.0, 0.85, "m2"),
    Preset(4.0, 1.00, "f1"),
)
assert len(PRESETS) == VARIANTS


@dataclass(frozen=True)
class Speech:
    """Synthesised speech: mono float samples at SAMPLE_RATE and the timings inside them."""

    samples: np.ndarray
    words: list[WordTiming]
    phonemes: list[PhonemeTiming]

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def resample(samples: np.ndarray, rate: float, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling (libsoxr); `rate` may be fractional (a pitch shift reads the
    samples at a rate they were not made at)."""
    if len(samples) == 0:
        return np.zeros(0, dtype=np.float32)
    return soxr.resample(samples.astype(np.float32), rate, to_rate, quality="VHQ")


def peak_normalise(samples: np.ndarray, peak: float = PEAK) -> np.ndarray:
    top = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return samples if top < 1e-9 else (samples * (peak / top)).astype(np.float32)


def word_text(token: str) -> str:
    """A whitespace token of a line without the punctuation around it (`“lamp”,` -> `lamp`)."""
    keep = [unicodedata.category(c)[0] not in "PS" for c in token]
    if not any(keep):
        return ""
    first, last = keep.index(True), len(keep) - keep[::-1].index(True)
    return token[first:last]


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit PCM WAV; `samples` is (n,) mono or (n, channels), floats in [-1, 1]."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    pcm = np.clip(np.round(frames * 32767), -32767, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def speak(line_text: str, language: str, voice_id: str, out_dir: Path, line_id: str) -> SpokenLine:
    """Speak a line in a voice; writes `<line_id>.wav` (48 kHz mono) into out_dir.

    ValueError says why when the voice id is malformed, the engine has no such voice, or the
    voice does not speak the language.
    """
    voice = parse_voice(voice_id)
    preset = PRESETS[voice.variant]
    if not line_text.strip():
        raise ValueError(f"line {line_id!r} has no text to speak")
    if not line_id or "/" in line_id or "\\" in line_id or line_id.startswith("."):
        raise ValueError(f"a line id names a file in out_dir, not {line_id!r}")
    if voice.engine == "piper":
        from gpu_consumers.draft import piper_voice

        if language != "en" or voice.voice != piper_voice.VOICE:
            raise ValueError(
                f"piper has only the English voice {piper_voice.VOICE!r}, "
                f"not {voice.voice!r} for language {language!r}"
            )
        speech = piper_voice.synthesise(line_text, pitch=preset.pitch, pace=preset.pace)
    else:
        from gpu_consumers.draft import espeak

        expected = ESPEAK_VOICE.get(language, language)
        if voice.voice.split("-")[0] != expected.split("-")[0]:
            raise ValueError(f"espeak voice {voice.voice!r} does not speak language {language!r}")
        speech = espeak.synthesise(
            line_text, voice.voice, pitch=preset.pitch, pace=preset.pace, timbre=preset.timbre
        )
    return save(speech, out_dir, line_id, line_id, voice.id, language, line_text)


def save(
    speech: Speech, out_dir: Path, name: str, line_id: str, voice_id: str, language: str, text: str
) -> SpokenLine:
    """Write the speech as `<name>.wav` into out_dir; what it says of itself."""
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = write_wav(out_dir / f"{name}.wav", speech.samples)
    return SpokenLine(
        line_id=line_id,
        voice=voice_id,
        language=language,
        text=text,
        audio=audio.name,
        duration=round(speech.duration, 4),
        words=speech.words,
        phonemes=speech.phonemes,
    )
