"""`filmstudio workers [STAGE...]`: run stage workers (one consumer group per stage)."""

from __future__ import annotations

import logging
import threading

import click

from domain.stages import STAGES
from filmstudio.media import LocalMediaStore
from filmstudio.settings import get_settings
from filmstudio.shutdown import stop_on_signals
from gpu_consumers.worker import StageWorker


@click.command("workers")
@click.argument("stages", nargs=-1, type=click.Choice(STAGES))
@click.option("--log-level", default="info", show_default=True)
def workers(stages: tuple[str, ...], log_level: str) -> None:
    """Run a worker for each STAGE (default: every stage) in this process until SIGTERM."""
    from gpu_consumers.units import COMPUTE  # imports the media backends

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = get_settings()
    media = LocalMediaStore(settings.media_root)
    swept = media.sweep_staging()  # what workers killed mid-unit left half-written
    if swept:
        logging.getLogger(__name__).info("removed %d stale staging folders", swept)
    stop = stop_on_signals()
    threads = [
        threading.Thread(
            target=StageWorker(settings, stage, COMPUTE[stage], media).run,
            args=(stop,),
            name=f"worker-{stage}",
        )
        for stage in stages or STAGES
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
