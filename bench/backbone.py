"""Backbone benchmark: command side, relay and projection replay, each beside a raw baseline.

Run against the local stack (``.venv/bin/filmstudio stack up`` first)::

    .venv/bin/python bench/backbone.py
    .venv/bin/python bench/backbone.py --commands 6000 --events 50000 --threads 1,4,8

It works in its own topic prefix and database (created at the start, removed at the end, also on
Ctrl-C or an error) and prints figures only; it asserts nothing about timings.

1. Commands: a creator's mix (create project, 2-3 script revisions, request production, sometimes
   cancel, occasionally a profile change or a credit top-up) through ``commands.handlers.Studio``
   in-process on several threads, beside raw psycopg inserts of rows of the same payload size
   (one transaction each, same threads); then saves through the event store alone (its write
   ceiling: concurrent saves share transactions by group commit). Registrations (Argon2) are
   reported on their own. ``--threads 1,4,8`` runs this phase once per thread count.
2. Relay: ``python -m filmstudio.cli relay`` catching up from a backlog of N recorded events,
   beside a plain idempotent confluent-kafka producer sending the same N messages.
3. Replay: ``python -m filmstudio.cli replay readmodels`` over those N events, beside a plain
   confluent-kafka consumer reading the same topics and raw psycopg upserts of N rows.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from uuid import UUID, uuid4

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg_pool import ConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import kafka as topics  # noqa: E402
from adapters.eventstore import EventStore  # noqa: E402
from adapters.keystore import KeyStore  # noqa: E402
from adapters.metadata import message_context  # noqa: E402
from adapters.postgres import connection_pool  # noqa: E402
from adapters.relay import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, take_batch  # noqa: E402
from adapters.relay_position import RELAY_KEY, RelayPosition  # noqa: E402
from adapters.settings import PROJECT_ROOT, Settings, get_settings  # noqa: E402
from commands.handlers import Studio  # noqa: E402
from domain.credits import CreditAccount, credit_account_id  # noqa: E402
from domain.estimate import estimate  # noqa: E402
from domain.production import Production, ProductionOptions  # noqa: E402
from domain.project import Project  # noqa: E402
from domain.user import User  # noqa: E402
from filmstudio.stack import postgres  # noqa: E402
from projections.runner import BATCH_SIZE as PROJECTION_BATCH  # noqa: E402

INITIAL_CREDITS = 1_000_000_000
LANGS = ("en", "hi", "sa", "ta")
RATIOS = ("16:9", "9:16", "1:1")
NAMES = ("MEERA", "ARJUN", "KAVYA", "ROHAN", "NARRATOR")
PLACES = ("HOUSE", "TEMPLE", "MARKET", "RIVERBANK", "TRAIN", "ROOFTOP")
TEXT = (
    "light the lamp before the rain comes and the river rises over the old stone steps "
    "where we sat as children listening to the bells and the songs of the evening"
)
WORDS = TEXT.split(" ")


# ---------------------------------------------------------------------------------------------
# Small helpers


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def script(rng: random.Random, scenes: int) -> str:
    """A Fountain script of about 150 bytes a scene."""
    parts = []
    for _ in range(scenes):
        parts.append(f"{rng.choice(('INT.', 'EXT.'))} {rng.choice(PLACES)} - DAY\n")
        parts.append(" ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + ".\n")
        for _ in range(rng.randint(1, 3)):
            line = " ".join(rng.choices(WORDS, k=rng.randint(3, 10))).capitalize()
            parts.append(f"{rng.choice(NAMES)}\n{line}.\n")
    return "\n".join(parts)


@dataclass
class Row:
    metric: str
    studio: float | None
    raw: float | None
    unit: str
    higher_is_better: bool = True


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  {text}", flush=True)

    def print(self) -> None:
        def fmt(value: float | None) -> str:
            if value is None:
                return "-"
            return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"

        header = ("metric", "studio", "raw baseline", "unit", "studio/raw")
        lines = []
        for row in self.rows:
            ratio = "-"
            if row.studio is not None and row.raw:
                ratio = f"{row.studio / row.raw:.2f}x"
            lines.append((row.metric, fmt(row.studio), fmt(row.raw), row.unit, ratio))
        widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(len(header))]
        rule = "-+-".join("-" * w for w in widths)

        def render(cols: tuple[str, ...]) -> str:
            first = cols[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cols[1:], widths[1:], strict=True)]
            return " | ".join([first, *rest])

        print()
        print("=" * len(rule))
        print(render(header))
        print(rule)
        for line in lines:
            print(render(line))
        print("=" * len(rule))
        print("ratio = studio / raw (throughput: <1 is slower than raw; latency: >1 is slower)")
        for note in self.notes:
            print(f"- {note}")


def studio_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FILMSTUDIO_TOPIC_PREFIX": settings.topic_prefix,
        "FILMSTUDIO_PG_DATABASE": settings.pg_database,
        "PYTHONUNBUFFERED": "1",
    }


def cli(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """``python -m filmstudio.cli ARGS`` against the bench's topics and database."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "filmstudio.cli", *args],
            env=studio_env(settings),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, chars: int = 3000) -> str:
    with suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return ""


def event_count(settings: Settings, table: str, after: int = 0, upto: int | None = None) -> int:
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        row = conn.execute(
            psycopg.sql.SQL(
                "SELECT count(*) FROM {} WHERE notification_id > %s AND notification_id <= %s"
            ).format(psycopg.sql.Identifier(table)),
            (after, upto if upto is not None else 2**62),
        ).fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------------------------------------
# The isolated installation


@contextmanager
def installation(base: Settings) -> Iterator[Settings]:
    """Own topic prefix and database, removed at the end whatever happens."""
    suffix = secrets.token_hex(3)
    settings = base.model_copy(
        update={"topic_prefix": f"bench{suffix}", "pg_database": f"bench_{suffix}"}
    )
    print(f"installation: topic prefix {settings.topic_prefix}, database {settings.pg_database}")
    try:
        postgres.ensure_database(settings, settings.pg_database)
        topics.ensure_topics(settings)
        yield settings
    finally:
        print("cleaning up: deleting topics and database ...", flush=True)
        with suppress(Exception):
            topics.delete_topics(settings)
        with suppress(Exception):
            postgres.drop_database(settings, settings.pg_database)


def interrupt_on_signals() -> None:
    """SIGTERM, like SIGINT, unwinds through the clean-up (SIGINT even if started ignoring it)."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ---------------------------------------------------------------------------------------------
# 1. Command side


@dataclass
class Creator:
    user_id: UUID
    name: str


def run_threads(count: int, target: Callable[[int], None], stop: threading.Event) -> float:
    """Run ``target(i)`` on ``count`` threads; seconds taken; re-raise the first failure."""
    failures: list[BaseException] = []

    def main(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=main, args=(i,), daemon=True) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except BaseException:
        stop.set()
        raise
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return seconds


def register_creators(
    studio: Studio, count: int, threads: int, stop: threading.Event, report: Report
) -> list[Creator]:
    creators: list[Creator] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        for n in range(index, count, threads):
            if stop.is_set():
                return
            name = f"Creator {n}"
            started = time.perf_counter()
            user_id, _ = studio.register(
                f"bench-{n}-{secrets.token_hex(3)}@example.com", f"pw-{n}-secret-pw", name
            )
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                creators.append(Creator(user_id, name))

    seconds = run_threads(min(threads, count), work, stop)
    report.add(
        Row("register (Argon2) throughput", count / seconds, None, "cmd/s"),
        Row("register (Argon2) p50 latency", percentile(latencies, 50) * 1000, None, "ms", False),
    )
    report.note(
        f"registered {count} creators on {min(threads, count)} threads in {seconds:.1f} s "
        f"(p99 {percentile(latencies, 99) * 1000:.0f} ms; Argon2 is deliberately slow)"
    )
    for creator in creators:  # setup, not measured
        studio.grant_credits(creator.user_id, INITIAL_CREDITS, "bench", source="purchase")
    return creators


def command_mix(
    studio: Studio,
    creators: list[Creator],
    total: int,
    threads: int,
    seed: int,
    stop: threading.Event,
) -> tuple[float, list[tuple[str, float]]]:
    """Each thread plays its own creators' sessions until ``total`` commands are done."""
    samples: list[tuple[str, float]] = []
    lock = threading.Lock()
    quota = max(1, total // threads)

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        mine = creators[index::threads] or creators
        local: list[tuple[str, float]] = []

        def timed(kind: str, call: Callable[..., Any], *call_args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = call(*call_args, **kwargs)
            local.append((kind, time.perf_counter() - started))
            return result

        while len(local) < quota and not stop.is_set():
            who = rng.choice(mine)
            uid = who.user_id
            with message_context(actor=str(uid)):
                title = f"Film {rng.randint(1, 10**6)}"
                lang, ratio = rng.choice(LANGS), rng.choice(RATIOS)
                project, _ = timed("create_project", studio.create_project, uid, title, lang, ratio)
                for _ in range(rng.randint(2, 3)):
                    text = script(rng, rng.randint(4, 12))
                    timed("revise_script", studio.revise_script, uid, project, "fountain", text)
                options = ProductionOptions(burn_subtitles=rng.random() < 0.5)
                requested = timed(
                    "request_production", studio.request_production, uid, project, options
                )
                if rng.random() < 0.25:
                    production = requested.production_id
                    timed(
                        "cancel_production",
                        studio.cancel_production,
                        uid,
                        production,
                        "changed mind",
                    )
                if rng.random() < 0.1:
                    name = f"{who.name} {rng.randint(1, 99)}"
                    timed("change_profile", studio.change_profile, uid, name)
                if rng.random() < 0.1:
                    timed("grant_credits", studio.grant_credits, uid, 500, "top-up", "purchase")
        with lock:
            samples.extend(local)

    seconds = run_threads(threads, work, stop)
    return seconds, samples


def raw_inserts(
    settings: Settings, total: int, threads: int, payload_size: int, stop: threading.Event
) -> tuple[float, list[float]]:
    """One transaction per insert of an event-like row into a scratch table."""
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_events (id bigserial PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version integer NOT NULL, topic text NOT NULL,"
            " state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
        )
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, total // threads)

    def work(index: int) -> None:
        payload = os.urandom(payload_size)
        local: list[float] = []
        with psycopg.connect(settings.pg_conninfo) as conn:
            for _ in range(per_thread):
                if stop.is_set():
                    break
                started = time.perf_counter()
                conn.execute(
                    "INSERT INTO bench_raw_events (originator_id, originator_version, topic, "
                    "state) VALUES (%s, %s, %s, %s)",
                    (uuid4(), 1, "bench:Raw", payload),
                )
                conn.commit()
                local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    seconds = run_threads(threads, work, stop)
    return seconds, latencies


def group_commit_rounds(studio: Studio) -> int:
    """Transactions the event store's group commit has run (0 where it has none)."""
    group = getattr(studio.store.recorder, "group_commit", None)
    return group.rounds if group is not None else 0


def store_saves(
    studio: Studio, total: int, threads: int, stop: threading.Event
) -> tuple[float, list[float]]:
    """The write ceiling without the commands' reads and logic: each save records a new credit
    account and a grant (2 events, no sealing) through ``EventStore.save_all``."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, total // threads)

    def work(index: int) -> None:
        local: list[float] = []
        for n in range(per_thread):
            if stop.is_set():
                break
            account = CreditAccount(user_id=uuid4())
            account.grant(100, "purchase", f"bench {index}.{n}", "")
            started = time.perf_counter()
            studio.store.save_all(account)
            local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    seconds = run_threads(threads, work, stop)
    return seconds, latencies


def command_phase(
    settings: Settings,
    studio: Studio,
    table: str,
    args: argparse.Namespace,
    threads: int,
    stop: threading.Event,
    report: Report,
) -> list[Creator]:
    print(f"\n[1/3] command side: {args.commands} commands on {threads} threads", flush=True)
    registrations = args.registrations or 2 * threads
    creators = register_creators(studio, registrations, threads, stop, report)
    before = studio.store.last_position()
    rounds_before = group_commit_rounds(studio)
    seconds, samples = command_mix(studio, creators, args.commands, threads, args.seed, stop)
    done = len(samples)
    events = event_count(settings, table, after=before)
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        row = conn.execute(
            psycopg.sql.SQL(
                "SELECT avg(octet_length(state)) FROM {} WHERE notification_id > %s"
            ).format(psycopg.sql.Identifier(table)),
            (before,),
        ).fetchone()
    payload_size = round(float(row[0])) if row and row[0] is not None else 500
    latencies = [s for _, s in samples]
    rounds = group_commit_rounds(studio) - rounds_before
    report.note(
        f"command mix ({threads} threads): {done} commands -> {events} events in {seconds:.1f} s "
        f"in {rounds} group-commit rounds; "
        f"({events / seconds:,.0f} events/s, {events / max(done, 1):.2f} events/command, "
        f"mean stored event {payload_size} B)"
    )
    by_kind: dict[str, list[float]] = {}
    for kind, value in samples:
        by_kind.setdefault(kind, []).append(value)
    for kind, values in sorted(by_kind.items()):
        report.note(
            f"  {kind:<19} n={len(values):<5} p50 {percentile(values, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(values, 99) * 1000:6.1f} ms"
        )

    print(f"  raw baseline: {done} single-row insert transactions ...", flush=True)
    raw_seconds, raw_lat = raw_inserts(settings, done, threads, payload_size, stop)
    raw_rate = len(raw_lat) / raw_seconds
    print(f"  event store only: {done} saves of 2 events ...", flush=True)
    rounds_before = group_commit_rounds(studio)
    save_seconds, save_lat = store_saves(studio, done, threads, stop)
    report.note(
        f"event store only ({threads} threads): {len(save_lat)} saves in "
        f"{group_commit_rounds(studio) - rounds_before} group-commit rounds"
    )
    report.add(
        Row(f"commands/s (mix, {threads} thr) vs raw inserts/s", done / seconds, raw_rate, "/s"),
        Row(
            f"  saves/s (event store only, {threads} thr)",
            len(save_lat) / save_seconds,
            raw_rate,
            "/s",
        ),
        Row(
            f"command p50 latency ({threads} thr) vs raw insert",
            percentile(latencies, 50) * 1000,
            percentile(raw_lat, 50) * 1000,
            "ms",
            False,
        ),
        Row(
            f"command p99 latency ({threads} thr) vs raw insert",
            percentile(latencies, 99) * 1000,
            percentile(raw_lat, 99) * 1000,
            "ms",
            False,
        ),
    )
    return creators


# ---------------------------------------------------------------------------------------------
# Backlog: top the store up to N events, in the same mix, quickly (many aggregates per save)


def top_up(
    studio: Studio, creators: list[Creator], target: int, seed: int, stop: threading.Event
) -> None:
    store = studio.store
    have = store.last_position()
    if have >= target:
        return
    rng = random.Random(seed + 1)
    accounts = {c.user_id: store.load(credit_account_id(c.user_id)) for c in creators}
    users = {c.user_id: store.load(c.user_id) for c in creators}
    print(f"  recording {target - have} more events for the backlog ...", flush=True)
    started = time.perf_counter()
    while have < target and not stop.is_set():
        pending: dict[UUID, Any] = {}
        for _ in range(20):
            who = rng.choice(creators)
            account: CreditAccount = accounts[who.user_id]
            project = Project.create(who.user_id, f"Film {rng.randint(1, 10**6)}", "en", "16:9")
            for _ in range(rng.randint(2, 3)):
                project.revise_script("fountain", script(rng, rng.randint(4, 12)))
            options = ProductionOptions(burn_subtitles=rng.random() < 0.5)
            cost = estimate(
                "fountain", project.script_text, studio.settings.credits_per_minute, options.quality
            )
            production = Production.request(uuid4(), project, options, cost.credits, cost.seconds)
            account.reserve(production.id, cost.credits)
            if rng.random() < 0.25:
                production.cancel("changed mind")
                account.release(production.id)
            if rng.random() < 0.1:
                user: User = users[who.user_id]
                name = f"{who.name} {rng.randint(1, 99)}"
                user.change_profile(studio.keys.encrypt(who.user_id, name))
                pending[user.id] = user
            if rng.random() < 0.1:
                account.grant(500, "purchase", "top-up", "")
            pending.update({project.id: project, production.id: production, account.id: account})
        have = store.save_all(*pending.values())
    print(f"  backlog recorded in {time.perf_counter() - started:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# 2. Relay


def watch_positions(
    settings: Settings, target: int, process: subprocess.Popen[bytes], log: Path, limit: float
) -> list[tuple[float, int]]:
    """(arrival time, position) of every committed relay record, until ``target`` is reached."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}.bench.position-watch",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + limit
    try:
        consumer.assign([TopicPartition(settings.topics.relay_position, 0, OFFSET_BEGINNING)])
        while not seen or seen[-1][1] < target:
            if process.poll() is not None:
                raise RuntimeError(f"the relay exited ({process.returncode}):\n{tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the relay did not reach {target} in {limit} s:\n{tail(log)}")
            for message in consumer.consume(100, timeout=0.05):
                if message.error() is None and message.key() == RELAY_KEY:
                    position = RelayPosition.from_bytes(message.value()).position
                    seen.append((time.perf_counter(), position))
    finally:
        consumer.close()
    return seen


def relay_phase(
    settings: Settings, table: str, logs: Path, report: Report, limit: float
) -> tuple[int, int]:
    with psycopg.connect(settings.pg_conninfo, autocommit=True) as conn:
        row = conn.execute(
            psycopg.sql.SQL("SELECT max(notification_id) FROM {}").format(
                psycopg.sql.Identifier(table)
            )
        ).fetchone()
    target = int(row[0]) if row and row[0] is not None else 0
    events = event_count(settings, table)
    print(f"\n[2/3] relay: catching up from a backlog of {events} events", flush=True)
    log = logs / "relay.log"
    started = time.perf_counter()
    process = cli(settings, "relay", "--log-level", "INFO", log=log)
    try:
        seen = watch_positions(settings, target, process, log, limit)
    finally:
        stop_process(process)
    wall = seen[-1][0] - started
    first_t, first_pos = seen[0]
    last_t, _ = seen[-1]
    steady_events = event_count(settings, table, after=first_pos, upto=target)
    steady = steady_events / (last_t - first_t) if last_t > first_t else None
    report.note(
        f"relay: {events} events in {len(seen)} transactions; {wall:.1f} s from spawn "
        f"(first commit after {first_t - started:.1f} s: start-up + first batch), "
        f"{last_t - first_t:.1f} s from first to last commit"
    )
    report.add(
        Row("relay events/s (incl. start-up) vs raw producer", events / wall, None, "ev/s"),
        Row("relay events/s (steady) vs raw producer", steady, None, "ev/s"),
    )
    return events, target


def read_all(
    settings: Settings, names: list[str]
) -> tuple[float, list[tuple[str, bytes | None, bytes, Any]]]:
    """A plain consumer over ``names`` from the beginning to the end; (seconds, messages)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}.bench.raw-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    messages: list[tuple[str, bytes | None, bytes, Any]] = []
    try:
        metadata = consumer.list_topics(timeout=30)
        partitions = [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t in names
            for p in metadata.topics[t].partitions
        ]
        for tp in partitions:  # connect first, as the replay does before its clock starts
            consumer.get_watermark_offsets(tp, timeout=30)
        started = time.perf_counter()
        consumer.assign(partitions)
        pending = {(tp.topic, tp.partition) for tp in partitions}
        while pending:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is None:
                    messages.append(
                        (message.topic(), message.key(), message.value(), message.headers())
                    )
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((message.topic(), message.partition()))
                else:
                    raise RuntimeError(f"raw consumer: {error}")
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    return seconds, messages


def relay_sized_batch(
    messages: list[tuple[str, bytes | None, bytes, Any]], start: int, transactional: bool
) -> list[tuple[str, bytes | None, bytes, Any]]:
    """The batch from ``start``: bounded as the relay bounds its transactions, or the rest."""
    if not transactional:
        return messages[start:]
    return take_batch(
        itertools.islice(messages, start, None),
        lambda m: len(m[1] or b"") + len(m[2]),
        MAX_BATCH_EVENTS,
        MAX_BATCH_BYTES,
    )


def raw_produce(
    settings: Settings, messages: list[tuple[str, bytes | None, bytes, Any]], transactional: bool
) -> float:
    """The same keys, values and headers to a scratch topic; seconds until all are acknowledged."""
    name = f"{settings.topic_prefix}.bench.raw{'-tx' if transactional else ''}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for future in admin.create_topics([NewTopic(name, settings.topic_partitions, 1)]).values():
        future.result()
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }
    if transactional:
        config["transactional.id"] = f"{name}.producer"
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            failures.append(error)

    try:
        producer = Producer(config)
        if transactional:
            producer.init_transactions(30)
            producer.begin_transaction()
        # warm up off the clock: the connection and the new topic's metadata
        producer.produce(name, key=b"warm-up", value=b"")
        producer.flush(30)
        if transactional:
            producer.commit_transaction()
        started = time.perf_counter()
        start = 0
        while batch := relay_sized_batch(messages, start, transactional):
            start += len(batch)
            if transactional:
                producer.begin_transaction()
            for _topic, key, value, headers in batch:
                producer.produce(name, key=key, value=value, headers=headers, on_delivery=delivered)
                producer.poll(0)
            producer.flush()
            if transactional:
                producer.commit_transaction()
        seconds = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"raw producer: {failures[0]}")
        return seconds
    finally:
        for future in admin.delete_topics([name]).values():
            with suppress(Exception):
                future.result()


def relay_baselines(
    settings: Settings, events: int, report: Report
) -> tuple[float, list[tuple[str, bytes | None, bytes, Any]]]:
    names = settings.topics.all_events
    read_seconds, messages = read_all(settings, names)
    if len(messages) != events:
        report.note(f"ODD: the event topics hold {len(messages)} messages for {events} events")
    size = statistics.fmean(len(v) for _, _, v, _ in messages) if messages else 0
    print(f"  raw baseline: producing {len(messages)} messages of ~{size:.0f} B ...", flush=True)
    plain = raw_produce(settings, messages, transactional=False)
    in_tx = raw_produce(settings, messages, transactional=True)
    relay_rows = [r for r in report.rows if r.metric.startswith("relay events/s")]
    for row in relay_rows:
        row.raw = len(messages) / plain
    report.add(
        Row(
            "  (raw transactional producer, relay-sized tx + flush)",
            None,
            len(messages) / in_tx,
            "msg/s",
        )
    )
    report.note(
        f"raw producer: {len(messages)} msgs (mean {size:.0f} B) in {plain:.2f} s plain, "
        f"{in_tx:.2f} s transactional (<= {MAX_BATCH_EVENTS}/tx, <= {MAX_BATCH_BYTES >> 20} MiB/tx)"
    )
    return read_seconds, messages


# ---------------------------------------------------------------------------------------------
# 3. Replay


REPLAY_LINE = re.compile(r"(\d+) events applied from (\d+) messages in ([\d.]+) s")


def raw_upserts(settings: Settings, messages: list[tuple[str, bytes | None, bytes, Any]]) -> float:
    """Upsert one row per message, a transaction per batch of the runner's size."""
    with psycopg.connect(settings.pg_conninfo) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_rows (id uuid PRIMARY KEY, seq bigint NOT NULL, "
            "doc text NOT NULL)"
        )
        conn.commit()
        rows = [(uuid4(), n, value.decode()) for n, (_, _, value, _) in enumerate(messages)]
        started = time.perf_counter()
        for start in range(0, len(rows), PROJECTION_BATCH):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO bench_raw_rows (id, seq, doc) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, doc = EXCLUDED.doc",
                    rows[start : start + PROJECTION_BATCH],
                )
            conn.commit()
        return time.perf_counter() - started


def replay_phase(
    settings: Settings,
    logs: Path,
    report: Report,
    read_seconds: float,
    messages: list[tuple[str, bytes | None, bytes, Any]],
    limit: float,
) -> None:
    print(f"\n[3/3] replay readmodels over {len(messages)} events", flush=True)
    log = logs / "replay.log"
    started = time.perf_counter()
    process = cli(settings, "replay", "readmodels", "--log-level", "WARNING", log=log)
    try:
        process.wait(timeout=limit)
    finally:
        stop_process(process)
    wall = time.perf_counter() - started
    found = REPLAY_LINE.search(tail(log))
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"replay failed ({process.returncode}):\n{tail(log)}")
    applied, consumed, seconds = int(found[1]), int(found[2]), float(found[3])
    report.note(
        f"replay: {applied} events applied from {consumed} messages in {seconds:.1f} s "
        f"({wall:.1f} s wall with start-up)"
    )
    upsert_seconds = raw_upserts(settings, messages)
    raw_read = len(messages) / read_seconds
    report.add(
        Row("replay events/s vs raw consumer", applied / seconds, raw_read, "ev/s"),
        Row("replay events/s (incl. start-up) vs raw consumer", applied / wall, raw_read, "ev/s"),
        Row(
            f"replay events/s vs raw upserts ({PROJECTION_BATCH}/tx)",
            applied / seconds,
            len(messages) / upsert_seconds,
            "ev/s",
        ),
        Row(  # the target: the same work done raw, one step after the other
            "replay events/s vs raw consumer feeding raw upserts",
            applied / seconds,
            len(messages) / (read_seconds + upsert_seconds),
            "ev/s",
        ),
    )


# ---------------------------------------------------------------------------------------------


@contextmanager
def command_side(settings: Settings, threads: int) -> Iterator[Studio]:
    pool: ConnectionPool = connection_pool(settings, max_size=threads + 2, name="bench-commands")
    store: EventStore | None = None
    try:
        keys = KeyStore(pool, settings.secret("master_key"), settings.api_key_cache_seconds)
        keys.ensure_schema()
        store = EventStore(settings, keys, cache_size=settings.api_aggregate_cache_size)
        yield Studio(settings, store, keys)
    finally:
        if store is not None:
            store.close()
        pool.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=4000, help="commands in the mix")
    parser.add_argument(
        "--events", type=int, default=50000, help="events in the relay/replay backlog (at least)"
    )
    parser.add_argument(
        "--threads",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[4],
        help="command-side threads; a list (1,4,8) runs the command phase once per count",
    )
    parser.add_argument(
        "--registrations", type=int, default=None, help="creators registered (default 2/thread)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="limit for the relay and the replay (s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_signals()
    report = Report()
    stop = threading.Event()
    started = time.perf_counter()
    print(f"backbone benchmark: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    try:
        with (
            installation(get_settings()) as settings,
            tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp,
        ):
            logs = Path(tmp)
            with command_side(settings, max(args.threads)) as studio:
                table = studio.store.recorder.events_table_name  # type: ignore[attr-defined]
                for threads in args.threads:
                    creators = command_phase(settings, studio, table, args, threads, stop, report)
                top_up(studio, creators, args.events, args.seed, stop)
            events, _ = relay_phase(settings, table, logs, report, args.timeout)
            read_seconds, messages = relay_baselines(settings, events, report)
            replay_phase(settings, logs, report, read_seconds, messages, args.timeout)
    except KeyboardInterrupt:
        stop.set()
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
    report.print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
