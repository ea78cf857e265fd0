"""`filmstudio workers [--quality draft|final] [STAGE...]`: run stage workers, one consumer group
per stage and quality. Draft workers run the offline CPU backends; final workers run the model
backends (on GPU machines) from `studio.work.<stage>.final`, so each pool scales on its own lag."""

from __future__ import annotations

import logging
import threading

import click

from adapters.settings import get_settings
from domain.stages import STAGES, Quality
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals


@click.command("workers")
@click.argument("stages", nargs=-1, type=click.Choice(STAGES))
@click.option(
    "--quality", type=click.Choice(["draft", "final"]), default="draft", show_default=True
)
@click.option("--log-level", default="info", show_default=True)
def workers(stages: tuple[str, ...], quality: Quality, log_level: str) -> None:
    """Run a worker for each STAGE (default: every stage of the quality) until SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        built = bootstrap.stage_workers(get_settings(), quality, stages)
    except ValueError as unknown:
        raise click.BadParameter(str(unknown)) from None
    stop = stop_on_signals()
    threads = [
        threading.Thread(target=worker.run, args=(stop,), name=f"worker-{worker.stage}-{quality}")
        for worker in built
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
