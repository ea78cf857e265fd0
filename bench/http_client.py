"""The load generator of ``bench/http_load.py``: a creator's command mix over HTTP (aiohttp on
asyncio), run in a process of its own so that it does not share the server's GIL.

Two ways to drive it:

- closed loop: ``connections`` clients, each sending its next command when the previous one is
  answered (throughput; latency is service time);
- fixed arrival rate: a command is due every ``1/rate`` s whatever the server does; each one's
  latency runs from its scheduled send time, so time spent queueing (in the client or the
  server) is counted and a slow server cannot slow the load down (no coordinated omission).

A session is a creator's visit: create a project, revise its script two or three times, request
a production, sometimes cancel it, now and then change the profile or (as the admin) top up the
creator's credits. A command depends on the answer of the one before it, so in the fixed-rate
mode each due slot goes to a session whose previous command was answered, or opens a new one.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.backbone import LANGS, RATIOS, script


@dataclass(frozen=True)
class Creator:
    user_id: str
    name: str
    token: str


@dataclass(frozen=True)
class Call:
    """One command: what it is, and the HTTP request that sends it."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None
    token: str
    idempotent: bool = False  # sent with an Idempotency-Key


@dataclass(frozen=True)
class Sample:
    kind: str
    status: int  # 0: no HTTP answer (connection error, time-out)
    seconds: float  # from the scheduled send time (fixed rate) or the send (closed loop)
    at: float  # when it was answered, seconds since the phase started


@dataclass(frozen=True)
class Load:
    """What to run: ``rate`` None for a closed loop of ``connections`` clients."""

    base_url: str
    creators: list[Creator]
    admin_token: str
    seconds: float
    connections: int = 8
    rate: float | None = None
    seed: int = 7
    timeout: float = 30.0


Session = Generator[Call, dict[str, Any] | None, None]


def session(creator: Creator, admin_token: str, rng: random.Random) -> Session:
    """A creator's visit, one command at a time; each ``yield`` receives the answer's JSON
    (None when the command failed, which ends the visit)."""
    token = creator.token
    title = f"Film {rng.randint(1, 10**6)}"
    body: dict[str, Any] = {
        "title": title,
        "language": rng.choice(LANGS),
        "aspect_ratio": rng.choice(RATIOS),
    }
    answer = yield Call("create_project", "POST", "/v1/projects", body, token, idempotent=True)
    if answer is None:
        return
    project = answer["project_id"]
    for _ in range(rng.randint(2, 3)):
        text = script(rng, rng.randint(4, 12))
        path = f"/v1/projects/{project}/script"
        body = {"format": "fountain", "text": text}
        if (yield Call("revise_script", "PUT", path, body, token)) is None:
            return
    path = f"/v1/projects/{project}/productions"
    body = {"burn_subtitles": rng.random() < 0.5}
    answer = yield Call("request_production", "POST", path, body, token, idempotent=True)
    if answer is None:
        return
    if rng.random() < 0.25:
        path = f"/v1/productions/{answer['production_id']}/cancel"
        body = {"reason": "changed mind"}
        if (yield Call("cancel_production", "POST", path, body, token)) is None:
            return
    if rng.random() < 0.1:
        body = {"display_name": f"{creator.name} {rng.randint(1, 99)}"}
        if (yield Call("change_profile", "PATCH", "/v1/me", body, token)) is None:
            return
    if rng.random() < 0.1:
        path = f"/v1/admin/users/{creator.user_id}/credits"
        body = {"amount": 500, "reason": "top-up"}
        yield Call("grant_credits", "POST", path, body, admin_token, idempotent=True)


async def send(http: aiohttp.ClientSession, call: Call) -> tuple[int, dict[str, Any] | None]:
    """(status, JSON answer when 2xx); status 0 when no answer came."""
    headers = {"Authorization": f"Bearer {call.token}"}
    if call.idempotent:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    try:
        async with http.request(call.method, call.path, json=call.body, headers=headers) as r:
            data = await r.read()
            if 200 <= r.status < 300:
                return r.status, _json(data)
            return r.status, None
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


def _json(data: bytes) -> dict[str, Any] | None:
    value = json.loads(data)
    return value if isinstance(value, dict) else None


class Mix:
    """Sessions over the creators, in a seeded order."""

    def __init__(self, load: Load, stream: int) -> None:
        self.load = load
        self.rng = random.Random(load.seed * 1000 + stream)

    def new(self) -> tuple[Session, Call]:
        creator = self.rng.choice(self.load.creators)
        visit = session(creator, self.load.admin_token, random.Random(self.rng.random()))
        return visit, next(visit)


def advance(visit: Session, answer: dict[str, Any] | None) -> Call | None:
    """The visit's next command after `answer`, or None when it is over."""
    try:
        return visit.send(answer)
    except StopIteration:
        return None


async def closed_loop(http: aiohttp.ClientSession, load: Load) -> list[Sample]:
    samples: list[Sample] = []
    started = time.perf_counter()
    end = started + load.seconds

    async def client(index: int) -> None:
        mix = Mix(load, index)
        while time.perf_counter() < end:
            visit, call = mix.new()
            next_call: Call | None = call
            while next_call is not None and time.perf_counter() < end:
                sent = time.perf_counter()
                status, answer = await send(http, next_call)
                now = time.perf_counter()
                samples.append(Sample(next_call.kind, status, now - sent, now - started))
                next_call = advance(visit, answer) if answer is not None else None
            visit.close()

    await asyncio.gather(*(client(i) for i in range(load.connections)))
    return samples


async def fixed_rate(http: aiohttp.ClientSession, load: Load) -> list[Sample]:
    assert load.rate
    samples: list[Sample] = []
    ready: deque[tuple[Session, Call]] = deque()
    mix = Mix(load, 0)
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()

    async def fire(visit: Session, call: Call, due: float) -> None:
        status, answer = await send(http, call)
        now = time.perf_counter()
        samples.append(Sample(call.kind, status, now - due, now - started))
        following = advance(visit, answer) if answer is not None else None
        if following is None:
            visit.close()
        else:
            ready.append((visit, following))

    for k in range(round(load.seconds * load.rate)):
        due = started + k / load.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        visit, call = ready.popleft() if ready else mix.new()
        task = asyncio.create_task(fire(visit, call, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    return samples


async def run(load: Load) -> list[Sample]:
    # the fixed rate's connections are not capped: queueing shows up as latency, not as a limit
    limit = load.connections if load.rate is None else 0
    connector = aiohttp.TCPConnector(limit=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=load.timeout)
    async with aiohttp.ClientSession(load.base_url, connector=connector, timeout=timeout) as http:
        if load.rate is None:
            return await closed_loop(http, load)
        return await fixed_rate(http, load)


def drive(load: Load, results: Connection) -> None:
    """Run `load` to the end and send its samples (the entry point of the client process)."""
    results.send(asyncio.run(run(load)))
    results.close()
