"""Who and what caused the events a command records: carried beside each stored event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from uuid import uuid4


@dataclass(frozen=True)
class MessageMeta:
    correlation_id: str
    causation_id: str
    actor: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


SYSTEM = MessageMeta(correlation_id="", causation_id="", actor="system")
_current: ContextVar[MessageMeta] = ContextVar("message_meta", default=SYSTEM)


def current_meta() -> MessageMeta:
    return _current.get()


@contextmanager
def message_context(
    actor: str, correlation_id: str | None = None, causation_id: str | None = None
) -> Iterator[MessageMeta]:
    """Events recorded inside the block carry this actor, correlation and causation."""
    command_id = causation_id or str(uuid4())
    meta = MessageMeta(
        correlation_id=correlation_id or command_id, causation_id=command_id, actor=actor
    )
    token = _current.set(meta)
    try:
        yield meta
    finally:
        _current.reset(token)
