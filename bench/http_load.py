"""HTTP load benchmark: the command path through the API, beside the same mix in-process.

Run against the local stack (``.venv/bin/filmstudio stack up`` first)::

    .venv/bin/python bench/http_load.py
    .venv/bin/python bench/http_load.py --connections 8 --seconds 20 --rates 50,200,400

It starts its own studio in a throwaway topic prefix and database (removed at the end, also on
Ctrl-C or an error): the relay, the read-model projections and the API, each with the command
line ``filmstudio up`` gives it. It registers creators over HTTP (the admin grants them credits),
then drives a creator's command mix (``bench/http_client.py``) from a client process of its own:

1. closed loop, N connections: commands/s, latency p50/p90/p99/max, answers by status;
2. a fixed arrival rate for each of ``--rates``: latency from each command's scheduled send time,
   so queueing counts; a rate the API cannot keep shows up as growing latency, not a lower rate;
3. the baseline: the same mix through ``commands.handlers.Studio`` in this process on N threads
   (``bench/backbone.py``'s ``command_mix``), with the relay and projections still running.

It prints figures only and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from uuid import UUID

import httpx
import psutil  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.metadata import message_context  # noqa: E402
from adapters.settings import PROJECT_ROOT, Settings, get_settings  # noqa: E402
from bench.backbone import (  # noqa: E402
    Creator,
    Report,
    Row,
    command_mix,
    command_side,
    installation,
    interrupt_on_signals,
    percentile,
    stop_process,
    studio_env,
    tail,
)
from bench.http_client import Creator as HttpCreator  # noqa: E402
from bench.http_client import Load, Sample, drive  # noqa: E402
from filmstudio.processes import studio_processes  # noqa: E402

STUDIO = ("relay", "projections", "api")  # the processes the command path needs
CREDITS = 1_000_000  # per grant (the admin route's most)
GRANTS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` and its children (the API's workers)."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in tree:
        with suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Running:
    """The running processes: the API's URL and each process's pid by name."""

    url: str
    pids: dict[str, int]

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}


@contextmanager
def studio(settings: Settings, logs: Path, extra_env: dict[str, str]) -> Iterator[Running]:
    """The relay, projections and API of `settings`, stopped after the block."""
    specs = [s for s in studio_processes(settings) if s.name in STUDIO]
    env = {**studio_env(settings), "FILMSTUDIO_API_PORT": str(settings.api_port), **extra_env}
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for spec in specs:
            with (logs / f"{spec.name}.log").open("ab") as out:
                process = subprocess.Popen(
                    spec.argv,
                    env={**env, **spec.env},
                    cwd=PROJECT_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append((spec.name, process))
        url = f"http://{settings.api_host}:{settings.api_port}"
        wait_ready(url, processes, logs)
        yield Running(url, {name: process.pid for name, process in processes})
    finally:
        for _, process in reversed(processes):
            stop_process(process)


def wait_ready(
    url: str, processes: list[tuple[str, subprocess.Popen[bytes]]], logs: Path, limit: float = 90
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for name, process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{tail(logs / f'{name}.log')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the API was not ready in {limit} s:\n{tail(logs / 'api.log')}")


def sign_in(http: httpx.Client, email: str, password: str) -> str:
    answer = http.post("/v1/auth/token", data={"username": email, "password": password})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def register(http: httpx.Client, settings: Settings, count: int) -> tuple[list[HttpCreator], str]:
    """`count` creators with credits, signed in; and the admin's token."""
    admin = sign_in(http, settings.admin_email, settings.secret("admin_password"))
    creators = []
    for n in range(count):
        email, password = f"load-{n}-{secrets.token_hex(3)}@example.com", f"pw-{n}-secret-pw"
        name = f"Creator {n}"
        answer = http.post(
            "/v1/auth/register",
            json={"email": email, "password": password, "display_name": name},
        )
        answer.raise_for_status()
        user_id = answer.json()["user_id"]
        for _ in range(GRANTS):
            granted = http.post(
                f"/v1/admin/users/{user_id}/credits",
                json={"amount": CREDITS, "reason": "load test"},
                headers={"Authorization": f"Bearer {admin}"},
            )
            granted.raise_for_status()
        creators.append(HttpCreator(user_id, name, sign_in(http, email, password)))
    return creators, admin


def summarise(
    report: Report, label: str, samples: list[Sample], seconds: float, cpu: dict[str, float]
) -> None:
    """Rows for one phase: throughput, latency percentiles, answers by status, CPU spent."""
    latencies = [s.seconds * 1000 for s in samples if 200 <= s.status < 300]
    statuses = Counter(s.status for s in samples)
    failed = {k: v for k, v in sorted(statuses.items()) if not 200 <= k < 300}
    report.add(Row(f"{label}: commands/s (2xx)", len(latencies) / seconds, None, "/s"))
    for q in (50, 90, 99):
        report.add(Row(f"{label}: p{q}", percentile(latencies, q), None, "ms", False))
    report.add(Row(f"{label}: max", max(latencies, default=0.0), None, "ms", False))
    errors = ", ".join(f"{k or 'no answer'}: {v}" for k, v in failed.items()) or "none"
    report.note(f"{label}: {len(samples)} commands in {seconds:.1f} s; errors by status: {errors}")
    per_command = ", ".join(
        f"{name} {used / max(len(samples), 1) * 1000:.2f}" for name, used in cpu.items()
    )
    report.note(f"  CPU ms per command: {per_command}")
    report.add(
        Row(
            f"{label}: API CPU per command",
            cpu["api"] / max(len(samples), 1) * 1000,
            None,
            "ms",
            False,
        )
    )
    by_kind: dict[str, list[float]] = {}
    for sample in samples:
        by_kind.setdefault(sample.kind, []).append(sample.seconds * 1000)
    for kind, values in sorted(by_kind.items()):
        report.note(
            f"  {kind:<19} n={len(values):<5} p50 {percentile(values, 50):6.1f} ms  "
            f"p99 {percentile(values, 99):6.1f} ms"
        )


def load_phase(load: Load) -> tuple[list[Sample], float]:
    """Run `load` in a client process of its own (stopped if this one is interrupted);
    (samples, seconds from the first due command to the last answer)."""
    context = get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    client = context.Process(target=drive, args=(load, sender), daemon=True)
    client.start()
    sender.close()
    try:
        samples: list[Sample] = receiver.recv()
    except EOFError:
        raise RuntimeError(f"the load client died ({client.exitcode})") from None
    finally:
        if client.is_alive():
            client.terminate()
        client.join()
    seconds = max((s.at for s in samples), default=load.seconds)
    return samples, max(seconds, load.seconds)


def in_process(
    settings: Settings, creators: list[HttpCreator], args: argparse.Namespace, report: Report
) -> None:
    """The same mix through the command handlers in this process, on `connections` threads."""
    stop = threading.Event()
    cpu_before = cpu_seconds(os.getpid())
    with command_side(settings, args.connections) as studio_:
        mine = [Creator(user_id=UUID(c.user_id), name=c.name) for c in creators]
        with message_context(actor="bench"):
            seconds, samples = command_mix(
                studio_, mine, args.baseline_commands, args.connections, args.seed, stop
            )
    cpu_ms = (cpu_seconds(os.getpid()) - cpu_before) / max(len(samples), 1) * 1000
    latencies = [s * 1000 for _, s in samples]
    report.add(
        Row("in-process (same mix): commands/s", len(samples) / seconds, None, "/s"),
        Row("in-process: p50", percentile(latencies, 50), None, "ms", False),
        Row("in-process: p99", percentile(latencies, 99), None, "ms", False),
        Row("in-process: CPU per command (this process)", cpu_ms, None, "ms", False),
    )
    report.note(f"in-process: {len(samples)} commands on {args.connections} threads")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=8, help="closed-loop connections")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--warm-up", type=float, default=3.0, help="closed loop, not measured")
    parser.add_argument(
        "--rates", default="50,200", help="fixed arrival rates (commands/s), comma-separated"
    )
    parser.add_argument("--creators", type=int, default=16)
    parser.add_argument("--baseline-commands", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-workers", type=int, default=None, help="default: the settings'")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the studio's processes (e.g. FILMSTUDIO_API_WORKERS=2)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    extra_env = dict(item.split("=", 1) for item in args.env)
    interrupt_on_signals()
    report = Report()
    print(f"HTTP load benchmark: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    try:
        with ExitStack() as stack:
            base = get_settings().model_copy(update={"api_port": free_port()})
            if args.api_workers:
                base = base.model_copy(update={"api_workers": args.api_workers})
            print(f"API workers: {base.api_workers}")
            settings = stack.enter_context(installation(base))
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-http-")))
            running = stack.enter_context(studio(settings, logs, extra_env))
            url = running.url
            print(f"studio up at {url} (logs in {logs})", flush=True)
            with httpx.Client(base_url=url, timeout=60) as http:
                creators, admin = register(http, settings, args.creators)
            print(f"registered {len(creators)} creators", flush=True)

            def phase(label: str, seconds: float, rate: float | None = None) -> None:
                load = Load(url, creators, admin, seconds, args.connections, rate, args.seed)
                before = running.cpu()
                samples, took = load_phase(load)
                after = running.cpu()
                used = {name: after[name] - before[name] for name in after}
                if label:
                    summarise(report, label, samples, took, used)

            if args.warm_up > 0:
                phase("", args.warm_up)
            print(f"closed loop, {args.connections} connections, {args.seconds:.0f} s", flush=True)
            phase(f"closed loop x{args.connections}", args.seconds)
            for rate in rates:
                print(f"fixed rate {rate:.0f}/s, {args.seconds:.0f} s", flush=True)
                phase(f"fixed {rate:.0f}/s", args.seconds, rate)
            print(f"in-process baseline, {args.baseline_commands} commands", flush=True)
            in_process(settings, creators, args, report)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
    closed = next(r for r in report.rows if r.metric.startswith("closed loop"))
    closed.raw = next(r.studio for r in report.rows if r.metric.startswith("in-process (same"))
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
