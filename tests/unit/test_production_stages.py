"""The production's stage graph: readiness, unit results, retries, deadlines, completion."""

from uuid import uuid4

import pytest

from domain.errors import Conflict, Invalid, NotFound
from domain.production import Production, ProductionOptions
from domain.project import Project
from domain.stages import STAGE_NEEDS, STAGES


def requested() -> Production:
    project = Project.create(uuid4(), "Monsoon", "en", "16:9")
    project.revise_script("plain", "Rain falls on the old city.")
    return Production.request(uuid4(), project, ProductionOptions(), 10, 30.0)


def run_stage(production: Production, stage: str, units: list[str]) -> None:
    production.start_stage(stage, units, now=0.0, deadline_seconds=60)
    for unit in units:
        production.complete_unit(stage, unit, 1, f"{stage}/{unit}")


def test_only_script_analysis_is_ready_at_first():
    assert requested().ready_stages() == ["script_analysis"]


def test_stages_become_ready_when_all_they_need_is_complete():
    production = requested()
    run_stage(production, "script_analysis", ["script"])
    assert production.ready_stages() == ["image_generation", "voice_synthesis", "music"]
    run_stage(production, "voice_synthesis", ["l1", "l2"])
    assert "subtitles" in production.ready_stages()
    assert "lip_sync" not in production.ready_stages()  # needs the frames too


def test_a_stage_cannot_start_before_its_needs():
    with pytest.raises(Conflict, match="needs script_analysis"):
        requested().start_stage("music", ["s1"], now=0, deadline_seconds=60)


def test_starting_a_stage_twice_is_a_no_op():
    production = requested()
    assert production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)
    assert not production.start_stage("script_analysis", ["script"], now=5, deadline_seconds=60)


def test_a_stage_without_units_completes_at_once():
    production = requested()
    run_stage(production, "script_analysis", ["script"])
    run_stage(production, "image_generation", ["s1"])
    run_stage(production, "voice_synthesis", ["l1"])
    production.start_stage("lip_sync", [], now=0, deadline_seconds=60)
    assert production.stages["lip_sync"].complete


def test_units_must_be_distinct():
    with pytest.raises(Invalid):
        requested().start_stage("script_analysis", ["a", "a"], now=0, deadline_seconds=60)


def test_a_duplicate_result_changes_nothing():
    production = requested()
    production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)
    assert production.complete_unit("script_analysis", "script", 1, "key") is True
    events = len(production.collect_events())
    assert production.complete_unit("script_analysis", "script", 1, "key") is False
    assert production.fail_unit("script_analysis", "script", 1, "late", now=1) == "ignored"
    assert len(production.collect_events()) == 0 and events > 0


def test_stage_completes_with_its_last_unit():
    production = requested()
    production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)
    production.complete_unit("script_analysis", "script", 1, "key")
    names = [type(e).__name__ for e in production.collect_events()]
    assert names[-2:] == ["UnitCompleted", "StageCompleted"]


def test_failures_retry_within_the_budget_then_fail_the_production():
    production = requested()
    production.start_stage(
        "script_analysis", ["script"], now=0, deadline_seconds=60, max_attempts=2
    )
    assert production.fail_unit("script_analysis", "script", 1, "boom", now=1) == "retried"
    assert production.stages["script_analysis"].units["script"].attempt == 2
    assert production.fail_unit("script_analysis", "script", 1, "stale", now=2) == "ignored"
    assert production.fail_unit("script_analysis", "script", 2, "boom again", now=3) == "failed"
    assert production.status == "failed"
    assert "script_analysis unit script failed 2 times" in production.failure
    assert production.ready_stages() == []


def test_a_result_from_an_earlier_attempt_still_counts():
    production = requested()
    production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)
    production.fail_unit("script_analysis", "script", 1, "timeout", now=70)
    assert production.complete_unit("script_analysis", "script", 1, "key") is True


def test_overdue_units_are_found_by_deadline():
    production = requested()
    production.start_stage("script_analysis", ["script"], now=100, deadline_seconds=60)
    assert production.overdue_units(now=150) == []
    assert production.overdue_units(now=161) == [("script_analysis", "script", 1)]


def test_unknown_unit_is_not_found():
    production = requested()
    production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)
    with pytest.raises(NotFound):
        production.complete_unit("script_analysis", "other", 1, "key")


def test_completion_needs_the_composed_film():
    production = requested()
    with pytest.raises(Conflict, match="not composed"):
        production.complete({"film": "k"}, 30.0)
    for stage in STAGES:
        run_stage(production, stage, ["u"])
    assert production.complete({"film": "k"}, 31.5) is True
    assert production.complete({"film": "k"}, 31.5) is False
    assert production.status == "completed" and production.duration_seconds == 31.5


def test_a_cancelled_production_starts_nothing_more():
    production = requested()
    production.cancel("stop")
    assert production.ready_stages() == []
    with pytest.raises(Conflict):
        production.start_stage("script_analysis", ["script"], now=0, deadline_seconds=60)


def test_the_graph_has_no_cycles_and_ends_in_composition():
    order: list[str] = []
    while len(order) < len(STAGE_NEEDS):
        order += [
            s for s, needs in STAGE_NEEDS.items() if s not in order and set(needs) <= set(order)
        ]
    assert order[-1] == "composition"
