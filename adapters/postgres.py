"""PostgreSQL connections for the studio's own tables (not the event store's)."""

from __future__ import annotations

from psycopg import Connection, errors
from psycopg_pool import ConnectionPool

from adapters.settings import Settings


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


SCHEMA_LOCK = 0x70726F6A  # serialises concurrent CREATE TABLE IF NOT EXISTS


def create_tables(conn: Connection, *schemas: str, attempts: int = 3) -> None:
    """Run `CREATE ... IF NOT EXISTS` scripts in one transaction, safe against concurrent callers.

    Serialised by an advisory lock; a concurrent creator that does not take it (``CREATE ... IF
    NOT EXISTS`` is not atomic) surfaces as a unique violation, so that is retried.
    """
    for attempt in range(attempts):
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                for schema in schemas:
                    conn.execute(schema)
            return
        except (errors.UniqueViolation, errors.DuplicateObject, errors.DuplicateTable):
            if attempt == attempts - 1:
                raise
