"""`filmstudio saga`: run the production saga (faust worker)."""

from __future__ import annotations

import logging

import click
import faust

from adapters.settings import get_settings
from filmstudio import bootstrap


@click.command("saga")
@click.option("--log-level", default="info", show_default=True)
def saga(log_level: str) -> None:
    """Advance productions: start stages, emit work units, record results, enforce deadlines."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = bootstrap.saga_app(get_settings())
    faust.Worker(app, loglevel=log_level, quiet=True).execute_from_commandline()
