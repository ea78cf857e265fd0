"""Uploaded voice samples are decoded, bounded and refused with a reason; cues keep timings."""

from __future__ import annotations

import io
import subprocess
import wave

import pytest

from adapters.voice_samples import SAMPLE_RATE, SampleRejected, normalise
from gpu_consumers.draft.subtitles import Cue, retext


def encoded(seconds: float, codec: str = "pcm_s16le", fmt: str = "wav") -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", f"sine=frequency=180:sample_rate=44100:duration={seconds}",
         "-ac", "2", "-c:a", codec, "-f", fmt, "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.parametrize(("codec", "fmt"), [("pcm_s16le", "wav"), ("libmp3lame", "mp3")])
def test_any_audio_ffmpeg_reads_becomes_24_khz_mono_wav(codec, fmt):
    wav, seconds = normalise(encoded(4.0, codec, fmt))
    with wave.open(io.BytesIO(wav)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (1, SAMPLE_RATE)
        assert abs(reader.getnframes() / SAMPLE_RATE - seconds) < 0.01
    assert 3.9 <= seconds <= 4.2


@pytest.mark.parametrize(
    ("audio", "reason"),
    [(b"not audio at all", "FFmpeg"), (b"", "FFmpeg")],
)
def test_what_is_not_audio_is_refused_with_a_reason(audio, reason):
    with pytest.raises(SampleRejected, match=reason):
        normalise(audio)


def test_too_short_and_too_long_samples_are_refused():
    with pytest.raises(SampleRejected, match="3 to 60 seconds, not 1.0"):
        normalise(encoded(1.0))
    with pytest.raises(SampleRejected, match="3 to 60 seconds"):
        normalise(encoded(75.0))


def test_translated_cues_keep_their_timings_and_fit_two_lines():
    cues = [Cue(0, 1500, ("Light it again,", "before the bells.")), Cue(1600, 2400, ("Yes.",))]
    long = "यह एक बहुत लंबा अनुवाद है जो एक पंक्ति में नहीं समाएगा और इसलिए दो पंक्तियों में टूटेगा"
    out = retext(cues, [long, "हाँ।"])
    assert [(c.start_ms, c.end_ms) for c in out] == [(0, 1500), (1600, 2400)]
    assert len(out[0].lines) == 2 and " ".join(out[0].lines) == long
    assert out[1].lines == ("हाँ।",)
