"""What the projection runner needs from a projection."""

from __future__ import annotations

from typing import Protocol

from psycopg import Connection

from adapters.settings import Settings
from schemas.envelope import Envelope


class Projection(Protocol):
    """A consumer of event envelopes that keeps its state in Postgres.

    ``apply`` runs inside the runner's transaction, once per event (duplicates are dropped
    before it is called), in aggregate order per aggregate. A projection may also have
    ``apply_batch(conn, envelopes)``: the runner then hands it a whole batch's new events at
    once (in that order), to write set-wise (``projections.batching``); it must leave the same
    rows as ``apply`` called on each in turn.
    """

    name: str
    schema: str  # DDL of its own tables, idempotent
    tables: tuple[str, ...]  # emptied by a replay

    def topics(self, settings: Settings) -> list[str]:
        """The event topics it consumes."""
        ...

    def apply(self, conn: Connection, envelope: Envelope) -> None: ...
