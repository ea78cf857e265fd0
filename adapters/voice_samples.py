"""Voice samples creators upload to clone a voice from: personal data, so each is stored sealed
under its owner's own key (`KeyStore.seal`) and erased with them (their key is destroyed and their
folder removed). Uploads are decoded by FFmpeg into 24 kHz mono 16-bit WAV, 3 to 60 seconds."""

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


class SampleRejected(ValueError):
    """The upload is not a usable voice sample; the message says why."""


def normalise(audio: bytes) -> tuple[bytes, float]:
    """The upload as 24 kHz mono WAV and its duration; SampleRejected says what is wrong."""
    if len(audio) > MAX_UPLOAD_BYTES:
        raise SampleRejected(f"a voice sample is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    with tempfile.NamedTemporaryFile(suffix=".upload") as upload:
        upload.write(audio)
        upload.flush()
        decoded = subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", upload.name,
             "-t", str(MAX_SECONDS + 1), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
             "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"],
            capture_output=True,
            check=False,
        )  # fmt: skip
    if decoded.returncode != 0 or len(decoded.stdout) < 64:
        raise SampleRejected("the voice sample is not audio that FFmpeg can read")
    with wave.open(io.BytesIO(decoded.stdout)) as reader:
        frames = reader.getnframes()
        if frames == 0x7FFFFFFF or frames <= 0:  # piped WAV headers may leave the size unknown
            frames = (len(decoded.stdout) - 44) // 2
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
