"""The media store: content-addressed artifacts (a folder of files per key).

A key hashes the stage, the backend and its version, and the unit's inputs, so an unchanged unit
is found instead of recomputed. `LocalMediaStore` keeps artifacts on the local filesystem; an S3
store implements the same interface at scale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

KEY_LENGTH = 64


def artifact_key(stage: str, backend: str, version: str, inputs: Any) -> str:
    """The content address of a unit's artifact."""
    canonical = json.dumps(
        {"stage": stage, "backend": backend, "version": version, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if len(key) != KEY_LENGTH or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"not an artifact key: {key!r}")
    return key


class MediaStore(Protocol):
    def exists(self, key: str) -> bool: ...

    def path(self, key: str, name: str) -> Path:
        """A local path of one file of an artifact (downloaded first where remote)."""
        ...

    def writing(self, key: str) -> Any:
        """A context manager giving a folder to fill; it becomes the artifact atomically."""
        ...


class LocalMediaStore:
    """Artifacts under `root/<key[:2]>/<key>/`; a finished artifact never changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _folder(self, key: str) -> Path:
        return self.root / check_key(key)[:2] / key

    def exists(self, key: str) -> bool:
        return self._folder(key).is_dir()

    def path(self, key: str, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a file name: {name!r}")
        path = self._folder(key) / name
        if not path.is_file():
            raise FileNotFoundError(f"artifact {key} has no {name}")
        return path

    def names(self, key: str) -> list[str]:
        return sorted(p.name for p in self._folder(key).iterdir())

    def sweep_staging(self, older_than_seconds: float = 3600.0) -> int:
        """Remove staging folders a killed writer left behind; returns how many."""
        cutoff = time.time() - older_than_seconds
        stale = [
            folder
            for folder in self.root.glob("??/.*-*")
            if folder.is_dir() and folder.stat().st_mtime < cutoff
        ]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        return len(stale)

    @contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """Fill the yielded folder; on success it is renamed into place (first writer wins)."""
        final = self._folder(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
        try:
            yield staging
            for file in staging.iterdir():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
            try:
                staging.rename(final)
            except OSError:
                if not final.is_dir():  # not a concurrent writer of the same content
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
