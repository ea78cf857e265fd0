"""Command handlers the production saga issues: stages, unit results, completion, failure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from uuid import UUID

from adapters.eventstore import EventStore, retry_on_conflict
from adapters.settings import Settings
from domain.credits import CreditAccount, credit_account_id
from domain.errors import NotFound
from domain.estimate import credits_for
from domain.production import Production
from domain.project import Project


@dataclass(frozen=True)
class Outcome:
    """What a command did: `what` says it ("completed", "duplicate", "retried", "failed", ...)."""

    what: str
    position: int


class Pipeline:
    """The saga's entry point to the write side; every command is safe to repeat."""

    def __init__(self, settings: Settings, store: EventStore) -> None:
        self.settings = settings
        self.store = store

    def production(self, production_id: UUID) -> Production:
        found = self.store.find(production_id)
        if not isinstance(found, Production):
            raise NotFound("no such production")
        return found

    def script_of(self, project_id: UUID, revision: int) -> tuple[str, str]:
        """(format, text) of one revision of a project's script, read from its history."""
        # Project.ScriptRevised is the class @event("ScriptRevised") makes at import time.
        for stored in self.store.events.get(project_id):
            if isinstance(stored, Project.ScriptRevised) and stored.revision == revision:  # type: ignore[attr-defined]
                return stored.script_format, stored.text
        raise NotFound(f"project {project_id} has no script revision {revision}")

    def trace(self, production_id: UUID) -> tuple[str, str]:
        """(correlation id, latest event id) of a production: what follow-ups continue from."""
        found = self.store.last_trace(production_id)
        if found is None:
            raise NotFound("no such production")
        return found

    def project(self, project_id: UUID) -> Project:
        found = self.store.find(project_id)
        if not isinstance(found, Project):
            raise NotFound("no such project")
        return found

    def start_stage(
        self,
        production_id: UUID,
        stage: str,
        units: list[str],
        now: float,
        deadline_seconds: float,
        max_attempts: int,
    ) -> Outcome:
        def decide() -> Outcome:
            production = self.production(production_id)
            if production.finished:
                return Outcome("finished", 0)
            if not production.start_stage(stage, units, now, deadline_seconds, max_attempts):
                return Outcome("duplicate", 0)
            return Outcome("started", self.store.save_all(production))

        return retry_on_conflict(decide)

    def record_result(
        self,
        production_id: UUID,
        stage: str,
        unit: str,
        attempt: int,
        ok: bool,
        artifact: str,
        error: str,
        now: float,
    ) -> Outcome:
        """A worker's result: the unit completes, is retried, or fails the production."""

        def decide() -> Outcome:
            production = self.production(production_id)
            if ok:
                done = production.complete_unit(stage, unit, attempt, artifact)
                what = "completed" if done else "duplicate"
            else:
                what = production.fail_unit(stage, unit, attempt, error, now)
            return self._save(production, what)

        return retry_on_conflict(decide)

    def release_ready(
        self, production_id: UUID, stage: str, waits: Mapping[str, Collection[str]], now: float
    ) -> dict[str, int]:
        """Release the units of `stage` that waited (`waits`: unit -> the units it waits for)
        and whose wait is over, their deadlines running from `now`; the ones released, each
        with its attempt."""

        def decide() -> dict[str, int]:
            production = self.production(production_id)
            released = {
                unit: production.stages[stage].units[unit].attempt
                for unit in production.ready_units(stage, waits)
                if production.release_unit(stage, unit, now)
            }
            if released:
                self._save(production, "")
            return released

        return retry_on_conflict(decide)

    def time_out_overdue(
        self,
        production_id: UUID,
        now: float,
        waits: Mapping[str, Mapping[str, Collection[str]]] | None = None,
    ) -> list[tuple[str, str, str]]:
        """Fail (and so retry or give up on) every unit past its deadline; a unit that waits for
        others (`waits`: stage -> unit -> those units) only once it was released."""

        def decide() -> list[tuple[str, str, str]]:
            production = self.production(production_id)
            outcomes = [
                (stage, unit, production.fail_unit(stage, unit, attempt, "deadline passed", now))
                for stage, unit, attempt in production.overdue_units(now, waits)
            ]
            if outcomes:  # most sweeps find nothing overdue: then there is nothing to save
                self._save(production, "")
            return outcomes

        return retry_on_conflict(decide)

    def complete(
        self, production_id: UUID, artifacts: dict[str, str], duration_seconds: float
    ) -> Outcome:
        """The film exists: capture the credits it used, give back the rest."""

        def decide() -> Outcome:
            production = self.production(production_id)
            if not production.complete(artifacts, duration_seconds):
                return Outcome("duplicate", 0)
            used = credits_for(
                duration_seconds,
                self.settings.credits_per_minute,
                production.options.get("quality", "draft"),
            )
            account: CreditAccount = self.store.load(credit_account_id(production.owner_id))
            account.capture(
                production_id, min(used, account.reservations.get(str(production_id), 0))
            )
            account.warn_if_low(self.settings.low_balance_credits)
            return Outcome("completed", self.store.save_all(production, account))

        return retry_on_conflict(decide)

    def fail(self, production_id: UUID, reason: str) -> Outcome:
        def decide() -> Outcome:
            production = self.production(production_id)
            if production.finished:
                return Outcome(production.status, 0)
            production.fail(reason)
            return self._save(production, "failed")

        return retry_on_conflict(decide)

    def _save(self, production: Production, what: str) -> Outcome:
        """Save the production; a failed one gives its whole reservation back in the same go."""
        aggregates: list[object] = [production]
        if production.status == "failed":
            account = self.store.load(credit_account_id(production.owner_id))
            account.release(production.id)
            aggregates.append(account)
        return Outcome(what, self.store.save_all(*aggregates))
