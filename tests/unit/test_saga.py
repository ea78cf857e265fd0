"""The production saga's decisions on the in-memory path: the events it is fed come from the store
as the relay would publish them, the work it emits lands on an `InMemoryBus`, and the artifacts
it reads (the storyboard, the film's manifest) are written into a real media folder."""

from __future__ import annotations

import json
import time

import pytest

from adapters.bus import Published
from adapters.metadata import message_context
from domain.credits import credit_account_id
from domain.estimate import credits_for
from domain.production import ProductionOptions
from domain.screenplay import analyse
from domain.stages import DEFAULT_MAX_ATTEMPTS, STAGES
from filmstudio.bootstrap import InMemoryStudio
from processors.planning import DEADLINE_SECONDS
from processors.saga import FILM_MANIFEST, STORYBOARD_FILE
from schemas.envelope import Envelope
from schemas.work import DeadLetter, ProgressTick, UnitResult, WorkUnit

CORRELATION = "request-7f3a"
CREDITS = 100
# Long enough (one line of many words) to be estimated at two minutes: 20 credits reserved.
WORDS = " ".join(["lamp"] * 230)
SCRIPT = (
    "INT. HOUSE - DAY\n\nMeera lights a lamp.\n\nMEERA\nLight the lamp.\n\n"
    f"EXT. RIVER - NIGHT\n\nARJUN\nThe lamp floats away, {WORDS}.\n"
)
BOARD = analyse("fountain", SCRIPT, "en")
SHOTS = [shot.id for scene in BOARD.scenes for shot in scene.shots]
LINES = [line.id for scene in BOARD.scenes for line in scene.lines]
SCORES = [f"score-{scene.id}" for scene in BOARD.scenes]
SPEAKING_SHOTS = [s.id for scene in BOARD.scenes for s in scene.shots if s.speaker and s.line_ids]
PIECES = ["sound", *(f"shot-{shot}" for shot in SHOTS)]  # what the film waits for
UNITS = {
    "script_analysis": ["script"],
    "image_generation": SHOTS,
    "voice_synthesis": LINES,
    "music": SCORES,
    "lip_sync": SPEAKING_SHOTS,
    "subtitles": ["en"],
    "composition": [*PIECES, "film"],
}


class Run:
    """One production driven by hand: `deliver` is the relay and the production topic,
    `finish` a worker; the saga decides everything in between."""

    def __init__(self, memory: InMemoryStudio) -> None:
        self.memory = memory
        self.saga = memory.saga
        self.topics = memory.settings.topics
        studio = memory.studio
        self.owner, _ = studio.register("meera@example.com", "lamp-light-42", "Meera")
        studio.grant_credits(self.owner, CREDITS, "test")
        self.project_id, _ = studio.create_project(self.owner, "The Lamp", "en", "16:9")
        studio.revise_script(self.owner, self.project_id, "fountain", SCRIPT)
        self.start = memory.store.last_position()  # what came before is not the production's
        self.delivered_up_to = self.start
        with message_context("creator", correlation_id=CORRELATION) as request:
            requested = studio.request_production(self.owner, self.project_id, ProductionOptions())
        self.production_id = requested.production_id
        self.reserved = requested.reserved_credits
        self.request_command = request.causation_id

    # The relay and Kafka

    def events(self) -> list[Envelope]:
        """Every event this production caused (its own and its credit account's), in order."""
        return [
            e
            for e in self.memory.envelopes(self.start)
            if e.aggregate.id in (self.production_id, credit_account_id(self.owner))
        ]

    def production_events(self, after: int = 0) -> list[Envelope]:
        return [e for e in self.memory.envelopes(after) if e.aggregate.id == self.production_id]

    def types(self, after: int = 0) -> list[str]:
        return [e.type for e in self.production_events(after)]

    def deliver(self) -> list[Envelope]:
        """Feed the saga the production events recorded since the last delivery, in order;
        returns them. What the saga records meanwhile waits for the next delivery."""
        new = self.memory.envelopes(self.delivered_up_to)
        if new:
            self.delivered_up_to = new[-1].position
        delivered = [e for e in new if e.aggregate.type == "production"]
        for envelope in delivered:
            self.saga.on_event(envelope)
        return delivered

    def settle(self) -> None:
        """Deliver until the saga records nothing more."""
        while self.deliver():
            pass

    # The workers

    def lose(self) -> None:
        """What was recorded since the last delivery never reaches the saga (a lost message)."""
        self.delivered_up_to = self.memory.store.last_position()

    def published(self, topic: str | None = None) -> list[Published]:
        """This production's messages on `topic` (default: every topic), in order."""
        mine = (str(self.production_id), f"{self.production_id}:")
        return [
            m
            for m in self.memory.bus.messages
            if (topic is None or m.topic == topic) and m.key.startswith(mine)
        ]

    def ticks(self) -> list[ProgressTick]:
        return [
            ProgressTick.model_validate_json(m.value) for m in self.published(self.topics.progress)
        ]

    def work(self, stage: str) -> list[WorkUnit]:
        """Every unit of `stage` published so far, in order."""
        return [
            WorkUnit.model_validate_json(m.value) for m in self.published(self.topics.work(stage))
        ]

    def latest(self, stage: str) -> dict[str, WorkUnit]:
        """Each unit of `stage` at its latest published attempt."""
        return {unit.unit: unit for unit in self.work(stage)}

    def finish(self, unit: WorkUnit, ok: bool = True, error: str = "", duration: float = 42.0):
        """A worker's result for `unit`; a successful one writes the artifacts the saga reads."""
        if ok and unit.stage == "script_analysis":
            with self.memory.media.writing(unit.key) as folder:
                (folder / STORYBOARD_FILE).write_text(BOARD.model_dump_json())
        if ok and unit.stage == "composition":
            with self.memory.media.writing(unit.key) as folder:
                (folder / FILM_MANIFEST).write_text(json.dumps({"duration_seconds": duration}))
        self.saga.on_result(
            UnitResult(
                production_id=unit.production_id,
                stage=unit.stage,
                unit=unit.unit,
                attempt=unit.attempt,
                key=unit.key,
                ok=ok,
                error=error,
                worker="unit-test",
                correlation_id=unit.correlation_id,
                causation_id=unit.causation_id,
            )
        )

    def complete_stage(self, stage: str, duration: float = 42.0) -> None:
        """Finish every unit of the stage, those dispatched after others too."""
        done: set[str] = set()
        while pending := [u for u in self.latest(stage).values() if u.unit not in done]:
            for unit in pending:
                self.finish(unit, duration=duration)
                done.add(unit.unit)
            self.settle()

    def balance(self) -> int:
        return self.memory.store.load(credit_account_id(self.owner)).balance

    def status(self) -> str:
        return self.memory.pipeline.production(self.production_id).status

    def started(self) -> set[str]:
        return set(self.memory.pipeline.production(self.production_id).stages)


@pytest.fixture
def run(memory: InMemoryStudio) -> Run:
    return Run(memory)


def produce(run: Run, duration: float = 42.0) -> None:
    """Run every stage to completion, each as soon as it started, the film lasting `duration`."""
    run.settle()
    for stage in (
        "script_analysis",
        "voice_synthesis",
        "image_generation",
        "music",
        "subtitles",
        "lip_sync",
        "composition",
    ):
        assert stage in run.started(), f"{stage} did not start when its needs were complete"
        run.complete_stage(stage, duration)


def position(run: Run) -> int:
    return run.memory.store.last_position()


# Starting and dispatching


def test_a_request_starts_script_analysis_and_its_start_publishes_the_unit(run):
    delivered = run.deliver()

    assert [e.type for e in delivered] == ["production.Requested"]
    [started] = run.production_events(delivered[-1].position)
    assert started.type == "production.StageStarted"
    assert (started.payload["stage"], started.payload["units"]) == ("script_analysis", ["script"])
    assert run.work("script_analysis") == [], "work must follow the StageStarted event"

    run.deliver()

    [message] = run.published(run.topics.work("script_analysis"))
    assert message.topic == "studio.work.script_analysis"
    assert message.key == f"{run.production_id}:script"
    unit = WorkUnit.model_validate_json(message.value)
    assert (unit.production_id, unit.stage, unit.unit) == (
        run.production_id,
        "script_analysis",
        "script",
    )
    assert (unit.attempt, unit.quality) == (1, "draft")
    assert len(unit.key) == 64 and set(unit.key) <= set("0123456789abcdef")
    assert unit.correlation_id == CORRELATION
    assert unit.causation_id == str(started.event_id)


def test_a_completed_script_analysis_starts_images_voices_and_music(run):
    run.settle()
    [unit] = run.work("script_analysis")
    before = position(run)

    run.finish(unit)

    assert run.types(before) == ["production.UnitCompleted", "production.StageCompleted"]
    stage = run.memory.pipeline.production(run.production_id).stages["script_analysis"]
    assert stage.units["script"].artifact == unit.key
    run.settle()
    assert run.started() == {"script_analysis", "image_generation", "voice_synthesis", "music"}
    for name in ("image_generation", "voice_synthesis", "music"):
        units = run.work(name)
        assert [u.unit for u in units] == UNITS[name], f"{name} planned other units"
        assert [m.key for m in run.published(run.topics.work(name))] == [
            f"{run.production_id}:{u}" for u in UNITS[name]
        ]
        assert {(u.stage, u.attempt, u.quality) for u in units} == {(name, 1, "draft")}
    assert run.work("lip_sync") == run.work("subtitles") == run.work("composition") == []


def test_subtitles_follow_voices_lip_sync_follows_images_and_voices_composition_comes_last(run):
    run.settle()
    run.complete_stage("script_analysis")

    run.complete_stage("voice_synthesis")
    assert "subtitles" in run.started() and "lip_sync" not in run.started()
    assert [u.unit for u in run.work("subtitles")] == UNITS["subtitles"]

    run.complete_stage("image_generation")
    assert [u.unit for u in run.work("lip_sync")] == UNITS["lip_sync"]

    run.complete_stage("music")
    run.complete_stage("lip_sync")
    assert "composition" not in run.started(), "composition started before subtitles were done"

    run.complete_stage("subtitles")
    assert [u.unit for u in run.work("composition")] == PIECES, "the film waits for its pieces"
    starts = [e.payload["stage"] for e in run.production_events() if e.type.endswith("Started")]
    assert sorted(starts) == sorted(STAGES) and starts[-1] == "composition"


@pytest.mark.parametrize(
    ("duration", "captured"),
    [(42.0, 10), (61.0, 20), (300.0, 20)],
    ids=["one minute of two reserved", "two started minutes", "longer than the reservation"],
)
def test_completion_captures_the_credits_of_the_films_duration_and_returns_the_rest(
    run, duration, captured
):
    assert run.reserved == 20
    produce(run, duration)

    production = run.memory.pipeline.production(run.production_id)
    assert (production.status, production.duration_seconds) == ("completed", duration)
    stages = production.stages
    assert production.artifacts == {
        "film": stages["composition"].units["film"].artifact,
        "storyboard": stages["script_analysis"].units["script"].artifact,
        "subtitles.en": stages["subtitles"].units["en"].artifact,
    }
    [capture] = [e for e in run.events() if e.type == "credits.Captured"]
    assert min(credits_for(duration, 10), run.reserved) == captured
    assert (capture.payload["amount"], capture.payload["released"]) == (captured, 20 - captured)
    assert run.balance() == CREDITS - captured
    assert run.memory.store.load(credit_account_id(run.owner)).reservations == {}
    assert run.types()[-1] == "production.Completed"
    assert run.ticks()[-1].status == "completed"


# Failures and retries


def test_a_failed_unit_within_its_budget_is_retried_and_published_again_as_attempt_2(run):
    run.settle()
    [unit] = run.work("script_analysis")
    before = position(run)

    run.finish(unit, ok=False, error="the parser crashed")

    [retried] = run.production_events(before)
    assert retried.type == "production.UnitRetried"
    assert (retried.payload["unit"], retried.payload["attempt"]) == ("script", 2)
    assert retried.payload["error"] == "the parser crashed"
    run.deliver()
    first, again = run.published(run.topics.work("script_analysis"))
    assert again.topic == first.topic and again.key == first.key == f"{run.production_id}:script"
    repeat = WorkUnit.model_validate_json(again.value)
    assert (repeat.unit, repeat.attempt, repeat.key) == ("script", 2, unit.key)
    assert repeat.causation_id == str(retried.event_id)
    assert [(t.unit, t.detail) for t in run.ticks() if t.status == "retried"] == [
        ("script", "the parser crashed")
    ]
    run.finish(repeat)
    assert run.memory.pipeline.production(run.production_id).stages["script_analysis"].complete


def test_the_last_attempt_failing_fails_the_production_releases_credits_and_dead_letters(run):
    run.settle()
    for attempt in range(1, DEFAULT_MAX_ATTEMPTS + 1):
        unit = run.latest("script_analysis")["script"]
        assert unit.attempt == attempt
        before = position(run)
        run.finish(unit, ok=False, error=f"crash {attempt}")
        if attempt < DEFAULT_MAX_ATTEMPTS:
            assert run.types(before) == ["production.UnitRetried"]
            run.deliver()

    assert run.types(before) == ["production.UnitFailed", "production.Failed"]
    assert "credits.Released" in [e.type for e in run.memory.envelopes(before)]
    assert run.status() == "failed"
    assert run.balance() == CREDITS
    run.deliver()
    [message] = run.published(run.topics.dead_letters("script_analysis"))
    assert message.topic == "studio.work.script_analysis.dlq"
    assert message.key == f"{run.production_id}:script"
    letter = DeadLetter.model_validate_json(message.value)
    assert (letter.attempts, letter.error) == (DEFAULT_MAX_ATTEMPTS, f"crash {attempt}")
    assert (letter.unit.stage, letter.unit.unit, letter.unit.attempt) == (
        "script_analysis",
        "script",
        DEFAULT_MAX_ATTEMPTS,
    )
    assert letter.unit.key == unit.key and letter.unit.correlation_id == CORRELATION
    assert run.ticks()[-1].status == "failed"


def test_a_duplicate_result_or_redelivered_event_records_nothing(run):
    run.settle()
    [unit] = run.work("script_analysis")
    run.finish(unit)
    run.settle()
    before = position(run)

    run.finish(unit)  # the same result again (at-least-once delivery)
    run.finish(unit, ok=False, error="a stale failure of a completed attempt")
    for envelope in run.production_events():  # every event again
        run.saga.on_event(envelope)

    assert position(run) == before
    assert run.started() == {"script_analysis", "image_generation", "voice_synthesis", "music"}


def test_results_after_cancellation_change_nothing(run):
    run.settle()
    [unit] = run.work("script_analysis")
    run.memory.studio.cancel_production(run.owner, run.production_id, "changed my mind")
    before, sent = position(run), len(run.published())

    run.finish(unit)  # a late result
    run.finish(unit, ok=False, error="late failure")
    run.settle()

    assert position(run) == before
    assert run.status() == "cancelled" and run.balance() == CREDITS
    late = run.published()[sent:]  # only the tick of the Cancelled event
    assert [(m.topic, ProgressTick.model_validate_json(m.value).status) for m in late] == [
        ("studio.progress", "cancelled")
    ]


def test_a_stage_start_delivered_after_cancellation_dispatches_nothing(run):
    run.deliver()  # Requested: script_analysis starts, its StageStarted not yet delivered
    run.memory.studio.cancel_production(run.owner, run.production_id, "stop")

    run.settle()

    assert run.work("script_analysis") == []


# Reconciliation


def test_reconcile_retries_units_past_their_deadline(run):
    run.settle()
    before = position(run)
    run.saga.reconcile(run.production_id)
    assert position(run) == before, "a unit within its deadline was timed out"
    latest = run.production_events()[-1]

    later = time.time() + DEADLINE_SECONDS["script_analysis"] + 1
    run.saga.clock = lambda: later
    run.saga.reconcile(run.production_id)

    [retried] = run.production_events(before)
    assert retried.type == "production.UnitRetried"
    assert (retried.payload["attempt"], retried.payload["error"]) == (2, "deadline passed")
    assert retried.correlation_id == CORRELATION
    assert retried.causation_id == str(latest.event_id)
    run.deliver()
    assert [u.attempt for u in run.work("script_analysis")] == [1, 2]


def test_reconcile_starts_stages_whose_trigger_was_lost(run):
    run.lose()  # the Requested event never reaches the saga
    run.saga.reconcile(run.production_id)
    assert run.started() == {"script_analysis"}

    run.deliver()
    [unit] = run.work("script_analysis")
    run.finish(unit)
    run.lose()  # nor does StageCompleted
    run.saga.reconcile(run.production_id)

    assert run.started() == {"script_analysis", "image_generation", "voice_synthesis", "music"}


def test_reconcile_completes_a_composed_film_whose_completion_was_lost(run):
    run.settle()
    for stage in STAGES[:-1]:
        run.complete_stage(stage)
    for piece in run.work("composition"):
        run.finish(piece)
    run.settle()
    film = run.latest("composition")["film"]
    run.finish(film, duration=42.0)
    run.lose()  # StageCompleted(composition) never reaches the saga

    run.saga.reconcile(run.production_id)

    assert run.status() == "completed" and run.balance() == CREDITS - 10
    before = position(run)
    run.memory.saga.on_event(run.production_events()[-2])  # the lost event arrives after all
    assert run.production_events()[-2].type == "production.StageCompleted"
    assert position(run) == before


def _compose(run: Run) -> None:
    """Every stage before composition completed: composition has started."""
    run.settle()
    for stage in STAGES[:-1]:
        run.complete_stage(stage)


def test_the_film_is_dispatched_once_when_its_last_piece_completes(run):
    _compose(run)
    pieces = run.work("composition")
    assert [p.unit for p in pieces] == PIECES
    film = run.memory.pipeline.production(run.production_id).stages["composition"].units["film"]
    assert film.status == "running", "the film is a unit of the stage from its start"
    for piece in pieces[:-1]:
        run.finish(piece)
        run.settle()
        assert "film" not in run.latest("composition"), "the film waited for every piece"
    run.finish(pieces[-1])
    run.settle()
    [film_unit] = [u for u in run.work("composition") if u.unit == "film"]
    assert film_unit.attempt == 1
    assert film_unit.inputs is None, "claim-checked like every unit"
    [last] = [
        e for e in run.production_events()
        if e.type == "production.UnitCompleted" and e.payload["unit"] == PIECES[-1]
    ]  # fmt: skip
    before = position(run)
    run.saga.on_event(last)  # delivered again: the film was released already
    assert [u.key for u in run.work("composition") if u.unit == "film"] == [film_unit.key]
    assert position(run) == before
    released = [e for e in run.production_events() if e.type == "production.UnitReleased"]
    assert [(e.payload["unit"], e.payload["attempt"]) for e in released] == [("film", 1)]
    run.finish(film_unit)
    run.settle()
    assert run.status() == "completed"


def test_a_waiting_film_is_never_overdue_and_goes_out_with_its_pieces(run):
    _compose(run)
    later = time.time() + DEADLINE_SECONDS["composition"] + 1
    run.saga.clock = lambda: later
    run.saga.reconcile(run.production_id)  # every piece is overdue; the waiting film is not
    run.settle()
    latest = run.latest("composition")
    assert "film" not in latest, "a film does not run before its pieces"
    assert {latest[p].attempt for p in PIECES} == {2}
    units = run.memory.pipeline.production(run.production_id).stages["composition"].units
    assert units["film"].attempt == 1, "the waiting film was timed out"
    for piece in PIECES:
        run.finish(latest[piece])
    run.settle()
    assert run.latest("composition")["film"].attempt == 1


def test_a_films_deadline_runs_from_its_release_not_from_the_stages_start(run):
    _compose(run)
    deadline = DEADLINE_SECONDS["composition"]
    pieces_done = time.time() + 3 * deadline  # the pieces took three deadlines (a long film)
    run.saga.clock = lambda: pieces_done
    for piece in run.work("composition"):
        run.finish(piece)
    run.settle()
    [film] = [u for u in run.work("composition") if u.unit == "film"]

    run.saga.clock = lambda: pieces_done + deadline - 1
    run.saga.reconcile(run.production_id)
    assert [u.attempt for u in run.work("composition") if u.unit == "film"] == [1]

    run.saga.clock = lambda: pieces_done + deadline + 1
    run.saga.reconcile(run.production_id)
    run.settle()
    assert [u.attempt for u in run.work("composition") if u.unit == "film"] == [1, 2]
    assert film.attempt == 1


def test_reconcile_releases_a_film_whose_last_piece_completion_was_lost(run):
    _compose(run)
    for piece in run.work("composition"):
        run.finish(piece)
    run.lose()  # the UnitCompleted events never reach the saga: nobody released the film
    assert "film" not in run.latest("composition")

    run.saga.reconcile(run.production_id)

    assert run.latest("composition")["film"].attempt == 1
    assert run.types()[-1] == "production.UnitReleased"


def test_reconcile_of_a_finished_production_records_nothing(run):
    run.settle()
    run.memory.studio.cancel_production(run.owner, run.production_id, "stop")
    before = position(run)

    run.saga.reconcile(run.production_id)

    assert position(run) == before


# Tracing


def test_everything_a_production_causes_carries_its_correlation_and_a_recorded_cause(run):
    run.settle()
    [unit] = run.work("script_analysis")
    run.finish(unit, ok=False, error="flaky")  # a retry is part of the story too
    produce(run)
    assert run.status() == "completed"

    events = run.events()
    recorded = {str(e.event_id): e.position for e in run.memory.envelopes()}
    request = [e for e in events if e.causation_id == run.request_command]
    assert [e.type for e in request] == ["credits.Reserved", "production.Requested"]
    for event in events:
        assert event.correlation_id == CORRELATION, f"{event.type} lost the correlation"
        if event not in request:
            cause = recorded.get(event.causation_id)
            assert cause is not None, f"{event.type} names no recorded event as its cause"
            assert cause < event.position, f"{event.type} names a later event as its cause"
    for message in run.published():
        model = ProgressTick if message.topic == run.topics.progress else WorkUnit
        traced = model.model_validate_json(message.value)
        assert traced.correlation_id == CORRELATION, f"a message on {message.topic} lost it"
        assert traced.causation_id in recorded, f"a message on {message.topic} names no event"


def test_the_saga_records_as_itself_and_results_as_their_worker(run):
    produce(run)
    actors = {e.type: e.actor for e in run.events()}
    assert actors["production.Requested"] == "creator"
    assert actors["production.StageStarted"] == "saga"
    assert actors["production.UnitCompleted"] == "worker:unit-test"
    assert actors["production.Completed"] == "saga"


def test_the_in_memory_saga_publishes_only_to_the_studios_topics(run):
    produce(run)
    expected = {run.topics.work(stage) for stage in STAGES} | {run.topics.progress}
    assert {m.topic for m in run.memory.bus.messages} == expected
    assert run.published(run.topics.dead_letters("script_analysis")) == []


def test_reconcile_plans_a_started_stage_once(run, monkeypatch):
    _compose(run)
    planned: list[str] = []
    plan = run.saga._plan
    monkeypatch.setattr(run.saga, "_plan", lambda p, stage: planned.append(stage) or plan(p, stage))

    for _ in range(3):
        run.saga.reconcile(run.production_id)

    assert planned.count("composition") <= 1, "the waits of a started stage were planned again"
