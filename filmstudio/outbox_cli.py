"""Projections that feed an outside service through an outbox, each one process: the projection
writes the outbox, a sender thread drains it. ``filmstudio notifications`` (e-mail) and
``filmstudio salesforce`` (the Salesforce sync)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import click

from adapters.settings import Settings, get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals

log = logging.getLogger(__name__)


class Sender(Protocol):
    def run(self, stop: threading.Event) -> None: ...


def run_with_sender(
    projection: str, sender: Callable[[Settings], AbstractContextManager[Any]], log_level: str
) -> None:
    """Run `projection`'s runner and its sender until SIGTERM; if either stops, both do (the
    supervisor restarts the process)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    settings = get_settings()
    failed: list[BaseException] = []

    def send(worker: Sender) -> None:
        try:
            worker.run(stop)
        except BaseException as error:
            failed.append(error)
            log.exception("the %s sender stopped", projection)
            stop.set()

    with (
        bootstrap.projection_runner(settings, projection) as runner,
        sender(settings) as worker,
    ):
        thread = threading.Thread(target=send, args=(worker,), name=f"{projection}-sender")
        thread.start()
        try:
            runner.run(stop)
        finally:
            stop.set()
            thread.join()
    if failed:
        raise click.ClickException(f"the {projection} sender stopped: {failed[0]!r}")


@click.command("notifications")
@click.option("--log-level", default="INFO", show_default=True)
def notifications(log_level: str) -> None:
    """Turn events into e-mails (an outbox) and send them, until SIGTERM."""
    run_with_sender("notifications", bootstrap.notification_sender, log_level)


@click.command("salesforce")
@click.option("--log-level", default="INFO", show_default=True)
def salesforce(log_level: str) -> None:
    """Sync users, projects, jobs and credits to Salesforce (an outbox, then its sender),
    until SIGTERM."""
    run_with_sender("salesforce", bootstrap.salesforce_sender, log_level)
