"""Test audio: a WAV of a quiet 220 Hz tone (what a voice-sample upload needs)."""

from __future__ import annotations

import io
import wave

import numpy as np


def tone(seconds: float = 4.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV of a quiet 220 Hz tone."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm.tobytes())
    return out.getvalue()
