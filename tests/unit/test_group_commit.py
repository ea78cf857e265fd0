"""Group commit without a database: rounds share work, each caller gets its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from adapters.group_commit import GroupCommit


class Conflict(Exception):
    pass


def test_a_lone_caller_runs_its_own_round_at_once():
    rounds: list[list[int]] = []

    def run(works: Sequence[int]) -> list[int | BaseException]:
        rounds.append(list(works))
        return [w * 10 for w in works]

    group: GroupCommit[int, int] = GroupCommit(run)
    assert [group.submit(1), group.submit(2)] == [10, 20]
    assert rounds == [[1], [2]] and group.rounds == 2


def test_callers_queued_during_a_round_share_the_next_and_get_their_own_outcomes():
    first_running, release = threading.Event(), threading.Event()
    rounds: list[list[int]] = []

    def run(works: Sequence[int]) -> list[int | BaseException]:
        rounds.append(list(works))
        if works == [0]:  # hold the first round until everyone else has queued
            first_running.set()
            assert release.wait(5)
        return [Conflict(w) if w == 3 else w * 10 for w in works]

    group: GroupCommit[int, int] = GroupCommit(run)
    results: dict[int, object] = {}

    def call(work: int) -> None:
        try:
            results[work] = group.submit(work)
        except Conflict as exc:
            results[work] = exc

    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    assert first_running.wait(5)
    others = [threading.Thread(target=call, args=(w,)) for w in range(1, 6)]
    for thread in others:
        thread.start()
    while len(group._queue) < 5:  # all five queued behind the running round
        threading.Event().wait(0.001)
    release.set()
    for thread in [leader, *others]:
        thread.join(5)

    assert rounds[0] == [0] and sorted(rounds[1]) == [1, 2, 3, 4, 5] and len(rounds) == 2
    assert isinstance(results.pop(3), Conflict), "only the conflicting caller fails"
    assert results == {0: 0, 1: 10, 2: 20, 4: 40, 5: 50}


def test_a_failed_round_fails_each_of_its_callers_and_the_next_round_runs():
    calls = 0

    def run(works: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return list(works)

    group: GroupCommit[int, int] = GroupCommit(run)
    with pytest.raises(ConnectionError):
        group.submit(1)
    assert group.submit(2) == 2


def test_many_threads_lose_no_submission():
    def run(works: Sequence[int]) -> list[int | BaseException]:
        return [w + 1 for w in works]

    group: GroupCommit[int, int] = GroupCommit(run)
    results: list[int] = []
    lock = threading.Lock()

    def call(base: int) -> None:
        for i in range(200):
            value = group.submit(base + i)
            with lock:
                results.append(value - 1)

    threads = [threading.Thread(target=call, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == sorted(n * 1000 + i for n in range(8) for i in range(200))
    assert group.rounds <= len(results)
