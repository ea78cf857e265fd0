"""``filmstudio relay``: run the outbox relay (one active, others standing by) until SIGTERM."""

from __future__ import annotations

import logging

import click

from adapters.settings import get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals


@click.command("relay")
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def relay(log_level: str) -> None:
    """Publish every recorded event to its Kafka topic, in order, exactly once."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    bootstrap.run_relay(get_settings(), stop_on_signals())


if __name__ == "__main__":
    relay()
