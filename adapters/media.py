"""The media store: content-addressed artifacts (a folder of files per key).

A key hashes the stage, the backend and its version, the unit's inputs and its owner, so an
unchanged unit is found instead of recomputed, and erasing a user deletes only their artifacts.
A unit's inputs (script text, lines, headings) never travel on Kafka: the saga claim-checks them
here, per production (`claim_check`), the worker reads them back (`redeem`), and erasure deletes
them with the artifacts. `LocalMediaStore` keeps everything on the local filesystem; an S3 store
implements the same interface at scale.
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
from uuid import UUID

from schemas.work import STAGE_INPUTS, WorkUnit

KEY_LENGTH = 64
INPUTS_FOLDER = "inputs"


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

    def delete(self, key: str) -> bool:
        """Remove an artifact; False when there was none."""
        ...

    def put_inputs(self, production_id: UUID, key: str, data: bytes) -> None: ...

    def inputs(self, production_id: UUID, key: str) -> bytes:
        """A unit's claim-checked inputs; FileNotFoundError once deleted."""
        ...

    def input_keys(self, production_id: UUID) -> list[str]:
        """The artifact keys of every unit of the production whose inputs are kept."""
        ...

    def delete_inputs(self, production_id: UUID) -> None: ...


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

    def delete(self, key: str) -> bool:
        folder = self._folder(key)
        if not folder.is_dir():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def _inputs_folder(self, production_id: UUID) -> Path:
        return self.root / INPUTS_FOLDER / str(UUID(str(production_id)))

    def put_inputs(self, production_id: UUID, key: str, data: bytes) -> None:
        """Keep a unit's inputs (written atomically; the same key always has the same inputs)."""
        folder = self._inputs_folder(production_id)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{check_key(key)}.json"
        if final.is_file():
            return
        fd, staging = tempfile.mkstemp(prefix=".", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, final)

    def inputs(self, production_id: UUID, key: str) -> bytes:
        return (self._inputs_folder(production_id) / f"{check_key(key)}.json").read_bytes()

    def input_keys(self, production_id: UUID) -> list[str]:
        folder = self._inputs_folder(production_id)
        found = folder.glob("*.json") if folder.is_dir() else []
        return sorted(path.stem for path in found if len(path.stem) == KEY_LENGTH)

    def delete_inputs(self, production_id: UUID) -> None:
        shutil.rmtree(self._inputs_folder(production_id), ignore_errors=True)

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


def claim_check(unit: WorkUnit, media: MediaStore) -> WorkUnit:
    """The unit as it travels: its inputs kept in the media store, not in the message."""
    if unit.inputs is None:
        return unit
    media.put_inputs(unit.production_id, unit.key, unit.inputs.model_dump_json().encode())
    return unit.model_copy(update={"inputs": None})


def redeem(unit: WorkUnit, media: MediaStore) -> WorkUnit:
    """The unit with its claim-checked inputs; FileNotFoundError when they are gone (erased)."""
    if unit.inputs is not None:
        return unit
    stored = media.inputs(unit.production_id, unit.key)
    inputs = STAGE_INPUTS[unit.stage].model_validate_json(stored)
    return unit.model_copy(update={"inputs": inputs})
