"""``filmstudio publisher``: upload published films to YouTube, until SIGTERM."""

from __future__ import annotations

import logging

import click

from adapters.settings import get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals


@click.command("publisher")
@click.option("--log-level", default="INFO", show_default=True)
def publisher(log_level: str) -> None:
    """Upload each requested publication's film, captions and thumbnail to YouTube."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    try:
        with bootstrap.publisher(get_settings()) as running:
            running.run(stop)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
