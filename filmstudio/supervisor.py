"""The studio's process supervisor, and helpers to start, stop and ask a detached process.

`filmstudio up` starts one detached `filmstudio supervise` (its pid in
`<state_dir>/run/supervisor.pid`); the `Supervisor` runs every studio process as its child,
writes each child's pid to `<state_dir>/run/<name>.pid` whenever it (re)starts, restarts a child
that exits (first at once, then after waits that double while it keeps crashing, and start over
once it has run a while), restarts a child whose health URL keeps failing, keeps a JSON state
file (`supervisor.json`) and serves Prometheus metrics. Children die with it
(`PR_SET_PDEATHSIG`); SIGTERM stops them all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from adapters import heartbeat
from adapters.retry import Backoff
from adapters.settings import PROJECT_ROOT, Settings, get_settings
from filmstudio import procutil
from filmstudio.procutil import ServiceError

log = logging.getLogger(__name__)

STATE_FILE = "supervisor.json"
# A crash-looping child waits longer between starts, but never more than this: a child killed from
# outside (kill -9, the OOM killer) must be back within seconds, however often it happens.
MAX_RESTART_WAIT = 4.0
STABLE_SECONDS = 30.0  # a child that ran this long starts over with the first (quick) restart
HEALTH_INTERVAL = 5.0
HEALTH_GRACE = 60.0  # a child's health URL is first asked this long after it started
HEALTH_FAILURES = 6  # consecutive failed health checks after which a child is restarted
STOP_TIMEOUT = 15.0
STATE_EVERY = 1.0  # seconds between two writes of the state file when nothing changed


@dataclass(frozen=True)
class ProcessSpec:
    """A background process: a name, its command line, an optional HTTP health URL, and
    whether its main loop keeps a heartbeat (``adapters.heartbeat``) while it works."""

    name: str
    argv: list[str]
    health_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    heartbeat: bool = False


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    alive: bool
    healthy: bool


def run_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).state_dir / "run"


def log_file(spec: ProcessSpec, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).state_dir / "logs" / f"{spec.name}.log"


def pid_file(spec: ProcessSpec, settings: Settings | None = None) -> Path:
    return run_dir(settings) / f"{spec.name}.pid"


def heartbeat_file(spec: ProcessSpec, settings: Settings | None = None) -> Path:
    return run_dir(settings) / f"{spec.name}.beat"


def beating(spec: ProcessSpec, settings: Settings | None = None) -> bool:
    """Whether the process's loop renewed its heartbeat lately (no heartbeat kept: True)."""
    if not spec.heartbeat:
        return True
    age = heartbeat.age(heartbeat_file(spec, settings))
    return age is not None and age < heartbeat.STALE


def state_file(settings: Settings | None = None) -> Path:
    return run_dir(settings) / STATE_FILE


def metrics_dir(settings: Settings) -> Path:
    """Where the children's Prometheus counters live (prometheus_client multiprocess mode)."""
    return run_dir(settings) / "metrics"


def _environment(spec: ProcessSpec) -> dict[str, str] | None:
    return {**os.environ, **spec.env} if spec.env else None


def start(spec: ProcessSpec, settings: Settings | None = None) -> int:
    """Launch ``spec`` detached (own session), unless it already runs; returns its pid."""
    pids = pid_file(spec, settings)
    running = procutil.read_pidfile(pids)
    if running is not None:
        return running
    log = log_file(spec, settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_environment(spec),
            cwd=PROJECT_ROOT,
        )
    _DETACHED.append(process)
    procutil.write_pidfile(pids, process.pid)
    return process.pid


_DETACHED: list[subprocess.Popen[bytes]] = []  # keeps Popen objects alive while they run


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
    """The pid, whether it runs, and whether it is healthy: alive, its health URL answering and
    its heartbeat fresh (where it has them)."""
    pid = procutil.read_pidfile(pid_file(spec, settings), remove_stale=False)
    alive = pid is not None
    return ProcessStatus(spec.name, pid, alive, alive and beating(spec, settings) and healthy(spec))


def read_state(settings: Settings | None = None) -> dict[str, Any]:
    """The supervisor's last state file (empty when there is none)."""
    try:
        state: dict[str, Any] = json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return {}
    return state


# The supervisor


@dataclass
class Child:
    """One supervised process and what happened to it."""

    spec: ProcessSpec
    backoff: Backoff
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_signal: str | None = None
    started: float = 0.0  # monotonic
    up_since: str | None = None  # wall clock, ISO 8601
    next_start: float = 0.0  # monotonic
    health_checked: float = 0.0
    health_failures: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def snapshot(self, settings: Settings) -> dict[str, Any]:
        age = heartbeat.age(heartbeat_file(self.spec, settings)) if self.spec.heartbeat else None
        return {
            "pid": self.pid,
            "running": self.process is not None,
            "starts": self.starts,
            "restarts": self.restarts,
            "last_exit": {"code": self.last_exit_code, "signal": self.last_exit_signal},
            "up_since": self.up_since,
            "health_failures": self.health_failures,
            "heartbeat_age": None if age is None else round(age, 1),
        }


class Supervisor:
    """Keeps every spec running as a child: ``step`` once, or ``run`` until stopped."""

    def __init__(
        self,
        settings: Settings,
        specs: list[ProcessSpec],
        *,
        first_restart: float = 0.5,
        max_restart_wait: float = MAX_RESTART_WAIT,
        stable_seconds: float = STABLE_SECONDS,
        health_grace: float = HEALTH_GRACE,
        health_interval: float = HEALTH_INTERVAL,
        health_failures: int = HEALTH_FAILURES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stable_seconds = stable_seconds
        self.health_grace = health_grace
        self.health_interval = health_interval
        self.max_health_failures = health_failures
        self.children = [
            Child(spec, Backoff(initial=first_restart, cap=max_restart_wait, clock=clock))
            for spec in specs
        ]
        self.metrics_port: int | None = None
        self._written = -STATE_EVERY  # when the state file was last written (monotonic)
        self._changed = True
        self.registry = CollectorRegistry()
        self._up = Gauge(
            "filmstudio_process_up", "1 while the process runs", ["process"], registry=self.registry
        )
        self._starts = Counter(
            "filmstudio_process_starts", "Process starts", ["process"], registry=self.registry
        )
        self._restarts = Counter(
            "filmstudio_process_restarts", "Process restarts", ["process"], registry=self.registry
        )
        for child in self.children:
            self._up.labels(child.spec.name).set(0)
            self._restarts.labels(child.spec.name)

    # One round

    def step(self) -> None:
        """Reap exited children, restart the due ones, check health, write the state file."""
        now = self.clock()
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                self._exited(child, now)
            if child.process is None and now >= child.next_start:
                self._start(child, now)
            elif child.process is not None:
                self._check_health(child, now)
        if self._changed or now - self._written >= STATE_EVERY:
            self.write_state()
            self._written, self._changed = now, False

    def _start(self, child: Child, now: float) -> None:
        log_path = log_file(child.spec, self.settings)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **child.spec.env, "PROMETHEUS_MULTIPROC_DIR": str(self._metrics())}
        beat = heartbeat_file(child.spec, self.settings)
        beat.unlink(missing_ok=True)  # a new process shows its own sign of life
        if child.spec.heartbeat:
            env[heartbeat.ENV] = str(beat)
        try:
            with open(log_path, "ab") as out:
                child.process = subprocess.Popen(
                    child.spec.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                    cwd=PROJECT_ROOT,
                    preexec_fn=procutil.die_with_parent,
                )
        except OSError:
            log.exception("could not start %s", child.spec.name)
            child.next_start = now + child.backoff.next()
            return
        self._changed = True
        if child.starts:
            child.restarts += 1
            self._restarts.labels(child.spec.name).inc()
        child.starts += 1
        child.started = now
        child.up_since = datetime.now(UTC).isoformat()
        child.health_failures = 0
        child.health_checked = now
        procutil.write_pidfile(pid_file(child.spec, self.settings), child.process.pid)
        self._starts.labels(child.spec.name).inc()
        self._up.labels(child.spec.name).set(1)
        log.info("started %s (pid %d, start %d)", child.spec.name, child.pid, child.starts)

    def _exited(self, child: Child, now: float, restart: bool = True) -> None:
        assert child.process is not None
        code = child.process.returncode
        child.process = None
        child.up_since = None
        self._changed = True
        child.last_exit_code = code if code >= 0 else None
        child.last_exit_signal = signal.Signals(-code).name if code < 0 else None
        pid_file(child.spec, self.settings).unlink(missing_ok=True)
        self._up.labels(child.spec.name).set(0)
        if not restart:
            log.info("%s stopped (%s)", child.spec.name, child.last_exit_signal or f"code {code}")
            return
        if now - child.started >= self.stable_seconds:
            child.backoff.reset()
        wait = child.backoff.next()
        child.next_start = now + wait
        log.warning(
            "%s exited (%s); restarting in %.1f s",
            child.spec.name,
            child.last_exit_signal or f"code {code}",
            wait,
        )

    def _check_health(self, child: Child, now: float) -> None:
        """A child whose health URL keeps failing after its grace period is killed (and so
        restarted): a hung API must not stay up answering nothing."""
        spec, process = child.spec, child.process
        if spec.health_url is None or process is None:
            return
        if now - child.started < self.health_grace or now - child.health_checked < (
            self.health_interval
        ):
            return
        child.health_checked = now
        if healthy(spec):
            child.health_failures = 0
            return
        child.health_failures += 1
        if child.health_failures >= self.max_health_failures:
            log.error("%s failed %d health checks; killing it", spec.name, child.health_failures)
            _signal_group(process.pid, signal.SIGKILL)

    # State and metrics

    def _metrics(self) -> Path:
        folder = metrics_dir(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def serve_metrics(self) -> int:
        """Serve /metrics (ours and the children's counters) on the settings' port."""
        folder = self._metrics()
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
        MultiProcessCollector(self.registry, str(folder))
        server, _thread = start_http_server(
            self.settings.supervisor_metrics_port, self.settings.api_host, self.registry
        )
        self.metrics_port = int(server.server_port)
        return self.metrics_port

    def write_state(self, running: bool = True) -> None:
        state = {
            "supervisor": {
                "pid": os.getpid(),
                "running": running,
                "metrics_port": self.metrics_port,
            },
            "updated_at": datetime.now(UTC).isoformat(),
            "processes": {
                child.spec.name: child.snapshot(self.settings) for child in self.children
            },
        }
        procutil.write_atomically(state_file(self.settings), json.dumps(state, indent=2) + "\n")

    # The whole life

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Supervise until ``stop``, then stop every child."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(interval)
        finally:
            self.stop_all()

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every child's process group (last started first), SIGKILL what is left
        after ``timeout``."""
        running = [c for c in reversed(self.children) if c.process is not None]
        for child in running:
            assert child.process is not None
            _signal_group(child.process.pid, signal.SIGTERM)
        deadline = self.clock() + timeout
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0f s; killing it", child.spec.name, timeout)
                _signal_group(child.process.pid, signal.SIGKILL)
                child.process.wait()
            self._exited(child, self.clock(), restart=False)
        for child in self.children:
            pid_file(child.spec, self.settings).unlink(missing_ok=True)
        self.write_state(running=False)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def supervise(settings: Settings, specs: list[ProcessSpec], stop: threading.Event) -> None:
    """The supervisor process's life: one per state dir (a lock), leftovers of an earlier run
    stopped, metrics served, children kept running until ``stop``."""
    folder = run_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / "supervisor.lock", "w")  # noqa: SIM115  held for the process's life
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ServiceError(f"another supervisor runs for {settings.state_dir}") from None
    procutil.write_pidfile(folder / "supervisor.pid", os.getpid())
    for spec in specs:  # processes an older, unsupervised `filmstudio up` left running
        leftover = procutil.read_pidfile(pid_file(spec, settings))
        if leftover is not None:
            log.warning("stopping %s (pid %d) left from an earlier run", spec.name, leftover)
            procutil.terminate(leftover, STOP_TIMEOUT)
    supervisor = Supervisor(settings, specs)
    try:
        port = supervisor.serve_metrics()
        log.info("metrics on http://%s:%d/metrics", settings.api_host, port)
    except OSError:
        port = settings.supervisor_metrics_port
        log.exception("metrics port %d unavailable; supervising without metrics", port)
    try:
        supervisor.run(stop)
    finally:
        (folder / "supervisor.pid").unlink(missing_ok=True)
        lock.close()
