"""The faults: `kill -9` of the studio's processes (the pid in `<state_dir>/run/<name>.pid`),
a Kafka broker restart and a PostgreSQL restart, one after another, each followed by waiting
until the studio is whole again (a different live pid, healthy: the API ready, the others' loop
beating since the kill), timed."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.chaos.studio import ChaosStudio
from filmstudio.stack import kafka, postgres

RECOVERY_TIMEOUT = 90.0
BROKER, POSTGRES = "kafka broker restart", "postgresql restart"


@dataclass
class Fault:
    kind: str  # "kill -9 <process>", BROKER or POSTGRES
    at: float  # seconds since the injector started
    recovery: float | None = None  # seconds until the studio was whole again; None: never
    restart: float | None = None  # a kill: seconds until a new pid ran (the supervisor's part)
    error: str = ""


def plan(processes: list[str], kills: int, restarts: list[str], seed: int) -> list[str]:
    """`kills` process names, every process in turn (a shuffled order each round), with the
    `restarts` spread evenly between them."""
    rng = random.Random(seed)
    order: list[str] = []
    while len(order) < kills:
        round_ = list(processes)
        rng.shuffle(round_)
        order.extend(round_)
    order = order[:kills]
    for i, restart in enumerate(restarts):
        order.insert((i + 1) * len(order) // (len(restarts) + 1), restart)
    return order


@dataclass
class Injector:
    """Injects the planned faults from a thread; `done` is set when the last one recovered."""

    studio: ChaosStudio
    schedule: list[str]
    gap: tuple[float, float] = (1.0, 4.0)
    seed: int = 0
    on_fault: Callable[[Fault], None] = lambda fault: None
    faults: list[Fault] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="faults", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        rng = random.Random(self.seed)
        started = time.monotonic()
        try:
            for what in self.schedule:
                time.sleep(rng.uniform(*self.gap))
                fault = Fault(what if what in (BROKER, POSTGRES) else f"kill -9 {what}", 0.0)
                fault.at = time.monotonic() - started
                try:
                    fault.recovery = self._inject(what, fault)
                except Exception as error:  # recorded: an unrecovered fault fails the run
                    fault.error = f"{type(error).__name__}: {error}"
                self.faults.append(fault)
                self.on_fault(fault)
        finally:
            self.done.set()

    def _inject(self, what: str, fault: Fault) -> float:
        if what == BROKER:
            return self._restart(kafka.stop, kafka.start)
        if what == POSTGRES:
            return self._restart(postgres.stop, postgres.start)
        return self._kill(what, fault)

    def _kill(self, name: str, fault: Fault) -> float:
        self._wait(lambda: self.studio.healthy(name), f"{name} to be healthy before the kill")
        pid = self.studio.live_pid(name)
        assert pid is not None, f"{name} has no live pid"
        beats = self.studio.beat_file(name).exists()  # then its successor must beat too
        os.kill(pid, signal.SIGKILL)
        killed, killed_at = time.monotonic(), time.time()
        since = killed_at if beats else None

        def replaced() -> bool:
            return self.studio.live_pid(name) not in (None, pid)

        self._wait(replaced, f"a new {name} after killing pid {pid}")
        fault.restart = time.monotonic() - killed
        self._wait(lambda: self.studio.healthy(name, since), f"the new {name} to be healthy")
        return time.monotonic() - killed

    def _restart(self, stop: Callable[..., bool], start: Callable[..., bool]) -> float:
        """Stop and start the service; then every process must be healthy, each loop that keeps
        a heartbeat having renewed it since the service is back (not while waiting it out)."""
        settings = self.studio.settings
        processes = sorted(set(self.schedule) - {BROKER, POSTGRES})
        beats = {name: self.studio.beat_file(name).exists() for name in processes}
        began = time.monotonic()
        stop(settings)
        start(settings)
        back = time.time()

        def whole() -> bool:
            return all(self.studio.healthy(n, back if beats[n] else None) for n in processes)

        self._wait(whole, "every studio process healthy after the restart")
        return time.monotonic() - began

    @staticmethod
    def _wait(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {RECOVERY_TIMEOUT:.0f} s")
            time.sleep(0.1)
