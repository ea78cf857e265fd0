"""A process's sign of life for its supervisor: a file whose modification time its main loop
renews while it works (not while it waits out an outage), so "healthy" means the loop runs.

The supervisor names the file in ``FILMSTUDIO_HEARTBEAT_FILE``; without it, ``beat`` does nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

ENV = "FILMSTUDIO_HEARTBEAT_FILE"
EVERY = 1.0  # seconds between two renewals, at most one a second
STALE = 30.0  # a heartbeat older than this means the loop is stuck or waiting out an outage

_last = 0.0


def beat() -> None:
    """Renew this process's heartbeat (cheap: at most one file write a second)."""
    global _last
    now = time.monotonic()
    path = os.environ.get(ENV)
    if not path or now - _last < EVERY:
        return
    _last = now
    with contextlib.suppress(OSError):
        Path(path).touch()


def age(path: Path) -> float | None:
    """Seconds since the heartbeat in ``path`` was renewed (None: never)."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return None
