"""Set-wise writes for a batch of events: one ``executemany`` per statement shape, and each row
a batch updates written once, instead of a statement per row change.

A projection records each event's statements on a ``Statements`` instead of running them, and a
``BatchPlan`` sends them in an order that gives the same read model as applying the events one
by one, provided the projection's own rules hold (``projections.readmodels`` states them):

- Events of different aggregates commute (each read model row is owned by one aggregate, or
  its statements are written to converge whatever the order across aggregates).
- Events of one aggregate run in waves: an event goes into the wave after the last one that
  holds an event of its aggregate; an event the projection calls *commuting* (additive
  balances, rows keyed by the event) only after the aggregate's last non-commuting one.
- Within a wave, the k-th statements of its events run before their (k+1)-th ones, statements
  of one shape together in one ``executemany`` (in the events' order).
- After the waves: the collapsed row changes (``add``: summed deltas; ``set``: the last value of
  each column), then the *deferred* statements (idempotent copies from row to row), each once.
- A *barrier* event (an erasure, which reaches across aggregates) runs alone, after everything
  recorded before it has been sent.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql

Params = Sequence[Any] | Mapping[str, Any]
RowKey = tuple[str, tuple[str, ...], tuple[Any, ...]]  # table, key columns, key values


@dataclass
class Changes:
    """A batch's collapsed row changes, shared by its events' ``Statements``."""

    adds: dict[RowKey, dict[str, int]] = field(default_factory=dict)
    sets: dict[RowKey, dict[str, Any]] = field(default_factory=dict)
    deferred: dict[tuple[str, tuple[Hashable, ...]], Sequence[Hashable]] = field(
        default_factory=dict
    )


@dataclass
class Statements:
    """One event's statements, in order (each a statement shape and its rows of parameters),
    and the batch's collapsed changes it adds to."""

    changes: Changes = field(default_factory=Changes)
    steps: list[tuple[str, list[Params]]] = field(default_factory=list)

    def execute(self, query: str, params: Params = ()) -> None:
        self.steps.append((query, [params]))

    def executemany(self, query: str, rows: Iterable[Params]) -> None:
        listed = list(rows)
        if listed:
            self.steps.append((query, listed))

    def set(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """``UPDATE table SET values WHERE key``, collapsed: the row is written once, after the
        batch's statements, with the last value given for each column. Only for a row its own
        aggregate inserted, and columns no statement of the batch reads."""
        row = (table, tuple(key), tuple(key.values()))
        self.changes.sets.setdefault(row, {}).update(values)

    def add(self, table: str, key: Mapping[str, Any], deltas: Mapping[str, int]) -> None:
        """``UPDATE table SET column = column + delta WHERE key``, summed per row and written
        once, after the batch's statements (under the same conditions as ``set``)."""
        row = (table, tuple(key), tuple(key.values()))
        totals = self.changes.adds.setdefault(row, {})
        for column, delta in deltas.items():
            totals[column] = totals.get(column, 0) + delta

    def defer(self, query: str, params: Sequence[Hashable]) -> None:
        """An idempotent statement that needs to run only once, after the batch's statements
        and collapsed changes (a copy of one row's columns onto another)."""
        self.changes.deferred[(query, tuple(params))] = params


@dataclass
class _Wave:
    events: list[Statements] = field(default_factory=list)


class BatchPlan:
    """Collects a batch's events' statements (``event``, ``barrier``) and sends them
    (``flush``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent = 0  # statements sent (an executemany counts once), for tests and profiling
        self._reset()

    def _reset(self) -> None:
        self._waves: list[_Wave] = []
        self._changes = Changes()
        self._last_any: dict[Hashable, int] = {}
        self._last_ordered: dict[Hashable, int] = {}
        self._floor = 0  # the first wave an event may go into (after a barrier)

    def event(self, aggregate: Hashable, commuting: bool = False) -> Statements:
        """Where to record the statements of the next event of ``aggregate``."""
        last = self._last_ordered if commuting else self._last_any
        wave = max(self._floor, last.get(aggregate, -1) + 1)
        if not commuting:
            self._last_ordered[aggregate] = wave
        self._last_any[aggregate] = max(wave, self._last_any.get(aggregate, -1))
        while len(self._waves) <= wave:
            self._waves.append(_Wave())
        statements = Statements(self._changes)
        self._waves[wave].events.append(statements)
        return statements

    def barrier(self) -> Statements:
        """Where to record an event that runs alone, after everything recorded before it."""
        self.flush()
        statements = Statements(self._changes)
        self._waves.append(_Wave([statements]))
        self._floor = len(self._waves)
        return statements

    def flush(self) -> None:
        """Send what was recorded, and start afresh."""
        with self.conn.cursor() as cur:
            for wave in self._waves:
                for step in range(max((len(e.steps) for e in wave.events), default=0)):
                    shapes: dict[str, list[Params]] = {}
                    for event in wave.events:
                        if step < len(event.steps):
                            query, rows = event.steps[step]
                            shapes.setdefault(query, []).extend(rows)
                    for query, rows in shapes.items():
                        cur.executemany(query, rows)
                        self.sent += 1
            updates = [
                *_updates(self._changes.adds, "{0} = {0} + %s"),
                *_updates(self._changes.sets, "{0} = %s"),
            ]
            for update, values in updates:
                cur.executemany(update, values)
                self.sent += 1
            for (query, _), params in self._changes.deferred.items():
                cur.execute(query, params)
                self.sent += 1
        self._reset()


def _updates(
    changes: Mapping[RowKey, Mapping[str, Any]], assignment: str
) -> list[tuple[sql.Composed, list[tuple[Any, ...]]]]:
    """One UPDATE per table and column set, with a row of parameters per changed row."""
    shapes: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[tuple[Any, ...]]] = {}
    for (table, key, key_values), values in changes.items():
        shapes.setdefault((table, key, tuple(values)), []).append((*values.values(), *key_values))
    return [
        (
            sql.SQL("UPDATE {} SET {} WHERE {}").format(
                sql.Identifier(table),
                sql.SQL(", ").join(sql.SQL(assignment).format(sql.Identifier(c)) for c in columns),
                sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in key),
            ),
            rows,
        )
        for (table, key, columns), rows in shapes.items()
    ]
