"""A message a consumer could not handle, on `studio.dead_letters`, keyed by consumer group."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ConsumerDeadLetter(BaseModel):
    """Where the message was (group, topic, partition, offset), its key and bytes (base64), and
    why it could not be handled (the error's class and message)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value_base64: str
    error_type: str
    error: str
    at: datetime

    @property
    def value(self) -> bytes:
        """The original message's bytes."""
        return base64.b64decode(self.value_base64)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
