"""`filmstudio workers [--quality draft|final] [STAGE...]`: run stage workers, one consumer group
per stage and quality. Draft workers run the offline CPU backends; final workers run the model
backends (on GPU machines) from `studio.work.<stage>.final`, so each pool scales on its own lag."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import click

from adapters.settings import get_settings
from domain.stages import STAGES, Quality
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals

log = logging.getLogger(__name__)
STOP_SECONDS = 60.0  # a unit computing when the stop comes gets this long to finish


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
    if quality == "draft":  # in the background: the consumers join their groups meanwhile
        threading.Thread(
            target=warm_up, args=({w.stage for w in built},), name="warm-up", daemon=True
        ).start()
    stop = stop_on_signals()
    failed = run_until_one_fails(
        [(f"worker-{w.stage}-{quality}-{i}", w.run) for i, w in enumerate(built)], stop
    )
    if failed:
        raise SystemExit(f"stage threads died: {', '.join(failed)}; exiting to be restarted")


def warm_up(stages: set[str]) -> None:
    """The draft backends' once-per-process loads; a failure here is the first unit's to report."""
    from gpu_consumers.units import warm_up as load  # imports the media backends

    try:
        load(stages)
    except Exception:
        log.exception("warming up the %s backends failed", ", ".join(sorted(stages)))


def run_until_one_fails(
    loops: list[tuple[str, Callable[[threading.Event], None]]], stop: threading.Event
) -> list[str]:
    """Run each loop in its own thread until ``stop``; when one ends by an exception (or ends
    before ``stop``), stop them all and return the names of those that failed, so the process
    exits non-zero and its supervisor restarts it."""
    failed: list[str] = []

    def guarded(name: str, loop: Callable[[threading.Event], None]) -> None:
        try:
            loop(stop)
        except BaseException:
            log.exception("%s died", name)
            failed.append(name)
        else:
            if not stop.is_set():
                log.error("%s ended on its own", name)
                failed.append(name)
        finally:
            stop.set()

    threads = [
        threading.Thread(target=guarded, args=(name, loop), name=name, daemon=True)
        for name, loop in loops
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(1.0):
        pass
    for thread in threads:
        thread.join(STOP_SECONDS)
    return failed
