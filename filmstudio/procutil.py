"""Small helpers for background processes: pid files that survive pid reuse, waiting, ports."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A local service or process could not be started or reached (shown without traceback)."""


class ServiceTimeout(ServiceError, TimeoutError):
    """Waiting for a service took too long."""


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours is reaped and counts as dead)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_pidfile(path: Path, pid: int) -> None:
    """Record ``pid`` with its start time, so a recycled pid is never mistaken for ours."""
    write_atomically(path, f"{pid} {_start_time(pid) or '-'}\n")


def read_pidfile(path: Path, remove_stale: bool = True) -> int | None:
    """The pid in ``path`` if that very process still runs; a stale file is removed (unless
    ``remove_stale`` is false: a reader that does not own the file leaves it to its writer)."""
    try:
        pid_text, _, started = path.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if pid_alive(pid) and started in ("", "-", _start_time(pid)):
        return pid
    if remove_stale:
        path.unlink(missing_ok=True)
    return None


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """In a child between fork and exec: have the kernel send ``sig`` when the parent dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``); exits at once if the parent is already gone."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def terminate(pid: int, timeout: float, group: bool = True) -> None:
    """SIGTERM ``pid`` (and its process group), then SIGKILL if still running after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``check`` until it is true; ``ServiceTimeout`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def split_hostport(address: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)``."""
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
