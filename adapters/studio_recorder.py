"""The studio's PostgreSQL recorder: the library's, plus group commit and stored envelopes.

* Group commit: concurrent `insert_events` calls (one per `Application.save`) share one
  transaction, so one table lock and one WAL flush serve them all (`adapters.group_commit`). The
  round is one call of a PL/pgSQL function (one round trip): it takes the library's
  ``LOCK TABLE ... IN EXCLUSIVE MODE``, so notification ids are handed out and committed in the
  same order and a reader tailing ids never passes a gap that fills in later, NOTIFYs the
  relay, and inserts.
  If the shared insert hits a version conflict, the round is redone with each caller's events in
  their own savepoint of one transaction: exactly the conflicting callers get `IntegrityError`,
  the others still commit together.
* Stored envelopes: an ``envelope`` column keeps the bytes the relay publishes, built when the
  event is recorded (`adapters.eventstore.EnvelopedEvent`); rows recorded before it was added
  hold NULL there and the relay builds theirs from the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from adapters.group_commit import GroupCommit

Outcome = Sequence[int] | BaseException


class StudioRecorder(PostgresApplicationRecorder):
    """Inserts with group commit into the library's table plus an ``envelope`` column."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        table = sql.SQL("{}.{}").format(
            sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name)
        )
        # Only when missing: ALTER TABLE takes an ACCESS EXCLUSIVE lock even when it does nothing.
        self.sql_create_statements.append(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM information_schema.columns "
                "WHERE table_schema = {schema} AND table_name = {name} "
                "AND column_name = 'envelope') THEN "
                "ALTER TABLE {table} ADD COLUMN envelope bytea; END IF; END $$"
            ).format(
                schema=sql.Literal(self.datastore.schema),
                name=sql.Literal(self.events_table_name),
                table=table,
            )
        )
        self.insert_function = f"{self.events_table_name}_insert"
        self.check_identifier_length(self.insert_function)
        function = sql.SQL("{}.{}").format(
            sql.Identifier(self.datastore.schema), sql.Identifier(self.insert_function)
        )
        id_array = sql.SQL("{}[]").format(sql.Identifier(self.datastore.originator_id_type))
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {function}(ids {ids}, versions bigint[], "
                "topics text[], states bytea[], envelopes bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN "
                "SET LOCAL lock_timeout = {lock_timeout}; "
                "LOCK TABLE {table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {table} "
                "(originator_id, originator_version, topic, state, envelope) "
                "SELECT * FROM unnest(ids, versions, topics, states, envelopes) "
                "RETURNING notification_id; "
                "END $$"
            ).format(
                function=function,
                ids=id_array,
                lock_timeout=sql.Literal(f"{self.datastore.lock_timeout}s"),
                table=table,
                channel=sql.Identifier(self.channel_name),
            )
        )
        self.insert_call = sql.SQL(
            "SELECT n FROM {function}(%s::{ids}, %s::bigint[], %s::text[], %s::bytea[], "
            "%s::bytea[]) AS n"
        ).format(function=function, ids=id_array)
        self.select_for_relay = sql.SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, envelope, "
            "CASE WHEN envelope IS NULL THEN state END "
            "FROM {table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(table=table)
        self.group_commit: GroupCommit[Sequence[StoredEvent], Sequence[int]] = GroupCommit(
            self._run_round
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """Record the events of one save, in a transaction shared with concurrent saves; their
        notification ids, in order. `IntegrityError`: one of them already exists."""
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("the studio's event store records no tracking")
        if not stored_events:
            return []
        return self.group_commit.submit(stored_events)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library
    def _run_round(self, saves: Sequence[Sequence[StoredEvent]]) -> list[Outcome]:
        try:
            ids = self._insert_together([e for save in saves for e in save])
        except IntegrityError:
            if len(saves) == 1:
                raise
            return self._insert_each(saves)
        outcomes: list[Outcome] = []
        start = 0
        for save in saves:
            outcomes.append(ids[start : start + len(save)])
            start += len(save)
        return outcomes

    def _insert_together(self, events: Sequence[StoredEvent]) -> list[int]:
        """One statement, its own transaction: a single round trip and WAL flush."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._insert(curs, events)

    def _insert_each(self, saves: Sequence[Sequence[StoredEvent]]) -> list[Outcome]:
        """Each save in its own savepoint of one transaction; a conflict fails that save only."""
        outcomes: list[Outcome] = []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            for save in saves:
                try:
                    with conn.transaction():
                        outcomes.append(self._insert(curs, save))
                except psycopg.IntegrityError as exc:
                    outcomes.append(IntegrityError(str(exc)))
        return outcomes

    def _insert(self, curs: Cursor[DictRow], events: Sequence[StoredEvent]) -> list[int]:
        """Through the insert function: table lock (ids in commit order), NOTIFY, insert."""
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for event in events:
            columns[0].append(event.originator_id)
            columns[1].append(event.originator_version)
            columns[2].append(event.topic)
            columns[3].append(event.state)
            columns[4].append(getattr(event, "envelope", None))
        curs.execute(self.insert_call, columns, prepare=True)
        return [row["n"] for row in curs.fetchall()]
