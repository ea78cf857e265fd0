"""`filmstudio up` on an isolated installation: every process killed with SIGKILL comes back
(new pid, healthy) without anyone's help, and `filmstudio down` stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.settings import PROJECT_ROOT, Settings
from filmstudio.processes import studio_processes
from filmstudio.procutil import pid_alive, read_pidfile, wait_until
from tests.integration.conftest import free_port, studio_env


@pytest.fixture(scope="module")
def isolated(
    isolated_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A second studio on the shared stack: own state dir, topics, database and ports."""
    settings = isolated_settings().model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("studio-state"),
            "api_port": free_port(),
            "supervisor_metrics_port": free_port(),
            "local_stack": False,
        }
    )
    env = {
        **studio_env(settings),
        "FILMSTUDIO_STATE_DIR": str(settings.state_dir),
        "FILMSTUDIO_MEDIA_DIR": str(settings.state_dir / "media"),
        "FILMSTUDIO_SUPERVISOR_METRICS_PORT": str(settings.supervisor_metrics_port),
        "FILMSTUDIO_LOCAL_STACK": "false",
    }
    yield settings, env
    cli(env, "down", timeout=120)


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "filmstudio.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pid_of(settings: Settings, name: str) -> int | None:
    return read_pidfile(settings.state_dir / "run" / f"{name}.pid", remove_stale=False)


def test_killed_processes_come_back_and_down_stops_everything(isolated):
    settings, env = isolated
    started = cli(env, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert cli(env, "up").returncode == 0  # idempotent: the same supervisor stays
    supervisor = pid_of(settings, "supervisor")
    names = [spec.name for spec in studio_processes(settings)]

    back_after: dict[str, float] = {}
    killed_at = time.monotonic()
    for name in names:
        old = pid_of(settings, name)
        assert old is not None, f"{name} has no pid file"
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        wait_until(
            lambda name=name, old=old: pid_of(settings, name) not in (None, old),
            60,
            f"{name} to be restarted",
        )
        back_after[name] = round(time.monotonic() - killed_at, 1)
    health = f"http://127.0.0.1:{settings.api_port}/healthz"
    wait_until(lambda: _ok(health), 60, "the restarted API to answer")
    back_after["api healthy"] = round(time.monotonic() - killed_at, 1)  # the API was killed last
    statuses = []
    wait_until(
        lambda: statuses.append(cli(env, "status")) or statuses[-1].returncode == 0,
        120,
        "every restarted process to be healthy",
    )
    back_after["all healthy"] = round(time.monotonic() - killed_at, 1)
    print("seconds from SIGKILL to a new pid:", back_after)  # a measurement, not a check
    assert pid_of(settings, "supervisor") == supervisor
    status = statuses[-1]
    for name in names:
        [line] = [line for line in status.stdout.splitlines() if line.startswith(f"{name} ")]
        assert "healthy=True" in line and "restarts=1" in line and "last_exit=SIGKILL" in line, line

    metrics = httpx.get(f"http://127.0.0.1:{settings.supervisor_metrics_port}/metrics").text
    for name in names:
        assert f'filmstudio_process_restarts_total{{process="{name}"}} 1.0' in metrics

    children = [pid_of(settings, name) for name in names]
    stopped = cli(env, "down", timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_alive(supervisor)
    assert [pid for pid in children if pid is not None and pid_alive(pid)] == []
    assert list(Path(settings.state_dir / "run").glob("*.pid")) == []
    assert cli(env, "status").returncode == 1


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
