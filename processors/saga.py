"""The production saga: turns production events and worker results into commands and work.

At-least-once and idempotent: every command it issues is a no-op when repeated (the aggregate
decides), and every unit it emits carries its content key, so a duplicate costs nothing.
Work is emitted in reaction to the *events* (StageStarted, UnitRetried, UnitCompleted), never to
a command's return value, so a crash between the two loses nothing. A unit planned `after` others
of its stage (the film after its pieces) is released (`production.UnitReleased`, its deadline
running from then) and dispatched by the UnitCompleted that completes the last of them; until
then it is never overdue. `reconcile` releases what a lost UnitCompleted reaction did not, and a
lost dispatch is repaired like any other, by timing the unit out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from adapters.bus import MessageBus
from adapters.media import MediaStore, claim_check
from adapters.metadata import current_meta, message_context
from adapters.settings import Settings
from commands.pipeline import Pipeline
from domain.production import Production
from domain.stages import DEFAULT_MAX_ATTEMPTS, FINAL_STAGE
from domain.storyboard import Storyboard
from processors import planning
from schemas.envelope import Envelope
from schemas.work import DeadLetter, ProgressTick, UnitResult, WorkUnit

log = logging.getLogger(__name__)

STORYBOARD_FILE = "storyboard.json"
FILM_MANIFEST = "film.json"
FINISHED_EVENTS = ("production.Completed", "production.Failed", "production.Cancelled")
SAGA = "saga"  # the actor of what the saga records
WAITS_KEPT = 1024  # started stages whose waiting units the saga keeps (then it starts over)
ACTIVE_SQL = "SELECT production_id FROM rm_productions WHERE status IN ('requested', 'running')"


class ProductionSaga:
    """Reacts to one message at a time; `running` lists the productions it watches."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        media: MediaStore,
        bus: MessageBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.pipeline = pipeline
        self.media = media
        self.bus = bus
        self._started_waits: dict[tuple[UUID, str], dict[str, tuple[str, ...]]] = {}
        self.reactions: dict[str, Callable[[UUID, dict[str, Any]], None]] = {
            "production.Requested": lambda production_id, _: self._start_ready(production_id),
            "production.StageStarted": self._on_stage_started,
            "production.UnitRetried": self._on_unit_retried,
            "production.UnitCompleted": self._on_unit_completed,
            "production.StageCompleted": self._on_stage_completed,
            "production.UnitFailed": self._dead_letter,
        }

    def on_event(self, envelope: Envelope) -> None:
        """React to one production event; what it causes carries its correlation and names it
        as the cause."""
        production_id, payload, kind = envelope.aggregate.id, envelope.payload, envelope.type
        with message_context(SAGA, envelope.correlation_id or None, str(envelope.event_id)):
            reaction = self.reactions.get(kind)
            if reaction is not None:
                reaction(production_id, payload)
            if kind in FINISHED_EVENTS or kind == "production.StageCompleted":
                self._tick(production_id, payload.get("stage", ""), "", kind.split(".")[1].lower())

    def on_result(self, result: UnitResult) -> None:
        """Record a worker's result, caused by the event that dispatched the unit."""
        actor = f"worker:{result.worker}" if result.worker else "worker"
        with message_context(actor, result.correlation_id or None, result.causation_id or None):
            outcome = self.pipeline.record_result(
                result.production_id,
                result.stage,
                result.unit,
                result.attempt,
                result.ok,
                result.key,
                result.error,
                self.clock(),
            )
        log.info("%s %s/%s: %s", result.production_id, result.stage, result.unit, outcome.what)

    def reconcile(self, production_id: UUID) -> None:
        """Repair what a lost message would have done: start ready stages, finish a composed
        film, and fail (so retry) overdue units. Safe to run any time: every step is idempotent.
        What it records continues the production's correlation from its latest event."""
        correlation_id, latest = self.pipeline.trace(production_id)
        with message_context(SAGA, correlation_id or None, latest):
            production = self.pipeline.production(production_id)
            if production.finished:
                return
            final = production.stages.get(FINAL_STAGE)
            if final is not None and final.complete:
                self._complete(production_id)
                return
            self._start_ready(production_id)
            waits = {
                stage: self._waits(production, stage)
                for stage, progress in production.stages.items()
                if not progress.complete
            }
            for stage, stage_waits in waits.items():
                if stage_waits:
                    self._release(production_id, stage, stage_waits)
            overdue = self.pipeline.time_out_overdue(production_id, self.clock(), waits)
            for stage, unit, what in overdue:
                log.warning("%s %s/%s overdue: %s", production_id, stage, unit, what)

    # Reactions

    def _on_stage_started(self, production_id: UUID, payload: dict[str, Any]) -> None:
        self._dispatch(production_id, payload["stage"], payload["units"], attempt=1)

    def _on_unit_retried(self, production_id: UUID, payload: dict[str, Any]) -> None:
        self._dispatch(production_id, payload["stage"], [payload["unit"]], payload["attempt"])
        self._tick(production_id, payload["stage"], payload["unit"], "retried", payload["error"])

    def _on_unit_completed(self, production_id: UUID, payload: dict[str, Any]) -> None:
        """Release and dispatch the units of the stage that waited for this one, now ready."""
        stage, unit = payload["stage"], payload["unit"]
        if stage not in planning.ORDERED_STAGES:
            return
        production = self.pipeline.production(production_id)
        if production.finished or stage not in production.stages:
            return
        waits = self._waits(production, stage)
        if any(unit in deps for deps in waits.values()):
            self._release(production_id, stage, waits)

    def _release(self, production_id: UUID, stage: str, waits: dict[str, tuple[str, ...]]) -> None:
        """Release the stage's waiting units whose wait is over, then dispatch them."""
        released = self.pipeline.release_ready(production_id, stage, waits, self.clock())
        for name, attempt in released.items():
            self._dispatch(production_id, stage, [name], attempt)

    def _on_stage_completed(self, production_id: UUID, payload: dict[str, Any]) -> None:
        if payload["stage"] == FINAL_STAGE:
            self._complete(production_id)
        else:
            self._start_ready(production_id)

    # Stages

    def _start_ready(self, production_id: UUID) -> None:
        production = self.pipeline.production(production_id)
        for stage in production.ready_stages():
            units = self._plan(production, stage)
            self.pipeline.start_stage(
                production_id,
                stage,
                [u.unit for u in units],
                self.clock(),
                planning.deadline_seconds(stage, production.options.get("quality") or "draft"),
                DEFAULT_MAX_ATTEMPTS,
            )

    def _dispatch(self, production_id: UUID, stage: str, units: list[str], attempt: int) -> None:
        """Publish the units that are ready: those planned `after` others wait for them."""
        production = self.pipeline.production(production_id)
        if production.finished:
            return
        planned = {u.unit: u for u in self._plan(production, stage)}
        progress = production.stages[stage].units
        for unit in units:
            if any(progress[dep].status != "completed" for dep in planned[unit].after):
                continue  # its last dependency's UnitCompleted dispatches it
            work = self._work_unit(production_id, stage, planned[unit], attempt)
            self.bus.publish(
                self.settings.topics.work(stage, work.quality),
                f"{production_id}:{unit}",
                work.to_bytes(),
            )

    def _work_unit(
        self, production_id: UUID, stage: str, planned: planning.PlannedUnit, attempt: int
    ) -> WorkUnit:
        """The unit as it travels: its inputs (creative text) claim-checked into the media
        store, so work and dead-letter topics carry none."""
        unit = WorkUnit(
            production_id=production_id,
            stage=stage,
            unit=planned.unit,
            attempt=attempt,
            quality=planned.quality,
            key=planned.key(stage),
            correlation_id=current_meta().correlation_id,
            causation_id=current_meta().causation_id,
            inputs=planned.inputs,
        )
        return claim_check(unit, self.media)

    def _waits(self, production: Production, stage: str) -> dict[str, tuple[str, ...]]:
        """The stage's units that wait for others of it: unit -> the units it waits for. Kept
        per started stage (its plan no longer changes), so `reconcile` plans it once."""
        key = (production.id, stage)
        waits = self._started_waits.get(key)
        if waits is None:
            waits = {u.unit: u.after for u in self._plan(production, stage) if u.after}
            if len(self._started_waits) >= WAITS_KEPT:
                self._started_waits.clear()
            self._started_waits[key] = waits
        return waits

    def _plan(self, production: Production, stage: str) -> list[planning.PlannedUnit]:
        context = self._context(production)
        if stage == "script_analysis":
            return planning.plan_script(context)
        artifacts = {
            name: {unit: progress.artifact for unit, progress in s.units.items()}
            for name, s in production.stages.items()
            if s.complete
        }
        board = Storyboard.model_validate_json(
            self.media.path(artifacts["script_analysis"]["script"], STORYBOARD_FILE).read_text()
        )
        return planning.plan(stage, context, board, artifacts)

    def _context(self, production: Production) -> planning.Production:
        project = self.pipeline.project(production.project_id)
        script_format, text = self.pipeline.script_of(production.project_id, production.revision)
        options = production.options
        return planning.Production(
            script_format=script_format,
            script_text=text,
            language=options.get("language") or project.language,
            aspect_ratio=options.get("aspect_ratio") or project.aspect_ratio,
            languages=options.get("languages") or [],
            burn_subtitles=bool(options.get("burn_subtitles")),
            voices=options.get("voices") or {},
            quality=options.get("quality") or "draft",
            style=options.get("style"),
            model_revision=self.settings.model_revision,
            owner_id=str(production.owner_id),
        )

    def _complete(self, production_id: UUID) -> None:
        production = self.pipeline.production(production_id)
        film = production.stages[FINAL_STAGE].units["film"].artifact
        manifest = json.loads(self.media.path(film, FILM_MANIFEST).read_text())
        artifacts = {
            "film": film,
            "storyboard": production.stages["script_analysis"].units["script"].artifact,
        }
        artifacts.update(
            {
                f"subtitles.{unit}": p.artifact
                for unit, p in production.stages["subtitles"].units.items()
            }
        )
        self.pipeline.complete(production_id, artifacts, float(manifest["duration_seconds"]))

    def _dead_letter(self, production_id: UUID, payload: dict) -> None:
        production = self.pipeline.production(production_id)
        planned = {u.unit: u for u in self._plan(production, payload["stage"])}
        unit = self._work_unit(
            production_id, payload["stage"], planned[payload["unit"]], payload["attempt"]
        )
        letter = DeadLetter(unit=unit, error=payload["error"], attempts=payload["attempt"])
        self.bus.publish(
            self.settings.topics.dead_letters(payload["stage"]),
            f"{production_id}:{unit.unit}",
            letter.to_bytes(),
        )

    # Kafka

    def _tick(
        self, production_id: UUID, stage: str, unit: str, status: str, detail: str = ""
    ) -> None:
        tick = ProgressTick(
            production_id=production_id,
            stage=stage,
            unit=unit,
            status=status,
            at=datetime.now(UTC),
            detail=detail[:200],
            correlation_id=current_meta().correlation_id,
            causation_id=current_meta().causation_id,
        )
        self.bus.publish_soon(self.settings.topics.progress, str(production_id), tick.to_bytes())
