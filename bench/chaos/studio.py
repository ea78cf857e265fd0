"""A private studio for the fault suite: its own Kafka, PostgreSQL, topics, database, API port and
state dir, started with `filmstudio up` and stopped with `filmstudio down` from its environment,
so killing and restarting anything of it never disturbs another studio or the shared stack."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.settings import PROJECT_ROOT, Settings
from filmstudio import procutil

KILLABLE = ("relay", "projections", "saga", "workers", "api")  # the studio's own processes
UP_TIMEOUT = 300.0
HEARTBEAT_STALE = 30.0  # as the supervisor judges a heartbeat (adapters/heartbeat.py)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, step: int = 2) -> int:
    """A port p with p, p + step, ... (`count` ports) all free: a cluster's nodes' ports."""
    while True:
        base = free_port()
        try:
            for i in range(1, count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + step * i))
        except OSError:
            continue
        return base


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class ChaosStudio:
    """One isolated studio; `env` is what its processes and `filmstudio` CLIs run with."""

    settings: Settings
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, state_dir: Path | None = None, brokers: int = 1) -> ChaosStudio:
        """A studio of its own; `brokers` Kafka nodes (3: topics with 3 replicas, 2 in sync)."""
        run = secrets.token_hex(3)
        state = state_dir or PROJECT_ROOT / ".state" / "chaos" / run
        values: dict[str, object] = {
            "state_dir": state,
            "kafka_bootstrap": f"127.0.0.1:{free_ports(brokers)}",
            "kafka_controller_port": free_ports(brokers),
            "kafka_brokers": brokers,
            "pg_port": free_port(),
            "api_port": free_port(),
            "topic_prefix": f"chaos{run}",
            "pg_database": f"chaos_{run}",
        }
        if "supervisor_metrics_port" in Settings.model_fields:
            values["supervisor_metrics_port"] = free_port()  # beside any other studio's
        settings = Settings(**values)  # type: ignore[arg-type]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FILMSTUDIO_")}
        env = {
            **inherited,
            **{f"FILMSTUDIO_{k.upper()}": str(v) for k, v in values.items()},
            "PYTHONUNBUFFERED": "1",
        }
        return cls(settings, env)

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def cli(self, *args: str, timeout: float = UP_TIMEOUT) -> None:
        """Run `filmstudio ARGS` in this studio's environment; RuntimeError with its output."""
        done = subprocess.run(
            [sys.executable, "-m", "filmstudio.cli", *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"filmstudio {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def up(self) -> None:
        self.cli("up")

    def down(self, remove: bool) -> None:
        """`filmstudio down`; `remove` deletes the state dir (data, logs) afterwards."""
        try:
            self.cli("down", timeout=180)
        finally:
            if remove:
                shutil.rmtree(self.settings.state_dir, ignore_errors=True)

    def pid_file(self, name: str) -> Path:
        return self.settings.state_dir / "run" / f"{name}.pid"

    def live_pid(self, name: str) -> int | None:
        """The pid recorded for `name` if that very process runs (the file is never touched)."""
        try:
            pid_text, _, started = self.pid_file(name).read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if not procutil.pid_alive(pid) or started not in ("", "-", _start_time(pid)):
            return None
        return pid

    def processes(self) -> list[str]:
        """The killable processes this studio runs (those with a pid file)."""
        return [name for name in KILLABLE if self.pid_file(name).exists()]

    def beat_file(self, name: str) -> Path:
        """Where the supervisor has `name`'s main loop keep its heartbeat (if it keeps one)."""
        return self.settings.state_dir / "run" / f"{name}.beat"

    def healthy(self, name: str, since: float | None = None) -> bool:
        """The API: ready (answers and reaches its database). The others: running, and with
        `since` (a `time.time()`) their loop's heartbeat renewed after it (the supervisor removes
        the file when it restarts a process); without, the heartbeat, if any, fresh."""
        if self.live_pid(name) is None:
            return False
        if name != "api":
            try:
                renewed = self.beat_file(name).stat().st_mtime
            except OSError:
                return since is None
            return renewed > (since if since is not None else time.time() - HEARTBEAT_STALE)
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_extra_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        """`count` more `filmstudio workers` processes beside the supervisor's: the same
        consumer groups, so each stage's partitions are shared among them."""
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        started = []
        for i in range(count):
            with open(logs / f"extra-workers-{i}.log", "ab") as log:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "filmstudio.cli", "workers"],
                        env=self.env,
                        cwd=PROJECT_ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return started

    def log_tail(self, name: str, lines: int = 20) -> str:
        return procutil.tail(self.settings.state_dir / "logs" / f"{name}.log", lines)
