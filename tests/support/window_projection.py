"""An analyst's own projection, loaded by ``filmstudio replay ... module:factory`` in tests:
it keeps which events it was given."""

from __future__ import annotations

from psycopg import Connection
from psycopg_pool import ConnectionPool

from adapters.settings import Settings
from schemas.envelope import Envelope


class WindowProjection:
    name = "window_events"
    schema = """
    CREATE TABLE IF NOT EXISTS window_events (
        event_id uuid PRIMARY KEY,
        type text NOT NULL,
        occurred_at timestamptz NOT NULL
    );
    """
    tables = ("window_events",)

    def topics(self, settings: Settings) -> list[str]:
        return settings.topics.all_events

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        conn.execute(
            "INSERT INTO window_events (event_id, type, occurred_at) VALUES (%s, %s, %s)",
            (envelope.event_id, envelope.type, envelope.occurred_at),
        )


def create(settings: Settings, pool: ConnectionPool) -> WindowProjection:
    return WindowProjection()
