import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from adapters.retry import Backoff
from adapters.settings import PROJECT_ROOT, Settings
from filmstudio import procutil, supervisor
from filmstudio.procutil import pid_alive, read_pidfile, wait_until
from filmstudio.supervisor import ProcessSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_start_status_stop(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = ProcessSpec(
        "sleeper", [sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(60)"]
    )
    pid = supervisor.start(spec, settings)
    assert supervisor.start(spec, settings) == pid  # already running: no second copy
    status = supervisor.status(spec, settings)
    assert (status.pid, status.alive, status.healthy) == (pid, True, True)
    log = tmp_path / "logs" / "sleeper.log"
    wait_until(lambda: "hi" in log.read_text(), 10, "the log line")
    assert supervisor.stop(spec, settings, timeout=5)
    assert supervisor.status(spec, settings).alive is False
    assert not supervisor.stop(spec, settings)


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = ProcessSpec("ghost", ["true"], health_url="http://127.0.0.1:9/healthz")
    pid_file = tmp_path / "run" / "ghost.pid"
    pid_file.parent.mkdir()
    pid_file.write_text("1 12345\n")  # pid 1 runs, but it is not the process we started
    status = supervisor.status(spec, settings)
    assert (status.pid, status.alive, status.healthy) == (None, False, False)
    assert pid_file.exists()  # a reader leaves the file to its writer, the supervisor


def test_unhealthy_when_health_url_fails(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = ProcessSpec(
        "deaf",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        health_url="http://127.0.0.1:9/healthz",
    )
    supervisor.start(spec, settings)
    try:
        status = supervisor.status(spec, settings)
        assert status.alive and not status.healthy
    finally:
        supervisor.stop(spec, settings, timeout=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_its_cap_and_starts_over():
    clock = FakeClock()
    backoff = Backoff(initial=0.5, cap=4.0, reset_after=30.0, clock=clock)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    clock.now += 29
    backoff.succeeded()  # not long enough yet
    assert backoff.next() == 4.0
    clock.now += 30
    backoff.succeeded()
    assert backoff.next() == 0.5


@pytest.fixture
def made(tmp_path: Path):
    """Supervisors built by a test, their children stopped at its end."""
    built: list[Supervisor] = []

    def make(*specs: ProcessSpec, **options) -> tuple[Supervisor, FakeClock]:
        clock = FakeClock()
        sup = Supervisor(Settings(state_dir=tmp_path), list(specs), clock=clock, **options)
        built.append(sup)
        return sup, clock

    yield make
    for sup in built:
        sup.stop_all(timeout=5)


def exited(sup: Supervisor, name: str) -> None:
    [child] = [c for c in sup.children if c.spec.name == name]
    assert child.process is not None
    wait_until(lambda: child.process.poll() is not None, 10, f"{name} to exit")


def test_a_killed_child_is_restarted_with_a_new_pid_file(made, tmp_path: Path):
    sup, clock = made(ProcessSpec("sleeper", SLEEPER))
    sup.step()
    pid_path = tmp_path / "run" / "sleeper.pid"
    first = read_pidfile(pid_path)
    assert first is not None and first == sup.children[0].pid

    os.kill(first, signal.SIGKILL)
    exited(sup, "sleeper")
    sup.step()  # reaped; the first restart is due 0.5 s later
    assert not pid_path.exists()
    state = json.loads((tmp_path / "run" / "supervisor.json").read_text())["processes"]["sleeper"]
    assert state["running"] is False
    assert state["last_exit"] == {"code": None, "signal": "SIGKILL"}

    clock.now += 0.5
    sup.step()
    second = read_pidfile(pid_path)
    assert second is not None and second != first
    state = json.loads((tmp_path / "run" / "supervisor.json").read_text())["processes"]["sleeper"]
    assert (state["pid"], state["starts"], state["restarts"]) == (second, 2, 1)


def test_a_crash_looping_child_waits_longer_each_time_until_it_runs_a_while(made):
    crasher = ProcessSpec("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    sup, clock = made(crasher, first_restart=0.5, max_restart_wait=4.0, stable_seconds=30.0)
    [child] = sup.children
    waits = []
    for _ in range(5):
        sup.step()  # starts it
        exited(sup, "crasher")
        sup.step()  # reaps it
        waits.append(child.next_start - clock.now)
        clock.now = child.next_start
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert (child.last_exit_code, child.last_exit_signal) == (3, None)

    sup.step()
    clock.now += 31  # this time it ran a while before it crashed
    exited(sup, "crasher")
    sup.step()
    assert child.next_start - clock.now == 0.5
    assert child.restarts == child.starts - 1 == 5


def test_a_child_whose_health_url_keeps_failing_is_killed_and_restarted(made):
    deaf = ProcessSpec("deaf", SLEEPER, health_url="http://127.0.0.1:9/healthz")
    sup, clock = made(deaf, health_grace=0.0, health_interval=1.0, health_failures=2)
    [child] = sup.children
    sup.step()
    first = child.pid
    for _ in range(2):
        clock.now += 1
        sup.step()
    exited(sup, "deaf")
    sup.step()
    assert child.last_exit_signal == "SIGKILL"
    clock.now = child.next_start
    sup.step()
    assert child.pid not in (None, first)


def test_stop_all_terms_then_kills_and_removes_the_pid_files(made, tmp_path: Path):
    stubborn = ProcessSpec(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
    )
    sup, _ = made(ProcessSpec("sleeper", SLEEPER), stubborn)
    sup.clock = time.monotonic  # stop_all waits in real time
    sup.step()
    pids = [c.pid for c in sup.children]
    log = tmp_path / "logs" / "stubborn.log"
    wait_until(lambda: log.exists() and "ready" in log.read_text(), 10, "SIGTERM to be ignored")
    sup.stop_all(timeout=1)
    assert not any(pid_alive(pid) for pid in pids)
    assert [c.last_exit_signal for c in sup.children] == ["SIGTERM", "SIGKILL"]
    assert list((tmp_path / "run").glob("*.pid")) == []
    assert (
        json.loads((tmp_path / "run" / "supervisor.json").read_text())["supervisor"]["running"]
        is False
    )


def test_children_die_with_a_killed_supervisor(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import sys, threading
        from adapters.settings import Settings
        from filmstudio.supervisor import ProcessSpec, Supervisor
        sup = Supervisor(Settings(state_dir=sys.argv[1]), [ProcessSpec("sleeper", {SLEEPER!r})])
        sup.run(threading.Event())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=PROJECT_ROOT)
    try:
        pid_path = tmp_path / "run" / "sleeper.pid"
        wait_until(lambda: read_pidfile(pid_path) is not None, 30, "the child to start")
        child = read_pidfile(pid_path)
        parent.kill()
        parent.wait()
        wait_until(lambda: not pid_alive(child), 10, "the orphaned child to die")
    finally:
        parent.kill()
        parent.wait()


def test_metrics_show_restarts_and_the_childrens_counters(made, tmp_path: Path):
    counting = ProcessSpec(
        "counting",
        [
            sys.executable,
            "-c",
            "from adapters.dead_letters import DEAD_LETTERS; import time; "
            "DEAD_LETTERS.labels('g', 't', 'ValueError').inc(); "
            "print('counted', flush=True); time.sleep(60)",
        ],
    )
    sup, clock = made(ProcessSpec("sleeper", SLEEPER), counting)
    sup.settings = Settings(state_dir=tmp_path, supervisor_metrics_port=0)
    port = sup.serve_metrics()
    sup.step()
    os.kill(sup.children[0].pid, signal.SIGKILL)
    exited(sup, "sleeper")
    sup.step()
    clock.now += 0.5
    sup.step()
    log = tmp_path / "logs" / "counting.log"
    wait_until(lambda: log.exists() and "counted" in log.read_text(), 30, "the child's count")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'filmstudio_process_restarts_total{process="sleeper"} 1.0' in text
    assert 'filmstudio_process_up{process="counting"} 1.0' in text
    assert 'studio_dead_letters_total{error_type="ValueError",group="g",topic="t"} 1.0' in text


def test_write_atomically_replaces_the_file_in_one_step(tmp_path: Path):
    target = tmp_path / "run" / "x.pid"
    procutil.write_atomically(target, "1 -\n")
    procutil.write_atomically(target, "2 -\n")
    assert target.read_text() == "2 -\n"
    assert [p.name for p in target.parent.iterdir()] == ["x.pid"]


def test_a_process_is_healthy_only_while_its_loop_beats(made, tmp_path: Path):
    beating = ProcessSpec(
        "beating",
        [
            sys.executable,
            "-c",
            "import time; from adapters import heartbeat\n"
            "while True:\n    heartbeat.beat(); time.sleep(0.2)",
        ],
        heartbeat=True,
    )
    silent = ProcessSpec("silent", SLEEPER, heartbeat=True)
    sup, clock = made(beating, silent)
    settings = Settings(state_dir=tmp_path)
    sup.step()
    wait_until(lambda: supervisor.status(beating, settings).healthy, 30, "the first heartbeat")
    quiet = supervisor.status(silent, settings)
    assert quiet.alive and not quiet.healthy
    clock.now += 1  # the state file is rewritten every second
    sup.step()
    state = json.loads((tmp_path / "run" / "supervisor.json").read_text())["processes"]
    assert state["beating"]["heartbeat_age"] is not None
    assert state["silent"]["heartbeat_age"] is None
