"""What YouTube publishing keeps outside the events (Postgres): the OAuth flows under way (PKCE
verifier per state, with expiry), each user's connection (tokens sealed by the caller under the
user's key) and each publication's upload session URI (a capability: sealed too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg_pool import ConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS youtube_oauth_states (
    state text PRIMARY KEY,
    user_id uuid NOT NULL,
    code_verifier text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS youtube_connections (
    user_id uuid PRIMARY KEY,
    refresh_token text NOT NULL,
    access_token text NOT NULL,
    expires_at timestamptz NOT NULL,
    scopes text NOT NULL,
    connected_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS youtube_upload_sessions (
    publication_id uuid PRIMARY KEY,
    session_uri text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class StoredConnection:
    """A user's tokens as stored: `refresh_token` and `access_token` are sealed tokens."""

    refresh_token: str
    access_token: str
    expires_at: datetime
    scopes: tuple[str, ...]


class YouTubeStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    # OAuth flows under way

    def begin_flow(
        self, state: str, user_id: UUID, code_verifier: str, expires_at: datetime
    ) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM youtube_oauth_states WHERE expires_at < now()")
            conn.execute(
                "INSERT INTO youtube_oauth_states (state, user_id, code_verifier, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (state, user_id, code_verifier, expires_at),
            )

    def take_flow(self, state: str) -> tuple[UUID, str] | None:
        """The user and verifier of an unexpired `state`, used once (deleted here)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "DELETE FROM youtube_oauth_states WHERE state = %s "
                "RETURNING user_id, code_verifier, expires_at > now()",
                (state,),
            ).fetchone()
        if row is None or not row[2]:
            return None
        return UUID(str(row[0])), str(row[1])

    # Connections

    def save_connection(self, user_id: UUID, stored: StoredConnection) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO youtube_connections (user_id, refresh_token, access_token, "
                "expires_at, scopes) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE "
                "SET refresh_token = EXCLUDED.refresh_token, access_token = "
                "EXCLUDED.access_token, expires_at = EXCLUDED.expires_at, scopes = EXCLUDED.scopes",
                (
                    user_id,
                    stored.refresh_token,
                    stored.access_token,
                    stored.expires_at,
                    " ".join(stored.scopes),
                ),
            )

    def connection(self, user_id: UUID) -> StoredConnection | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT refresh_token, access_token, expires_at, scopes FROM youtube_connections "
                "WHERE user_id = %s",
                (user_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredConnection(str(row[0]), str(row[1]), row[2], tuple(str(row[3]).split()))

    def delete_connection(self, user_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM youtube_connections WHERE user_id = %s", (user_id,))
            conn.execute("DELETE FROM youtube_oauth_states WHERE user_id = %s", (user_id,))

    # Upload sessions

    def save_session(self, publication_id: UUID, session_uri: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO youtube_upload_sessions (publication_id, session_uri) "
                "VALUES (%s, %s) ON CONFLICT (publication_id) DO UPDATE "
                "SET session_uri = EXCLUDED.session_uri, updated_at = now()",
                (publication_id, session_uri),
            )

    def session(self, publication_id: UUID) -> str | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT session_uri FROM youtube_upload_sessions WHERE publication_id = %s",
                (publication_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    def forget_session(self, publication_id: UUID) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "DELETE FROM youtube_upload_sessions WHERE publication_id = %s", (publication_id,)
            )
