import sys
from pathlib import Path

from adapters.settings import Settings
from filmstudio import supervisor
from filmstudio.procutil import wait_until
from filmstudio.supervisor import ProcessSpec


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
    assert not pid_file.exists()


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
