"""``filmstudio notifications``: the notifications projection and its mail sender, one process."""

from __future__ import annotations

import logging
import threading

import click

from adapters.settings import get_settings
from filmstudio import bootstrap
from filmstudio.shutdown import stop_on_signals
from projections.mail_sender import MailSender

log = logging.getLogger(__name__)


@click.command("notifications")
@click.option("--log-level", default="INFO", show_default=True)
def notifications(log_level: str) -> None:
    """Turn events into e-mails (an outbox) and send them, until SIGTERM."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    settings = get_settings()
    failed: list[BaseException] = []

    def send(sender: MailSender) -> None:
        try:
            sender.run(stop)
        except BaseException as error:  # the process ends: its supervisor restarts it
            failed.append(error)
            log.exception("the mail sender stopped")
            stop.set()

    with (
        bootstrap.projection_runner(settings, "notifications") as runner,
        bootstrap.notification_sender(settings) as sender,
    ):
        thread = threading.Thread(target=send, args=(sender,), name="mail-sender")
        thread.start()
        try:
            runner.run(stop)
        finally:
            stop.set()
            thread.join()
    if failed:
        raise click.ClickException(f"the mail sender stopped: {failed[0]!r}")
