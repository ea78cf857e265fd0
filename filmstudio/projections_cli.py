"""``filmstudio projections`` (run live until SIGTERM) and ``filmstudio replay [PROJECTION]``.

A projection with a ``companion(stop)`` method (the analytics feed's file writer) has it run
beside its runner, and once more after a replay.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from psycopg_pool import ConnectionPool

from adapters.postgres import connection_pool
from adapters.settings import Settings, get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals
from projections.base import Projection
from projections.replay import replay as replay_projection
from projections.replay import replay_window
from projections.runner import ProjectionRunner


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@click.command("projections")
@click.option("--name", type=click.Choice(list(bootstrap.PROJECTIONS)), default="readmodels")
@click.option("--log-level", default="INFO", show_default=True)
def projections(name: str, log_level: str) -> None:
    """Apply the event topics to the read models until SIGTERM."""
    _logging(log_level)
    stop = stop_on_signals()
    with bootstrap.projection_runner(get_settings(), name) as runner:
        companion = getattr(runner.projection, "companion", None)
        if companion is None:
            runner.run(stop)
            return
        thread = threading.Thread(target=companion, args=(stop,), name=f"{name}-companion")
        thread.start()
        try:
            runner.run(stop)
        finally:
            stop.set()
            thread.join()


def _factory(spec: str) -> Callable[[Settings, ConnectionPool], Projection]:
    """A built-in projection's factory, or the ``package.module:factory`` callable named."""
    if spec in bootstrap.PROJECTIONS:
        return bootstrap.PROJECTIONS[spec]
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        names = ", ".join(bootstrap.PROJECTIONS)
        raise click.BadParameter(f"not {names}, nor package.module:factory", param_hint=spec)
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise click.BadParameter(f"cannot load it: {error}", param_hint=spec) from None
    if not callable(found):
        raise click.BadParameter("not a callable (settings, pool) -> Projection", param_hint=spec)
    return found  # type: ignore[no-any-return]


@contextmanager
def _runner(settings: Settings, spec: str) -> Iterator[ProjectionRunner]:
    if spec in bootstrap.PROJECTIONS:
        with bootstrap.projection_runner(settings, spec, "replay") as runner:
            yield runner
        return
    factory = _factory(spec)
    with connection_pool(settings, max_size=4, name=f"replay-{spec}") as pool:
        yield ProjectionRunner(settings, pool, factory(settings, pool))


def _moment(value: str | None) -> datetime | None:
    """An ISO 8601 time; UTC when it names no offset."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("replay")
@click.argument("projection", default="readmodels")
@click.option("--from", "start", help="only events that occurred at or after this ISO time")
@click.option("--to", "end", help="only events that occurred before this ISO time")
@click.option("--log-level", default="INFO", show_default=True)
def replay(projection: str, start: str | None, end: str | None, log_level: str) -> None:
    """Rebuild PROJECTION (a built-in name or package.module:factory, a callable
    (settings, pool) -> Projection) from the first event, up to the end of the topics, then
    exit; with --from/--to, from only the events that occurred in [from, to)."""
    window = (start, end) != (None, None)
    if window and projection in bootstrap.PROJECTIONS:
        raise click.UsageError(
            f"--from/--to would leave the live {projection!r} projection partial; use them with "
            "your own projection (package.module:factory)"
        )
    _logging(log_level)
    since = _moment(start) or datetime.fromtimestamp(0, UTC)
    until = _moment(end) or datetime.now(UTC)
    with _runner(get_settings(), projection) as runner:
        result = replay_window(runner, since, until) if window else replay_projection(runner)
        companion = getattr(runner.projection, "companion", None)
        if companion is not None:
            done = threading.Event()
            done.set()
            companion(done)
    click.echo(
        f"{projection}: {result.applied} events applied from {result.messages} messages "
        f"in {result.seconds:.1f} s"
    )
