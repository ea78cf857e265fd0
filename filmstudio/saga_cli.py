"""`filmstudio saga`: run the production saga (faust worker)."""

from __future__ import annotations

import logging

import click
import faust

from adapters.settings import get_settings
from filmstudio import bootstrap

# aiokafka logs each failed connection to a dead broker at ERROR, ten times a second per client,
# for as long as the broker is away (a node of a cluster may stay away for hours).
AIOKAFKA_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.consumer.fetcher")
REPEAT_SECONDS = 30.0


class RepeatFilter(logging.Filter):
    """Lets a message (by logger and template) through at most once per `seconds`; the next
    one that passes says how many were held back."""

    def __init__(self, seconds: float = REPEAT_SECONDS) -> None:
        super().__init__()
        self.seconds = seconds
        self.seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        last, held = self.seen.get(key, (float("-inf"), 0))
        if record.created - last < self.seconds:
            self.seen[key] = (last, held + 1)
            return False
        self.seen[key] = (record.created, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.seconds:.0f} s)"
        return True


@click.command("saga")
@click.option("--log-level", default="info", show_default=True)
def saga(log_level: str) -> None:
    """Advance productions: start stages, emit work units, record results, enforce deadlines."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    repeats = RepeatFilter()
    for name in AIOKAFKA_LOGGERS:
        logging.getLogger(name).addFilter(repeats)
    app = bootstrap.saga_app(get_settings())
    faust.Worker(app, loglevel=log_level, quiet=True).execute_from_commandline()
