"""Graceful shutdown for long-running studio processes."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_signals(*signals: signal.Signals) -> threading.Event:
    """An event set on SIGTERM or SIGINT (or the given signals); call from the main thread."""
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in signals or (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
    return stop
