"""The saga's aiokafka log: a message repeated while a broker is away passes once per window."""

from __future__ import annotations

import logging

from filmstudio.saga_cli import RepeatFilter


def record(at: float, node: int = 1) -> logging.LogRecord:
    rec = logging.LogRecord(
        "aiokafka.conn", logging.ERROR, __file__, 1, "Unable connect to node with id %s", (node,),
        None,
    )  # fmt: skip
    rec.created = at
    return rec


def test_a_repeated_message_passes_once_per_window_and_then_counts_the_rest() -> None:
    repeats = RepeatFilter(seconds=30)
    passed = [repeats.filter(record(at)) for at in (0.0, 0.1, 0.2, 10.0, 29.9)]
    assert passed == [True, False, False, False, False]
    later = record(30.5)
    assert repeats.filter(later)
    assert later.getMessage() == (
        "Unable connect to node with id 1 (4 more like it in the last 30 s)"
    )


def test_another_message_is_not_held_back() -> None:
    repeats = RepeatFilter(seconds=30)
    assert repeats.filter(record(0.0))
    other = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Fetch failed", (), None)
    other.created = 0.1
    assert repeats.filter(other)
