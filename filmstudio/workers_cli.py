"""`filmstudio workers [--pool cpu|gpu] [STAGE...]`: run stage workers, one consumer group per
stage and pool. The cpu pool runs the offline backends; the gpu pool runs the model backends of
"final" quality on `studio.work.<stage>.gpu`, so each pool scales on its own lag."""

from __future__ import annotations

import logging
import threading

import click

from adapters.media import LocalMediaStore
from adapters.settings import get_settings
from domain.stages import STAGES
from filmstudio.shutdown import stop_on_signals
from gpu_consumers.worker import BatchCompute, StageWorker, one_by_one
from schemas.work import MODEL_STAGES


def _computes(pool: str) -> dict[str, BatchCompute]:
    if pool == "gpu":
        from gpu_consumers.final.units import MODEL_COMPUTE  # imports torch and the models

        return MODEL_COMPUTE
    from gpu_consumers.units import COMPUTE  # imports the media backends

    return {stage: one_by_one(compute) for stage, compute in COMPUTE.items()}


@click.command("workers")
@click.argument("stages", nargs=-1, type=click.Choice(STAGES))
@click.option("--pool", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--log-level", default="info", show_default=True)
def workers(stages: tuple[str, ...], pool: str, log_level: str) -> None:
    """Run a worker for each STAGE (default: every stage of the pool) until SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = get_settings()
    computes = _computes(pool)
    unknown = [s for s in stages if s not in computes]
    if unknown:
        raise click.BadParameter(f"the {pool} pool has no backend for {', '.join(unknown)}")
    media = LocalMediaStore(settings.media_root)
    swept = media.sweep_staging()  # what workers killed mid-unit left half-written
    if swept:
        logging.getLogger(__name__).info("removed %d stale staging folders", swept)
    stop = stop_on_signals()
    backend = "model" if pool == "gpu" else "offline"
    threads = [
        threading.Thread(
            target=StageWorker(
                settings,
                stage,
                computes[stage],
                media,
                backend=backend,
                batch_size=settings.image_batch if stage == "image_generation" else 1,
            ).run,
            args=(stop,),
            name=f"worker-{stage}-{pool}",
        )
        for stage in stages or (MODEL_STAGES if pool == "gpu" else STAGES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
