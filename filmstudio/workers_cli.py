"""`filmstudio workers [--quality draft|final] [STAGE...]`: run stage workers, one consumer group
per stage and quality. Draft workers run the offline CPU backends; final workers run the model
backends (on GPU machines) from `studio.work.<stage>.final`, so each pool scales on its own lag."""

from __future__ import annotations

import logging
import threading

import click

from adapters.media import LocalMediaStore
from adapters.settings import get_settings
from domain.stages import FINAL_QUALITY_STAGES, STAGES, Quality
from filmstudio.shutdown import stop_on_signals
from gpu_consumers.worker import BatchCompute, StageWorker, one_by_one


def _computes(quality: Quality) -> dict[str, BatchCompute]:
    if quality == "final":
        from gpu_consumers.final.units import MODEL_COMPUTE  # imports torch and the models

        return MODEL_COMPUTE
    from gpu_consumers.units import COMPUTE  # imports the media backends

    return {stage: one_by_one(compute) for stage, compute in COMPUTE.items()}


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
    settings = get_settings()
    computes = _computes(quality)
    unknown = [s for s in stages if s not in computes]
    if unknown:
        raise click.BadParameter(f"the {quality} quality has no backend for {', '.join(unknown)}")
    media = LocalMediaStore(settings.media_root)
    swept = media.sweep_staging()  # what workers killed mid-unit left half-written
    if swept:
        logging.getLogger(__name__).info("removed %d stale staging folders", swept)
    stop = stop_on_signals()
    threads = [
        threading.Thread(
            target=StageWorker(
                settings,
                stage,
                computes[stage],
                media,
                quality=quality,
                batch_size=settings.image_batch if stage == "image_generation" else 1,
            ).run,
            args=(stop,),
            name=f"worker-{stage}-{quality}",
        )
        for stage in stages or (FINAL_QUALITY_STAGES if quality == "final" else STAGES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
