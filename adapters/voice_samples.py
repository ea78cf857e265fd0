"""Voice samples creators upload to clone a voice from: personal data, so each is stored sealed
under its owner's own key (`KeyStore.seal`) and erased with them (their key is destroyed and their
folder removed). Uploads are decoded by FFmpeg into 24 kHz mono 16-bit WAV, 3 to 60 seconds.

FFmpeg never guesses what an upload is: its container is recognised from its first bytes and only
`FORMATS` are decoded, each with its own demuxer named, fed through a pipe that is the only protocol
FFmpeg may open (so an upload shaped like a playlist can never make it read another file), and
within `DECODE_TIMEOUT_SECONDS`."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from uuid import UUID

from adapters.keystore import KeyStore

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MIN_SECONDS, MAX_SECONDS = 3.0, 60.0
SAMPLE_RATE = 24_000
DECODE_TIMEOUT_SECONDS = 30.0
FORMATS = "wav, flac, ogg/opus, mp3, m4a/mp4, webm"


class SampleRejected(ValueError):
    """The upload is not a usable voice sample; the message says why."""


def container(audio: bytes) -> str | None:
    """FFmpeg's demuxer for the upload's container, from its magic bytes; None when it is none
    of `FORMATS`."""
    head = audio[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mov"  # mp4, m4a, 3gp
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # webm
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _decode(audio: bytes, demuxer: str, timeout_seconds: float) -> bytes:
    """The upload decoded by FFmpeg as 24 kHz mono 16-bit WAV."""
    output = ["-t", str(MAX_SECONDS + 1), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
              "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"]  # fmt: skip
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", demuxer]
    try:
        if demuxer != "mov":
            command += ["-protocol_whitelist", "pipe", "-i", "pipe:0", *output]
            return _run(command, audio, timeout_seconds)
        # mp4 keeps its index anywhere, often at the end, so its demuxer must seek: a file, with
        # references to other files (drefs) off and nothing but that file allowed
        with tempfile.NamedTemporaryFile(suffix=".upload") as upload:
            upload.write(audio)
            upload.flush()
            command += ["-nostdin", "-protocol_whitelist", "file", "-enable_drefs", "0",
                        "-i", f"file:{upload.name}", *output]  # fmt: skip
            return _run(command, None, timeout_seconds)
    except subprocess.TimeoutExpired:
        raise SampleRejected(
            f"the voice sample could not be decoded in time ({timeout_seconds:g} s)"
        ) from None


def _run(command: list[str], stdin: bytes | None, timeout: float) -> bytes:
    decoded = subprocess.run(
        command, input=stdin, capture_output=True, check=False, timeout=timeout
    )
    if decoded.returncode != 0 or len(decoded.stdout) < 64:
        raise SampleRejected("the voice sample is not audio that FFmpeg can read")
    return decoded.stdout


def normalise(audio: bytes, timeout_seconds: float = DECODE_TIMEOUT_SECONDS) -> tuple[bytes, float]:
    """The upload as 24 kHz mono WAV and its duration; SampleRejected says what is wrong."""
    if len(audio) > MAX_UPLOAD_BYTES:
        raise SampleRejected(f"a voice sample is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    demuxer = container(audio)
    if demuxer is None:
        raise SampleRejected(f"a voice sample is one of these formats: {FORMATS}")
    wav = _decode(audio, demuxer, timeout_seconds)
    with wave.open(io.BytesIO(wav)) as reader:
        frames = reader.getnframes()
        if frames == 0x7FFFFFFF or frames <= 0:  # piped WAV headers may leave the size unknown
            frames = (len(wav) - 44) // 2
        seconds = frames / SAMPLE_RATE
        pcm = reader.readframes(frames)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise SampleRejected(
            f"a voice sample lasts {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds, not {seconds:.1f}"
        )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(pcm)
    return out.getvalue(), round(seconds, 3)


class VoiceSampleStore:
    """Sealed samples under `root/<user id>/<sample id>.sealed`."""

    def __init__(self, root: Path, keys: KeyStore) -> None:
        self.root = root
        self.keys = keys

    def _path(self, user_id: UUID, sample_id: UUID) -> Path:
        return self.root / str(user_id) / f"{sample_id}.sealed"

    def save(self, user_id: UUID, sample_id: UUID, wav: bytes) -> None:
        path = self._path(user_id, sample_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_bytes(self.keys.seal(user_id, wav))
        staging.replace(path)

    def load(self, user_id: UUID, sample_id: UUID) -> bytes:
        """The sample's WAV; LookupError when it or its owner's key is gone."""
        path = self._path(user_id, sample_id)
        if not path.is_file():
            raise LookupError(f"voice sample {sample_id} is not stored")
        return self.keys.unseal(user_id, path.read_bytes())

    def delete(self, user_id: UUID, sample_id: UUID) -> None:
        self._path(user_id, sample_id).unlink(missing_ok=True)

    def erase(self, user_id: UUID) -> None:
        shutil.rmtree(self.root / str(user_id), ignore_errors=True)
