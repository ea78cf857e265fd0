"""The faults: `kill -9` of the studio's processes (the pid in `<state_dir>/run/<name>.pid`),
a Kafka broker restart, a PostgreSQL restart and, on a cluster of several Kafka nodes, `kill -9`
of one node (left dead), one after another, each followed by waiting until the studio is whole
again (a different live pid, healthy: the API ready, the others' loop beating since the kill;
for a node, every partition led by a live node with enough replicas in sync), timed."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from adapters import kafka as kafka_client
from adapters.topics import CATALOGUE
from bench.chaos.studio import ChaosStudio
from filmstudio.stack import kafka, postgres

RECOVERY_TIMEOUT = 90.0
BROKER, POSTGRES = "kafka broker restart", "postgresql restart"
NODE_KILL = "kill -9 kafka node"  # one node of a cluster of several, left dead


@dataclass
class Fault:
    kind: str  # "kill -9 <process>", BROKER, POSTGRES or NODE_KILL
    at: float  # seconds since the injector started
    recovery: float | None = None  # seconds until the studio was whole again; None: never
    restart: float | None = None  # a kill: seconds until a new pid ran (the supervisor's part)
    error: str = ""
    injected: float = 0.0  # time.monotonic() when it was injected


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
                named = what in (BROKER, POSTGRES, NODE_KILL)
                fault = Fault(what if named else f"kill -9 {what}", 0.0)
                fault.injected = time.monotonic()
                fault.at = fault.injected - started
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
        if what == NODE_KILL:
            return self._kill_node(fault)
        return self._kill(what, fault)

    def _kill_node(self, fault: Fault) -> float:
        """SIGKILL the live node leading the most event partitions (their leadership must move);
        recovered once every catalogue partition has a live leader and `min_insync_replicas`
        replicas in sync, so every write the studio makes is accepted again."""
        settings = self.studio.settings
        live = kafka.running_nodes(settings)
        if len(live) < 2:
            raise RuntimeError(f"a node kill needs a cluster of several live nodes, not {live}")
        admin = kafka_client.admin_client(settings, log_level=0)
        topics = admin.list_topics(timeout=30).topics
        leads = Counter(
            p.leader
            for name in settings.topics.all_events
            for p in topics[name].partitions.values()
        )
        node = max(live, key=lambda n: leads[n + 1])  # node ids are 1-based
        pid = kafka.running_pid(settings, node)
        assert pid is not None, f"kafka node {node + 1} has no live pid"
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        fault.kind = f"{NODE_KILL} {node + 1} (led {leads[node + 1]} event partitions)"
        names = [settings.topics.name(spec) for spec in CATALOGUE]

        def led() -> bool:
            try:
                now = admin.list_topics(timeout=5).topics
            except KafkaException:
                return False
            return all(
                p.leader not in (-1, node + 1) and len(p.isrs) >= settings.min_insync_replicas
                for name in names
                for p in now[name].partitions.values()
            )

        self._wait(led, f"every partition led by a live node after killing node {node + 1}")
        fault.restart = None
        return time.monotonic() - killed

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
