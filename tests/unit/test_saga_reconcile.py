"""Reconciliation goes on past a production that raises."""

from __future__ import annotations

import psycopg
import pytest

from domain.production import ProductionOptions
from filmstudio.bootstrap import InMemoryStudio
from processors.app import RECONCILE_FAILURES, reconcile_each


def requested(memory: InMemoryStudio, email: str):
    studio = memory.studio
    owner, _ = studio.register(email, "lamp-light-42", "Meera")
    studio.grant_credits(owner, 100, "test")
    project, _ = studio.create_project(owner, "The Lamp", "en", "16:9")
    studio.revise_script(owner, project, "plain", "Light the lamp.")
    return studio.request_production(owner, project, ProductionOptions()).production_id


def started_stages(memory: InMemoryStudio, production_id) -> list[str]:
    return [
        e.payload["stage"]
        for e in memory.envelopes()
        if e.aggregate.id == production_id and e.type == "production.StageStarted"
    ]


def test_one_production_that_raises_does_not_stop_the_others(memory, monkeypatch):
    broken, fine = requested(memory, "a@example.com"), requested(memory, "b@example.com")
    real = memory.saga.reconcile

    def reconcile(production_id):
        if production_id == broken:
            raise ValueError("a storyboard that cannot be read")
        real(production_id)

    monkeypatch.setattr(memory.saga, "reconcile", reconcile)
    before = RECONCILE_FAILURES._value.get()
    assert reconcile_each(memory.saga, [broken, fine]) == [broken]
    assert RECONCILE_FAILURES._value.get() == before + 1
    assert started_stages(memory, fine) == ["script_analysis"]
    assert started_stages(memory, broken) == []


def test_a_transient_error_ends_the_round_for_the_next_one_to_retry(memory, monkeypatch):
    production = requested(memory, "a@example.com")

    def reconcile(production_id):
        raise psycopg.OperationalError("the database system is shutting down")

    monkeypatch.setattr(memory.saga, "reconcile", reconcile)
    with pytest.raises(psycopg.OperationalError):
        reconcile_each(memory.saga, [production])
