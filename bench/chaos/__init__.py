"""The fault suite: productions on a private studio while its processes are killed (`kill -9`) and
its broker and database restarted, then the invariants that must hold, as tables.

`make chaos` runs `python -m bench.chaos` (100 kills, 5 productions, one broker and one
PostgreSQL restart); `tests/integration/test_chaos.py` runs a 10-fault version of `run`.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.settings import PROJECT_ROOT
from bench.chaos import invariants
from bench.chaos.client import Api, login
from bench.chaos.faults import BROKER, NODE_KILL, POSTGRES, Fault, Injector, plan
from bench.chaos.invariants import Check
from bench.chaos.productions import Lanes, Production
from bench.chaos.studio import ChaosStudio

EXAMPLES = sorted((PROJECT_ROOT / "examples").glob("*.fountain"))
REQUEST_TIMEOUT = 300.0  # for the first productions to be requested, before any fault


@dataclass(frozen=True)
class Config:
    faults: int = 100  # kill -9 faults
    productions: int = 5  # concurrent lanes, each with at least one production
    broker_restarts: int = 1
    postgres_restarts: int = 1
    seed: int = 1
    gap: tuple[float, float] = (1.0, 4.0)  # seconds between faults
    keep: bool = False  # keep the private studio's state dir (data, logs) even when all held
    state_dir: Path | None = None
    scripts: tuple[Path, ...] = tuple(EXAMPLES)  # lane i renders scripts[i % len(scripts)]
    brokers: int = 1  # Kafka nodes of the private studio
    node_kills: int = 0  # kill -9 of one Kafka node each (left dead; needs brokers >= 3)
    extra_workers: int = 0  # `filmstudio workers` processes beside the supervisor's


@dataclass
class Outcome:
    faults: list[Fault] = field(default_factory=list)
    productions: list[Production] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    api_retries: int = 0
    stuck_keys: int = 0  # Idempotency-Keys left "in progress" by a killed API (then retried anew)
    state_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.held for c in self.checks)


def run(config: Config, say: Callable[[str], None] = print) -> Outcome:
    """Start a private studio, drive productions through the faults, check the invariants."""
    started = time.monotonic()
    plain = say

    def say(line: str) -> None:  # each line with the seconds since the start
        plain(f"[{time.monotonic() - started:6.0f} s] {line}")

    studio = ChaosStudio.create(config.state_dir, config.brokers)
    outcome = Outcome(state_dir=studio.settings.state_dir)
    say(f"starting a private studio in {studio.settings.state_dir}")
    api = Api(studio.api_url)
    extra: list[subprocess.Popen[bytes]] = []
    try:
        studio.up()
        extra = studio.start_extra_workers(config.extra_workers)
        lanes = _drive(config, studio, api, outcome, say)
        say("checking the invariants")
        outcome.checks.extend(_checks(studio, api, lanes, [p.pid for p in extra]))
    finally:
        for process in extra:
            process.terminate()
            process.wait(60)
        outcome.api_retries, outcome.stuck_keys = api.retries, api.stuck_keys
        api.close()
        keep = config.keep or not outcome.ok
        say(f"stopping the private studio{' (its state dir is kept)' if keep else ''}")
        studio.down(remove=not keep)
        outcome.seconds = time.monotonic() - started
        say("stopped")
    return outcome


def _drive(
    config: Config, studio: ChaosStudio, api: Api, outcome: Outcome, say: Callable[[str], None]
) -> Lanes:
    """Run the productions while the faults land; the recovery, outcome and film checks."""
    settings = studio.settings
    admin = login(api, settings.admin_email, settings.secret("admin_password"))
    restarts = (
        [BROKER] * config.broker_restarts
        + [POSTGRES] * config.postgres_restarts
        + [NODE_KILL] * config.node_kills
    )
    schedule = plan(studio.processes(), config.faults, restarts, config.seed)

    def report(fault: Fault) -> None:
        outcome.faults.append(fault)
        took = f"{fault.recovery:.1f} s" if fault.recovery is not None else fault.error
        say(f"  fault {len(outcome.faults):>3}/{len(schedule)} {fault.kind:<22} recovered: {took}")

    injector = Injector(studio, schedule, gap=config.gap, seed=config.seed, on_fault=report)
    lanes = Lanes(api, admin, list(config.scripts), busy=lambda: not injector.done.is_set())
    driver = threading.Thread(target=lanes.run, args=(config.productions,), daemon=True)
    driver.start()
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while len(lanes.productions) < config.productions and driver.is_alive():
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    say(f"{len(lanes.productions)} productions requested; injecting {len(schedule)} faults")
    faults = injector.start()
    driver.join()
    faults.join()
    outcome.productions = lanes.productions
    say(f"productions done: {Counter(p.status for p in lanes.productions)}")
    outcome.checks.append(invariants.recovered(outcome.faults, len(schedule)))
    outcome.checks.append(invariants.outcomes(lanes.productions, lanes.errors))
    outcome.checks.append(invariants.films(settings, lanes.productions))
    return lanes


def _checks(studio: ChaosStudio, api: Api, lanes: Lanes, extra_workers: list[int]) -> list[Check]:
    """The checks of the studio at rest: credits, events in Kafka, read models vs a replay, and
    with extra workers, the work shared among them."""
    settings = studio.settings
    invariants.settle(settings)
    envelopes = invariants.read_events(settings)
    checks = [
        invariants.credits(api, lanes.creators, envelopes),
        invariants.unique_events(envelopes, invariants.stored_event_count(settings)),
        invariants.replay_matches(settings),
    ]
    if extra_workers:
        checks.append(invariants.shared_work(envelopes, extra_workers))
    return checks


def _seconds(faults: list[Fault]) -> str:
    """Recovered count, median and max recovery, median and max restart, as table cells."""

    def spread(values: list[float]) -> str:
        if not values:
            return f"{'-':>8} {'-':>6}"
        return f"{statistics.median(values):>8.1f} {max(values):>6.1f}"

    recovered = [f.recovery for f in faults if f.recovery is not None]
    restarted = [f.restart for f in faults if f.restart is not None]
    return f"{len(recovered):>9} {spread(recovered)} {spread(restarted):>25}"


def table(outcome: Outcome) -> str:
    """The faults by kind, the recovery times and the invariants, as text tables."""
    kinds = Counter(f.kind for f in outcome.faults)
    times = [f.recovery for f in outcome.faults if f.recovery is not None]
    lines = [
        "",
        "recovered: the studio whole again (a new pid, the API ready); restarted: a new pid ran",
        f"{'fault':<22} {'injected':>8} {'recovered':>9} {'median s':>8} {'max s':>6} "
        f"{'restarted median s':>18} {'max s':>6}",
    ]
    for kind in sorted(kinds):
        mine = [f for f in outcome.faults if f.kind == kind]
        lines.append(f"{kind:<22} {kinds[kind]:>8} " + _seconds(mine))
    if times:
        lines.append(f"{'all':<22} {len(outcome.faults):>8} " + _seconds(outcome.faults))
    lines += ["", f"{'invariant':<56} {'held':<5} figures"]
    for check in outcome.checks:
        lines.append(f"{check.name:<56} {'yes' if check.held else 'NO':<5} {check.figures}")
    verdict = "all invariants held" if outcome.ok else "FAILED"
    lines += [
        "",
        f"{len(outcome.productions)} productions, {outcome.api_retries} API retries, "
        f"{outcome.stuck_keys} stuck Idempotency-Keys, "
        f"{outcome.seconds / 60:.1f} min in all: {verdict}",
    ]
    return "\n".join(lines)
