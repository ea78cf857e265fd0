"""PostgreSQL connections for the studio's own tables (not the event store's)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from filmstudio.settings import Settings


def connection_pool(settings: Settings, max_size: int = 8, name: str = "studio") -> ConnectionPool:
    """An open pool; callers close it when done."""
    return ConnectionPool(
        settings.pg_conninfo,
        min_size=1,
        max_size=max_size,
        name=name,
        open=True,
        kwargs={"autocommit": False},
    )
