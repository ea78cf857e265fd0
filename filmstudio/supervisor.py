"""Start, stop and report the studio's own background processes (pid and log in the state dir)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.settings import PROJECT_ROOT, Settings, get_settings
from filmstudio import procutil
from filmstudio.procutil import ServiceError


@dataclass(frozen=True)
class ProcessSpec:
    """A background process: a name, its command line and an optional HTTP health URL."""

    name: str
    argv: list[str]
    health_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    alive: bool
    healthy: bool


_CHILDREN: list[subprocess.Popen[bytes]] = []  # keeps Popen objects alive while they run


def log_file(spec: ProcessSpec, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).state_dir / "logs" / f"{spec.name}.log"


def pid_file(spec: ProcessSpec, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).state_dir / "run" / f"{spec.name}.pid"


def start(spec: ProcessSpec, settings: Settings | None = None) -> int:
    """Launch ``spec`` detached (own session), unless it already runs; returns its pid."""
    pids = pid_file(spec, settings)
    running = procutil.read_pidfile(pids)
    if running is not None:
        return running
    log = log_file(spec, settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = None
    if spec.env:
        env = {**os.environ, **spec.env}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=PROJECT_ROOT,
        )
    _CHILDREN.append(process)
    procutil.write_pidfile(pids, process.pid)
    return process.pid


def stop(spec: ProcessSpec, settings: Settings | None = None, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout``; False if it was not running."""
    pids = pid_file(spec, settings)
    pid = procutil.read_pidfile(pids)
    if pid is None:
        return False
    procutil.terminate(pid, timeout)
    pids.unlink(missing_ok=True)
    return True


def healthy(spec: ProcessSpec, timeout: float = 2.0) -> bool:
    """Whether the health URL answers 200 (no URL: nothing to ask)."""
    if spec.health_url is None:
        return True
    try:
        return httpx.get(spec.health_url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def status(spec: ProcessSpec, settings: Settings | None = None) -> ProcessStatus:
    """The pid, whether it runs, and whether it is healthy (its health URL, else alive)."""
    pid = procutil.read_pidfile(pid_file(spec, settings))
    alive = pid is not None
    return ProcessStatus(spec.name, pid, alive, alive and healthy(spec))


def wait_healthy(
    spec: ProcessSpec, settings: Settings | None = None, timeout: float = 30.0
) -> None:
    """Wait until ``spec`` is healthy; fail with the end of its log if it dies or times out."""

    def check() -> bool:
        current = status(spec, settings)
        if not current.alive:
            raise ServiceError(f"{spec.name} exited:\n{procutil.tail(log_file(spec, settings))}")
        return current.healthy

    procutil.wait_until(check, timeout, f"{spec.name} to become healthy")
