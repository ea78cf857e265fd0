"""Read-your-writes watermark, as a pure function.

The relay writes a position record Q after the events it covers; a projection has seen every
event up to Q once, for each partition Q lists, it has consumed up to Q's offset there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from adapters.relay_position import RelayPosition


def satisfied(record: RelayPosition, consumed: Mapping[str, int]) -> bool:
    """Whether every partition the record lists is consumed up to (at least) its offset."""
    return all(consumed.get(key, -1) >= offset for key, offset in record.offsets.items())


def advance(
    current: int, pending: Iterable[RelayPosition], consumed: Mapping[str, int]
) -> tuple[int, list[RelayPosition]]:
    """The new watermark and the records still waiting for their partitions.

    ``consumed`` maps ``"<topic>:<partition>"`` to the last offset the projection applied.
    """
    records = list(pending)
    position = max([current, *(r.position for r in records if satisfied(r, consumed))])
    return position, sorted((r for r in records if r.position > position), key=_by_position)


def relevant(record: RelayPosition, topics: Iterable[str]) -> RelayPosition:
    """The record restricted to the topics a projection consumes."""
    wanted = set(topics)
    offsets = {k: v for k, v in record.offsets.items() if k.rsplit(":", 1)[0] in wanted}
    return RelayPosition(record.position, offsets)


def _by_position(record: RelayPosition) -> int:
    return record.position
