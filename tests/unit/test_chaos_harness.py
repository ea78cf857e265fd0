"""The fault suite's own parts that need no service: its fault plan, its retrying client and
how it judges a restarted process healthy."""

from __future__ import annotations

import os
import time
from collections import Counter

import httpx
import pytest

from adapters.settings import Settings
from bench.chaos import client as chaos_client
from bench.chaos.client import Api, ApiError, StuckKey
from bench.chaos.faults import BROKER, POSTGRES, plan
from bench.chaos.studio import ChaosStudio
from filmstudio import procutil

PROCESSES = ["relay", "projections", "saga", "workers", "api"]


def test_the_plan_kills_every_process_in_turn_and_spreads_the_restarts():
    schedule = plan(PROCESSES, 100, [BROKER, POSTGRES], seed=3)
    kills = [s for s in schedule if s not in (BROKER, POSTGRES)]
    assert len(schedule) == 102 and Counter(kills) == {name: 20 for name in PROCESSES}
    for start in range(0, 100, 5):  # each round of five kills every process once
        assert sorted(kills[start : start + 5]) == sorted(PROCESSES)
    assert schedule.index(BROKER) == 33 and schedule.index(POSTGRES) == 67  # a third, two thirds
    assert plan(PROCESSES, 100, [BROKER], seed=3) != plan(PROCESSES, 100, [BROKER], seed=4)


def scripted(answers: list) -> tuple[Api, list[httpx.Request]]:
    """An Api whose transport plays `answers` (a status, or an exception to raise) in turn."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body)

    return Api("http://studio", transport=httpx.MockTransport(handle), pause=0), seen


def test_a_post_is_retried_through_crashes_with_one_idempotency_key():
    down = httpx.ConnectError("connection refused")
    api, seen = scripted([down, (503, {"detail": "starting"}), (502, {}), (202, {"id": 1})])
    assert api.json("POST", "/v1/things", idempotent=True, json={}) == {"id": 1}
    keys = {request.headers["Idempotency-Key"] for request in seen}
    assert len(seen) == 4 and len(keys) == 1 and api.retries == 3


def test_a_refusal_is_not_retried():
    api, seen = scripted([(402, {"detail": "the balance does not cover the estimate"})])
    with pytest.raises(ApiError, match="402 the balance does not cover") as refused:
        api.call("POST", "/v1/things", json={})
    assert refused.value.status == 402 and len(seen) == 1


BUSY = (409, {"detail": "a request with this Idempotency-Key is still in progress"})


def test_a_key_in_progress_is_asked_again():
    api, seen = scripted([BUSY, (201, {"id": 2})])
    assert api.json("POST", "/v1/things", idempotent=True, json={}) == {"id": 2}
    assert len(seen) == 2 and api.stuck_keys == 0


def test_a_key_that_stays_in_progress_is_reported_stuck(monkeypatch):
    monkeypatch.setattr(chaos_client, "STUCK_AFTER", 0.0)
    api, _ = scripted([BUSY, BUSY])
    with pytest.raises(StuckKey):
        api.call("POST", "/v1/things", idempotent=True, json={})
    assert api.stuck_keys == 1


def test_the_client_gives_up_after_its_deadline():
    api, _ = scripted([httpx.ConnectError("refused")] * 3)
    api.deadline = 0.0
    with pytest.raises(ApiError, match="gave up"):
        api.call("GET", "/v1/me")


def test_a_restarted_loop_counts_as_healthy_once_its_heartbeat_is_renewed(tmp_path):
    studio = ChaosStudio(Settings(state_dir=tmp_path))
    procutil.write_pidfile(studio.pid_file("relay"), os.getpid())  # a live pid: ours
    killed_at = time.time()
    assert studio.healthy("relay"), "no heartbeat kept: running is enough"
    assert not studio.healthy("relay", killed_at), "its heartbeat was removed at the restart"
    beat = studio.beat_file("relay")
    beat.touch()
    os.utime(beat, (killed_at - 5, killed_at - 5))
    assert not studio.healthy("relay", killed_at), "the beat is older than the kill"
    assert studio.healthy("relay"), "yet fresh enough for a process nobody killed"
    os.utime(beat, (killed_at + 1, killed_at + 1))
    assert studio.healthy("relay", killed_at)
    studio.pid_file("relay").write_text("999999999 -\n")
    assert studio.live_pid("relay") is None and not studio.healthy("relay")
    assert studio.pid_file("relay").exists(), "the supervisor's file is never removed"
