"""The ``filmstudio`` command line: the local stack, the studio's processes and Kafka's tools."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click

from adapters.settings import get_settings
from filmstudio import stack as local_stack
from filmstudio import supervisor
from filmstudio.processes import studio_processes
from filmstudio.procutil import ServiceError
from filmstudio.stack import kafka


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
def stack_up() -> None:
    """Start Kafka and PostgreSQL, create the role, database and topics (idempotent)."""
    local_stack.up(get_settings())
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


@main.command()
def up() -> None:
    """Start the stack, then the studio's processes (api, relay, projections)."""
    settings = get_settings()
    local_stack.up(settings)
    for spec in studio_processes(settings):
        supervisor.start(spec, settings)
    for spec in studio_processes(settings):
        supervisor.wait_healthy(spec, settings)
    click.echo("studio is up")


@main.command()
def down() -> None:
    """Stop the studio's processes, then the stack."""
    settings = get_settings()
    for spec in reversed(studio_processes(settings, every=True)):
        supervisor.stop(spec, settings)
    local_stack.down(settings)
    click.echo("studio is down")


@main.command()
def status() -> None:
    """Show the stack and each studio process (pid, healthy); exit 1 if anything is unhealthy."""
    settings = get_settings()
    ok = _print_stack_status()
    for spec in studio_processes(settings):
        st = supervisor.status(spec, settings)
        click.echo(f"{st.name:<12} pid={st.pid or '-':<10} healthy={st.healthy}")
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
from filmstudio.demo import demo  # noqa: E402
from filmstudio.projections_cli import projections, replay  # noqa: E402
from filmstudio.relay_cli import relay  # noqa: E402
from filmstudio.render import render  # noqa: E402
from filmstudio.saga_cli import saga  # noqa: E402
from filmstudio.workers_cli import workers  # noqa: E402

for _command in (relay, projections, replay, saga, workers, render, demo):
    main.add_command(_command)


if __name__ == "__main__":
    main()
