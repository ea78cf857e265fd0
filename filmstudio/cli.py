"""The ``filmstudio`` command line: the local stack, the studio's processes and Kafka's tools."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import click

from adapters.kafka import ensure_topics
from adapters.settings import Settings, get_settings
from filmstudio import procutil, supervisor
from filmstudio import stack as local_stack
from filmstudio.processes import studio_processes
from filmstudio.procutil import ServiceError
from filmstudio.shutdown import stop_on_signals
from filmstudio.stack import kafka
from filmstudio.supervisor import ProcessSpec


class _Main(click.Group):
    """Shows service failures (port taken, start-up crash) as a message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Main)
def main() -> None:
    """AI Film Studio."""


@main.group()
def stack() -> None:
    """The local Kafka (KRaft) and PostgreSQL."""


@stack.command("up")
@click.option(
    "--brokers",
    type=click.IntRange(1, 9),
    default=None,
    help="Kafka nodes (default FILMSTUDIO_KAFKA_BROKERS, 1). With 3, topics get 3 replicas of "
    "which 2 must have each write; run the studio with FILMSTUDIO_KAFKA_BROKERS=3 too.",
)
def stack_up(brokers: int | None) -> None:
    """Start Kafka and PostgreSQL, create the role, database and topics (idempotent)."""
    settings = get_settings()
    if brokers is not None:
        settings = settings.model_copy(update={"kafka_brokers": brokers})
    local_stack.up(settings)
    click.echo("stack is up")


@stack.command("down")
def stack_down() -> None:
    """Stop Kafka and PostgreSQL (their data stays)."""
    local_stack.down(get_settings())
    click.echo("stack is down")


@stack.command("status")
def stack_status() -> None:
    """Show whether Kafka and PostgreSQL run and answer."""
    _print_stack_status()


@stack.command("jars")
def stack_jars() -> None:
    """Resolve Kafka's jars from Maven Central into the build folder (if missing)."""
    kafka.ensure_jars(get_settings())


def _print_stack_status() -> bool:
    services = local_stack.status(get_settings())
    for svc in services:
        click.echo(f"{svc.name:<12} {svc.where:<22} running={svc.running} healthy={svc.healthy}")
    return all(svc.healthy for svc in services)


SUPERVISOR = ProcessSpec("supervisor", [sys.executable, "-m", "filmstudio.cli", "supervise"])
UP_TIMEOUT = 120.0


@main.command()
def up() -> None:
    """Start the stack, then the supervisor, which runs the studio's processes; waits until
    every process is healthy (idempotent)."""
    settings = get_settings()
    if settings.local_stack:
        local_stack.up(settings)
    else:
        ensure_topics(settings)
    supervisor.start(SUPERVISOR, settings)
    _wait_until_up(settings, studio_processes(settings))
    click.echo("studio is up")


def _wait_until_up(settings: Settings, specs: list[ProcessSpec]) -> None:
    def check() -> bool:
        if supervisor.status(SUPERVISOR, settings).pid is None:
            raise ServiceError(
                "the supervisor exited:\n"
                + procutil.tail(supervisor.log_file(SUPERVISOR, settings))
            )
        return all(supervisor.status(spec, settings).healthy for spec in specs)

    try:
        procutil.wait_until(check, UP_TIMEOUT, "the studio's processes to become healthy")
    except procutil.ServiceTimeout as late:
        unhealthy = [s for s in specs if not supervisor.status(s, settings).healthy]
        logs = "\n".join(
            f"--- {s.name}:\n{procutil.tail(supervisor.log_file(s, settings), 15)}"
            for s in unhealthy
        )
        raise ServiceError(f"{late}; not healthy: {[s.name for s in unhealthy]}\n{logs}") from None


@main.command(hidden=True)
@click.option("--log-level", default="INFO", show_default=True)
def supervise(log_level: str) -> None:
    """Run every studio process as a child and restart what exits, until SIGTERM."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    supervisor.supervise(settings, studio_processes(settings), stop_on_signals())


@main.command()
def down() -> None:
    """Stop the supervisor (which stops the studio's processes), then the stack."""
    settings = get_settings()
    pid = supervisor.status(SUPERVISOR, settings).pid
    if pid is not None:
        procutil.terminate(pid, supervisor.STOP_TIMEOUT + 15)
        supervisor.pid_file(SUPERVISOR, settings).unlink(missing_ok=True)
    for spec in reversed(studio_processes(settings, every=True)):
        supervisor.stop(spec, settings)  # what an unsupervised run left
    if settings.local_stack:
        local_stack.down(settings)
    click.echo("studio is down")


@main.command()
def status() -> None:
    """Show the stack, the supervisor and each studio process (pid, healthy, restarts, last
    exit); exit 1 if anything is unhealthy."""
    settings = get_settings()
    ok = _print_stack_status() if settings.local_stack else True
    sup = supervisor.status(SUPERVISOR, settings)
    state = supervisor.read_state(settings)
    port = state.get("supervisor", {}).get("metrics_port") if sup.alive else None
    click.echo(f"{'supervisor':<14} pid={sup.pid or '-':<8} alive={sup.alive} metrics_port={port}")
    ok = ok and sup.alive
    known = state.get("processes", {}) if sup.alive else {}
    for spec in studio_processes(settings):
        st = supervisor.status(spec, settings)
        child = known.get(spec.name, {})
        last = child.get("last_exit") or {}
        exit_text = last.get("signal") or (
            "-" if last.get("code") is None else f"code {last['code']}"
        )
        click.echo(
            f"{st.name:<14} pid={st.pid or '-':<8} alive={st.alive} healthy={st.healthy} "
            f"restarts={child.get('restarts', 0)} last_exit={exit_text}"
        )
        ok = ok and st.healthy
    sys.exit(0 if ok else 1)


@main.command("kafka", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("tool", type=click.Choice([*kafka.TOOLS]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kafka_tool(tool: str, args: tuple[str, ...]) -> None:
    """Run Kafka's own CLI TOOL against the local broker (--bootstrap-server is added)."""
    command = kafka.tool_command(get_settings(), tool, list(args))
    sys.exit(subprocess.run(command, check=False).returncode)


# --- Commands from other modules (each a standalone click command that does not import this one)
from filmstudio.analytics_cli import analytics  # noqa: E402
from filmstudio.demo import demo  # noqa: E402
from filmstudio.outbox_cli import notifications, salesforce  # noqa: E402
from filmstudio.projections_cli import projections, replay  # noqa: E402
from filmstudio.publisher_cli import publisher  # noqa: E402
from filmstudio.relay_cli import relay  # noqa: E402
from filmstudio.render import render  # noqa: E402
from filmstudio.saga_cli import saga  # noqa: E402
from filmstudio.workers_cli import workers  # noqa: E402

for _command in (
    relay, projections, notifications, replay, saga, workers, render, demo, publisher, salesforce,
    analytics,
):  # fmt: skip
    main.add_command(_command)


if __name__ == "__main__":
    main()
