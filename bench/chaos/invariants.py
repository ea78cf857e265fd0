"""What must hold after the faults, each checked from the outside and reported with figures."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg import sql
from psycopg_pool import ConnectionPool

from adapters import kafka
from adapters.eventstore import EventStore
from adapters.settings import Settings
from bench.chaos.client import Api
from bench.chaos.faults import Fault
from bench.chaos.productions import Creator, Production
from bench.filmspec import film_problems
from domain.credits import credit_account_id
from filmstudio import bootstrap
from projections import state
from projections.replay import replay
from projections.runner import ProjectionRunner

REPLAY_SCHEMA = "chaos_replay"
SETTLE_TIMEOUT = 300.0


@dataclass(frozen=True)
class Check:
    name: str
    held: bool
    figures: str


# The studio at rest


def settle(settings: Settings, timeout: float = SETTLE_TIMEOUT) -> int:
    """Wait until every stored event is published and applied to the read models, with nothing
    new recorded meanwhile; the last position."""
    store = EventStore(settings)
    deadline = time.monotonic() + timeout
    try:
        previous = -1
        while True:
            last = store.last_position()
            with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
                applied = state.state(conn, "readmodels")[0]
            if applied >= last and last == previous:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"read models at {applied}, the store at {last}")
            previous = last if applied >= last else -1
            time.sleep(1.0)
    finally:
        store.close()


def stored_event_count(settings: Settings) -> int:
    store = EventStore(settings)
    try:
        notifications = store.recorder.select_notifications(start=1, limit=10_000_000)
        return len(notifications)
    finally:
        store.close()


def read_events(settings: Settings) -> list[dict[str, Any]]:
    """Every envelope on the installation's event topics, from the beginning to the end."""
    consumer = kafka.consumer(
        settings, f"{settings.topic_prefix}.chaos-check-{uuid.uuid4()}",
        **{"enable.partition.eof": True},
    )  # fmt: skip
    try:
        metadata = consumer.list_topics(timeout=30)
        ends: dict[tuple[str, int], int] = {}
        for topic in settings.topics.all_events:
            for partition in metadata.topics[topic].partitions:
                tp = TopicPartition(topic, partition)
                low, high = consumer.get_watermark_offsets(tp, timeout=30)
                if high > low:
                    ends[(topic, partition)] = high
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        envelopes: list[dict[str, Any]] = []
        remaining = set(ends)
        deadline = time.monotonic() + 300
        while remaining and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            where = (message.topic(), message.partition())
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and message.offset() >= ends[where]:
                    remaining.discard(where)
                continue
            envelopes.append(json.loads(message.value()))
        if remaining:
            raise TimeoutError(f"could not read {sorted(remaining)} to the end")
        return envelopes
    finally:
        consumer.close()


# The invariants


def recovered(faults: list[Fault], planned: int) -> Check:
    times = [f.recovery for f in faults if f.recovery is not None]
    failed = [f"{f.kind} at {f.at:.0f}s: {f.error}" for f in faults if f.recovery is None]
    figures = f"{len(times)}/{planned} faults recovered"
    if times:
        figures += f", recovery median {statistics.median(times):.1f} s, max {max(times):.1f} s"
    if failed:
        figures += "; " + "; ".join(failed[:3])
    return Check("every fault recovered", len(times) == planned and not failed, figures)


def outcomes(productions: list[Production], lane_errors: list[str]) -> Check:
    wrong = [
        f"{p.production_id[:8]} ({p.kind}) {p.status}, want {p.expect}"
        + (f": {p.failure[:120]}" if p.failure else "")
        for p in productions
        if p.status != p.expect
    ]
    counts = Counter(p.status for p in productions)
    figures = f"{len(productions)} productions: " + ", ".join(
        f"{n} {status}" for status, n in sorted(counts.items())
    )
    problems = wrong + lane_errors
    if problems:
        figures += "; " + "; ".join(problems[:4])
    return Check("productions completed or cancelled as asked", not problems, figures)


def films(settings: Settings, productions: list[Production]) -> Check:
    done = [p for p in productions if p.status == "completed"]
    bad: list[str] = []
    media = bootstrap.media_store(settings)  # the local folder or the bucket, as configured
    with psycopg.connect(settings.pg_conninfo) as conn:
        for production in done:
            row = conn.execute(
                "SELECT artifacts, duration_seconds FROM rm_productions WHERE production_id = %s",
                (production.production_id,),
            ).fetchone()
            key = (row[0] if row else {}).get("film")
            if not key:
                bad.append(f"{production.production_id[:8]}: no film artifact")
                continue
            try:
                film = media.path(key, "film.mp4")
            except FileNotFoundError:
                bad.append(f"{production.production_id[:8]}: the film is not in the media store")
                continue
            problems = film_problems(film, row[1] if row else None)
            bad.extend(f"{production.production_id[:8]}: {p}" for p in problems)
    figures = f"{len(done)} films checked (streams, colour, GOP, faststart, loudness, duration)"
    if bad:
        figures += "; " + "; ".join(bad[:4])
    return Check("every completed film passes the film checks", bool(done) and not bad, figures)


def credits(api: Api, creators: list[Creator], envelopes: list[dict[str, Any]]) -> Check:
    """balance = granted - captured and nothing reserved, by the API and by the events."""
    unique = {e["event_id"]: e for e in envelopes if e["type"].startswith("credits.")}
    by_account: dict[str, list[dict[str, Any]]] = {}
    for event in unique.values():
        by_account.setdefault(event["aggregate"]["id"], []).append(event)
    wrong: list[str] = []
    granted_total = captured_total = 0
    for creator in creators:
        body = api.json("GET", "/v1/credits", headers=creator.headers)
        events = by_account.get(str(credit_account_id(UUID(creator.user_id))), [])

        def total(kind: str, field: str = "amount", events: list = events) -> int:
            return sum(e["payload"][field] for e in events if e["type"] == f"credits.{kind}")

        granted, captured = total("Granted"), total("Captured")
        held = total("Reserved") - captured - total("Captured", "released") - total("Released")
        granted_total, captured_total = granted_total + granted, captured_total + captured
        if (body["balance"], body["reserved"], held) != (granted - captured, 0, 0):
            wrong.append(
                f"{creator.email}: API balance {body['balance']} reserved {body['reserved']}, "
                f"events granted {granted} captured {captured} still held {held}"
            )
    figures = (
        f"{len(creators)} creators: granted {granted_total}, captured {captured_total}, "
        f"balances {'exact' if not wrong else 'wrong'}, nothing reserved"
    )
    if wrong:
        figures = f"{len(wrong)}/{len(creators)} creators wrong; " + "; ".join(wrong[:3])
    held = bool(creators) and not wrong
    return Check("credits exact (granted - captured = balance)", held, figures)


def shared_work(envelopes: list[dict[str, Any]], extra_workers: list[int]) -> Check:
    """Workers of one stage share its partitions: some stage's units were completed by several
    worker processes, and each extra worker process completed some (the saga records each
    result with its worker, "worker:<host>:<pid>", as the actor)."""
    by_stage: dict[str, set[str]] = {}
    for e in envelopes:
        if e["type"] == "production.UnitCompleted" and e["actor"].startswith("worker:"):
            by_stage.setdefault(e["payload"]["stage"], set()).add(e["actor"].rsplit(":", 1)[1])
    shared = sorted(stage for stage, pids in by_stage.items() if len(pids) > 1)
    everyone = set().union(*by_stage.values()) if by_stage else set()
    idle = [pid for pid in extra_workers if str(pid) not in everyone]
    figures = (
        f"stages done by several worker processes: {', '.join(shared) or 'none'}; "
        f"{len(everyone)} worker processes completed units"
        + (f"; extra workers that completed none: {idle}" if idle else "")
    )
    return Check("stage work shared by worker processes", bool(shared) and not idle, figures)


def unique_events(envelopes: list[dict[str, Any]], stored: int) -> Check:
    counts = Counter(e["event_id"] for e in envelopes)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    figures = (
        f"{len(envelopes)} messages, {len(counts)} distinct events, {duplicated} duplicates; "
        f"{stored} events stored"
    )
    held = duplicated == 0 and len(counts) == stored
    return Check("no event id twice in Kafka, every stored event published", held, figures)


def replay_matches(settings: Settings) -> Check:
    """Replay the read models into a fresh schema of the same database (the key store stays
    reachable) and compare every table row for row."""
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        schema = sql.Identifier(REPLAY_SCHEMA)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
    conninfo = f"{settings.pg_conninfo} options='-c search_path={REPLAY_SCHEMA},public'"
    with ConnectionPool(conninfo, min_size=1, max_size=2, kwargs={"autocommit": False}) as pool:
        projection = bootstrap.PROJECTIONS["readmodels"](settings, pool)
        runner = ProjectionRunner(settings, pool, projection)
        tables = list(getattr(projection, "tables", ()))
        with pool.connection() as conn:
            made = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (REPLAY_SCHEMA,),
                )
            }
        missing = set(tables) - made
        if missing:  # never let the replay's TRUNCATE reach the live tables
            return Check("read models equal a fresh replay", False, f"no replay {missing}")
        result = replay(runner, timeout=600)
    differing: list[str] = []
    rows = 0
    with psycopg.connect(settings.pg_conninfo) as conn:
        for table in tables:
            live, fresh = (_rows(conn, schema, table) for schema in ("public", REPLAY_SCHEMA))
            rows += sum(live.values())
            if live != fresh:
                extra, lost = sum((live - fresh).values()), sum((fresh - live).values())
                differing.append(f"{table}: {extra} rows only live, {lost} only replayed")
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(REPLAY_SCHEMA)))
        conn.commit()
    figures = (
        f"{len(tables)} tables, {rows} rows, {result.applied} events replayed in "
        f"{result.seconds:.1f} s; " + ("; ".join(differing) if differing else "identical")
    )
    return Check("read models equal a fresh replay", not differing, figures)


def _rows(conn: psycopg.Connection, schema: str, table: str) -> Counter[str]:
    query = sql.SQL("SELECT to_jsonb(t)::text FROM {}.{} t").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    return Counter(json.dumps(json.loads(row[0]), sort_keys=True) for row in conn.execute(query))
