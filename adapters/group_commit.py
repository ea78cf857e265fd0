"""Group commit: concurrent callers share one round of work (one transaction, one WAL flush).

A caller that finds no round in flight leads one at once, so a lone caller waits for nothing.
Callers that arrive while a round is in flight queue up; when it ends, the first of them leads
the next round with everything queued by then, and each caller gets back its own outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

W = TypeVar("W")
R = TypeVar("R")

#: Runs one round: each work's result, or the exception that work alone must raise.
#: Raising fails every work of the round with that exception.
RoundFunction = Callable[[Sequence[W]], Sequence["R | BaseException"]]


class _Ticket(Generic[W, R]):
    """One caller's place in the queue: its work, then its outcome or its turn to lead."""

    __slots__ = ("done", "outcome", "wake", "work")

    def __init__(self, work: W) -> None:
        self.work = work
        self.wake = threading.Event()
        self.done = False
        self.outcome: R | BaseException | None = None


class GroupCommit(Generic[W, R]):
    """Submit work from any thread; `run_round` handles every work queued while the previous
    round ran, in queue order."""

    def __init__(self, run_round: RoundFunction[W, R]) -> None:
        self._run_round = run_round
        self._lock = threading.Lock()
        self._queue: list[_Ticket[W, R]] = []
        self._leading = False
        self.rounds = 0  # rounds run so far (observability and tests)

    def submit(self, work: W) -> R:
        """Run `work` in the next round; its result, or the exception meant for it."""
        ticket: _Ticket[W, R] = _Ticket(work)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.wake.wait()
        if not ticket.done:  # no round was in flight, or the last one handed over to us
            self._lead()
        if isinstance(ticket.outcome, BaseException):
            raise ticket.outcome
        return cast(R, ticket.outcome)

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            outcomes = list(self._run_round([t.work for t in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a round gave {len(outcomes)} outcomes for {len(batch)} works")
        except BaseException as exc:  # the round failed as a whole: every caller sees it
            outcomes = [exc] * len(batch)
        for ticket, outcome in zip(batch, outcomes, strict=True):
            ticket.outcome = outcome
            ticket.done = True
        with self._lock:
            self.rounds += 1
            successor = self._queue[0] if self._queue else None
            self._leading = successor is not None
        if successor is not None:
            successor.wake.set()  # not done: it leads the next round
        for ticket in batch:
            ticket.wake.set()
