"""Uploaded voice samples are decoded, bounded and refused with a reason; cues keep timings."""

from __future__ import annotations

import io
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

from adapters.voice_samples import SAMPLE_RATE, SampleRejected, container, normalise
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
    [
        (b"not audio at all", "one of these formats: wav, flac"),
        (b"", "one of these formats"),
        (b"RIFF\x00\x00\x00\x00WAVEbroken", "not audio that FFmpeg can read"),
    ],
)
def test_what_is_not_audio_is_refused_with_a_reason(audio, reason):
    with pytest.raises(SampleRejected, match=reason):
        normalise(audio)


@pytest.mark.parametrize(
    ("codec", "fmt", "demuxer"),
    [("flac", "flac", "flac"), ("libopus", "ogg", "ogg"), ("libopus", "webm", "matroska"),
     ("libmp3lame", "mp3", "mp3"), ("aac", "ipod", "mov")],
)  # fmt: skip
def test_each_allowed_container_is_recognised_and_decoded(codec, fmt, demuxer):
    audio = encoded(4.0, codec, fmt) if fmt != "ipod" else m4a(4.0)
    assert container(audio) == demuxer
    assert 3.9 <= normalise(audio)[1] <= 4.2


def m4a(seconds: float) -> bytes:
    """An m4a as phones write it: its index (moov) after the audio, so reading it must seek."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "voice.m4a"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
             "-i", f"sine=frequency=180:sample_rate=44100:duration={seconds}",
             "-c:a", "aac", str(path)],
            check=True,
        )  # fmt: skip
        return path.read_bytes()


def test_a_playlist_shaped_upload_never_opens_a_local_file(tmp_path):
    secret = tmp_path / "secret.wav"
    secret.write_bytes(encoded(4.0))  # audio FFmpeg would happily decode, were it opened
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:{secret}\n#EXT-X-ENDLIST\n"
    assert container(playlist.encode()) is None
    with pytest.raises(SampleRejected, match="one of these formats"):
        normalise(playlist.encode())
    disguised = b"RIFF\x00\x00\x00\x00WAVE" + playlist.encode()  # wav magic, playlist inside
    with pytest.raises(SampleRejected, match="not audio that FFmpeg can read"):
        normalise(disguised)


def test_a_decode_that_takes_too_long_is_refused():
    with pytest.raises(SampleRejected, match="could not be decoded in time"):
        normalise(encoded(4.0), timeout_seconds=1e-6)


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
