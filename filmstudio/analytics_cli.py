"""``filmstudio analytics query SQL``: DuckDB over the analytics feed's Parquet files.

Every event type has a view (``credits_purchased``, ``production_stage_completed`` ...; empty
when the feed holds none yet) and ``events`` has the common columns of them all. With the S3
media store the feed is first mirrored to a local cache (DuckDB's httpfs is not used).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click
import duckdb
import pyarrow as pa

from adapters.feed_store import feed_store
from adapters.settings import get_settings
from projections.analytics_rows import COMMON, arrow_schema, view_name
from schemas.catalogue import BY_TYPE

DAY = pa.field("day", pa.date32())  # the hive partition column


def _parquet(pattern: Path) -> str:
    path = str(pattern).replace("'", "''")
    return f"read_parquet('{path}', hive_partitioning = true, union_by_name = true)"


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the feed under ``root`` as views."""
    db = duckdb.connect()
    present = {
        p.name.removeprefix("type=") for p in root.glob("type=*") if any(p.rglob("*.parquet"))
    }
    for event_type, spec in sorted(BY_TYPE.items()):
        view = view_name(event_type)
        if event_type in present:
            source = _parquet(root / f"type={event_type}" / "*" / "*.parquet")
            db.execute(f"CREATE VIEW {view} AS SELECT * FROM {source}")
        else:
            db.register(view, pa.schema([*arrow_schema(spec), DAY]).empty_table())
    common = ", ".join(f'"{f.name}"' for f in [*COMMON, DAY])
    if present:
        db.execute(f"CREATE VIEW events AS SELECT {common} FROM {_parquet(root / '*/*/*.parquet')}")
    else:
        db.register("events", pa.schema([*COMMON, DAY]).empty_table())
    return db


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _print_table(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    cells = [columns, *[[_text(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    click.echo("\n".join(line.rstrip() for line in lines))


@click.group("analytics")
def analytics() -> None:
    """The analytics feed: Parquet files of every event, partitioned by type and day."""


@analytics.command("query")
@click.argument("sql")
@click.option("--format", "form", type=click.Choice(["table", "csv", "json"]), default="table")
def query(sql: str, form: str) -> None:
    """Run SQL over the feed's views and print the answer."""
    root = feed_store(get_settings()).local_copy()
    try:
        answer = connect(root).execute(sql)
        columns = [d[0] for d in answer.description or []]
        rows = answer.fetchall()
    except duckdb.Error as error:
        raise click.ClickException(str(error)) from None
    if form == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([columns, *rows])
    elif form == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        click.echo(json.dumps(records, default=str, indent=2))
    else:
        _print_table(columns, rows)
