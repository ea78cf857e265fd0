"""``filmstudio projections`` (run live until SIGTERM) and ``filmstudio replay [PROJECTION]``."""

from __future__ import annotations

import logging

import click

from adapters.settings import get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals
from projections.replay import replay as replay_projection


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
        runner.run(stop)


@click.command("replay")
@click.argument("projection", type=click.Choice(list(bootstrap.PROJECTIONS)), default="readmodels")
@click.option("--log-level", default="INFO", show_default=True)
def replay(projection: str, log_level: str) -> None:
    """Rebuild PROJECTION from the first event, up to the end of the topics, then exit."""
    _logging(log_level)
    with bootstrap.projection_runner(get_settings(), projection, "replay") as runner:
        result = replay_projection(runner)
    click.echo(
        f"{projection}: {result.applied} events applied from {result.messages} messages "
        f"in {result.seconds:.1f} s"
    )
