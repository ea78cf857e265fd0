"""``filmstudio projections`` (run live until SIGTERM) and ``filmstudio replay [PROJECTION]``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from psycopg_pool import ConnectionPool

from adapters.keystore import KeyStore
from adapters.postgres import connection_pool
from adapters.settings import Settings, get_settings
from filmstudio.shutdown import stop_on_signals
from projections.base import Projection
from projections.readmodels import ReadModelProjection
from projections.replay import replay as replay_projection
from projections.runner import ProjectionRunner


def _readmodels(settings: Settings, pool: ConnectionPool) -> Projection:
    return ReadModelProjection(KeyStore(pool, settings.secret("master_key")))


PROJECTIONS: dict[str, Callable[[Settings, ConnectionPool], Projection]] = {
    "readmodels": _readmodels,
}


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@click.command("projections")
@click.option("--name", type=click.Choice(list(PROJECTIONS)), default="readmodels")
@click.option("--log-level", default="INFO", show_default=True)
def projections(name: str, log_level: str) -> None:
    """Apply the event topics to the read models until SIGTERM."""
    _logging(log_level)
    settings = get_settings()
    stop = stop_on_signals()
    with connection_pool(settings, max_size=4, name=f"projection-{name}") as pool:
        ProjectionRunner(settings, pool, PROJECTIONS[name](settings, pool)).run(stop)


@click.command("replay")
@click.argument("projection", type=click.Choice(list(PROJECTIONS)), default="readmodels")
@click.option("--log-level", default="INFO", show_default=True)
def replay(projection: str, log_level: str) -> None:
    """Rebuild PROJECTION from the first event, up to the end of the topics, then exit."""
    _logging(log_level)
    settings = get_settings()
    with connection_pool(settings, max_size=4, name=f"replay-{projection}") as pool:
        runner = ProjectionRunner(settings, pool, PROJECTIONS[projection](settings, pool))
        result = replay_projection(runner)
    click.echo(
        f"{projection}: {result.applied} events applied from {result.messages} messages "
        f"in {result.seconds:.1f} s"
    )
