"""The batch plan's order: per-aggregate waves, statements grouped by shape, collapsed row
changes after them, deferred copies last, a barrier alone (no database: a recording cursor)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from projections.batching import BatchPlan


class Recorder:
    """A stand-in connection: what ``BatchPlan.flush`` sends, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def cursor(self) -> Recorder:
        return self

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def executemany(self, query: Any, rows: Any) -> None:
        self.sent.append((_text(query), list(rows)))

    def execute(self, query: Any, params: Any) -> None:
        self.sent.append((_text(query), [params]))


def _text(query: Any) -> str:
    return query.as_string(None) if isinstance(query, sql.Composable) else str(query)


def plan() -> tuple[BatchPlan, Recorder]:
    recorder = Recorder()
    return BatchPlan(recorder), recorder  # type: ignore[arg-type]


def test_events_of_one_aggregate_keep_their_order_and_others_share_a_statement():
    batch, conn = plan()
    batch.event("a").execute("INSERT a", (1,))
    batch.event("b").execute("INSERT a", (2,))
    batch.event("a").execute("INSERT a", (3,))
    batch.event("b").execute("UPDATE b", (4,))
    batch.flush()
    assert conn.sent == [("INSERT a", [(1,), (2,)]), ("INSERT a", [(3,)]), ("UPDATE b", [(4,)])]


def test_the_kth_statements_of_a_wave_run_before_the_next_ones():
    batch, conn = plan()
    first = batch.event("a")
    first.execute("INSERT x", ("a",))
    first.execute("UPDATE y", ("a",))
    batch.event("b").execute("INSERT x", ("b",))
    batch.flush()
    assert conn.sent == [("INSERT x", [("a",), ("b",)]), ("UPDATE y", [("a",)])]


def test_commuting_events_share_a_wave_but_follow_the_last_ordered_one():
    batch, conn = plan()
    batch.event("account").execute("OPEN", (0,))
    for n in (1, 2, 3):
        batch.event("account", commuting=True).execute("LEDGER", (n,))
    batch.event("account").execute("CLOSE", (4,))
    batch.flush()
    assert conn.sent == [
        ("OPEN", [(0,)]),
        ("LEDGER", [(1,), (2,), (3,)]),
        ("CLOSE", [(4,)]),
    ]


def test_row_changes_collapse_and_follow_the_statements_then_the_deferred_copies():
    batch, conn = plan()
    first = batch.event("p")
    first.execute("INSERT p", (1,))
    first.set("rm_p", {"id": 1}, {"title": "one", "revision": 1})
    first.add("rm_a", {"id": 9}, {"balance": 5, "owed": 1})
    first.defer("COPY", (9,))
    second = batch.event("p")
    second.set("rm_p", {"id": 1}, {"revision": 2})
    second.add("rm_a", {"id": 9}, {"balance": -2})
    second.defer("COPY", (9,))
    batch.flush()
    assert conn.sent == [
        ("INSERT p", [(1,)]),
        (
            'UPDATE "rm_a" SET "balance" = "balance" + %s, "owed" = "owed" + %s WHERE "id" = %s',
            [(3, 1, 9)],
        ),
        ('UPDATE "rm_p" SET "title" = %s, "revision" = %s WHERE "id" = %s', [("one", 2, 1)]),
        ("COPY", [(9,)]),
    ]


def test_a_barrier_runs_alone_after_everything_before_it():
    batch, conn = plan()
    batch.event("a").set("rm_p", {"id": 1}, {"title": "before"})
    batch.barrier().execute("ERASE", (1,))
    batch.event("b").execute("INSERT", (2,))
    batch.event("a").set("rm_p", {"id": 1}, {"title": "after"})
    batch.flush()
    assert conn.sent == [
        ('UPDATE "rm_p" SET "title" = %s WHERE "id" = %s', [("before", 1)]),
        ("ERASE", [(1,)]),
        ("INSERT", [(2,)]),
        ('UPDATE "rm_p" SET "title" = %s WHERE "id" = %s', [("after", 1)]),
    ]


def test_a_flushed_plan_starts_afresh():
    batch, conn = plan()
    batch.event("a").execute("ONE", ())
    batch.flush()
    batch.flush()
    assert conn.sent == [("ONE", [()])]
