"""Creative text is sealed in the event store under its owner's key, opened on load, shredded with
the key; an event too large for its topic is refused before anything is recorded."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from adapters.eventstore import EventStore, EventTooLarge
from adapters.keystore import ERASED, KeyStore, is_sealed
from api.app import create_app
from api.auth import Tokens
from api.deps import Services
from domain.errors import NotFound
from domain.production import ProductionOptions
from domain.project import MAX_SCRIPT_BYTES, Project
from filmstudio import bootstrap
from filmstudio.bootstrap import InMemoryStudio
from schemas.catalogue import BY_TYPE, OWNER_FIELDS, SEALED_FIELDS

TITLE = "Moonlit Quokka"
LINE = "The lantern hums a tune nobody taught it."
SCRIPT = f"INT. ATTIC - NIGHT\n\nMEERA\n{LINE}\n"


def owner_with_project(memory: InMemoryStudio) -> tuple:
    user_id, _ = memory.studio.register("meera@example.com", "lamp-light-42", "Meera")
    project_id, _ = memory.studio.create_project(user_id, TITLE, "en", "16:9")
    memory.studio.revise_script(user_id, project_id, "fountain", SCRIPT)
    return user_id, project_id


def stored_states(memory: InMemoryStudio) -> bytes:
    """Every byte the event store holds."""
    notifications = memory.store.recorder.select_notifications(start=None, limit=1_000_000)
    return b"".join(n.state for n in notifications)


def test_the_catalogue_declares_only_string_fields_of_known_events():
    for event_type, fields in SEALED_FIELDS.items():
        payload = BY_TYPE[event_type].payload.model_fields
        assert set(fields) <= set(payload), f"{event_type} has no field {fields}"
        for name in fields:
            assert "str" in str(payload[name].annotation), f"{event_type}.{name} is not text"
    for event_type, owner in OWNER_FIELDS.items():
        assert owner in BY_TYPE[event_type].payload.model_fields


def test_title_and_script_are_sealed_in_the_store_and_on_the_wire_and_open_on_load(memory):
    user_id, project_id = owner_with_project(memory)

    held = stored_states(memory)
    assert TITLE.encode() not in held and LINE.encode() not in held, "clear text in the store"
    created, revised = [e for e in memory.envelopes() if e.type.startswith("project.")]
    assert is_sealed(created.payload["title"]) and is_sealed(revised.payload["text"])
    assert created.payload["title"].startswith(f"v2:{user_id}:")
    assert memory.keys.open_fields(revised.type, revised.payload)["text"] == SCRIPT

    project = memory.store.load(project_id)
    assert (project.title, project.script_text) == (TITLE, SCRIPT)


def test_a_production_is_bound_to_its_owner_so_its_cancel_reason_is_sealed(memory):
    user_id, project_id = owner_with_project(memory)
    memory.studio.grant_credits(user_id, 100, "test")
    draft = ProductionOptions()
    production_id = memory.studio.request_production(user_id, project_id, draft).production_id
    memory.studio.cancel_production(user_id, production_id, "changed my mind about Quokka")

    [cancelled] = [e for e in memory.envelopes() if e.type == "production.Cancelled"]
    assert is_sealed(cancelled.payload["reason"]) and b"Quokka" not in stored_states(memory)
    assert memory.store.load(production_id).cancel_reason == "changed my mind about Quokka"
    assert memory.keys.owner_of(production_id) == user_id


def test_destroying_the_key_shreds_the_text_but_the_aggregates_still_load(memory):
    user_id, project_id = owner_with_project(memory)
    memory.keys.destroy_key(user_id)

    project = memory.store.load(project_id)
    assert (project.title, project.script_text) == (ERASED, ERASED)
    for envelope in memory.envelopes():
        opened = memory.keys.open_fields(envelope.type, envelope.payload)
        assert TITLE not in str(opened) and LINE not in str(opened)


def test_text_for_an_owner_without_a_key_is_refused_and_nothing_is_recorded(memory):
    user_id, project_id = owner_with_project(memory)
    memory.keys.destroy_key(user_id)
    before = memory.store.last_position()
    project = memory.store.load(project_id)
    project.revise_script("fountain", SCRIPT + "\nMore.\n")
    with pytest.raises(NotFound):
        memory.store.save_all(project)
    assert memory.store.last_position() == before


def test_text_recorded_before_sealing_existed_reads_as_it_was():
    keys = KeyStore.in_memory("test-master")
    assert keys.open_text("An old clear title") == "An old clear title"


def test_a_store_without_a_key_store_cannot_record_creative_text():
    store = EventStore.in_memory()
    with pytest.raises(RuntimeError, match="no key store"):
        store.save_all(Project.create(uuid4(), TITLE, "en", "16:9"))
    assert store.last_position() == 0


def test_an_event_too_large_for_its_topic_is_refused_before_anything_is_recorded(memory):
    user_id, project_id = owner_with_project(memory)
    before = memory.store.last_position()
    project = memory.store.load(project_id)
    project._script_revised(2, "plain", "क" * 495_000)  # past the domain's own check
    with pytest.raises(EventTooLarge, match="limit is 1,000,000 bytes") as refused:
        memory.store.save_all(project)
    assert refused.value.size > refused.value.limit == 1_000_000
    assert memory.store.last_position() == before, "a refused event was recorded"


def test_the_largest_script_the_domain_accepts_fits_its_topic(memory):
    user_id, project_id = owner_with_project(memory)
    largest = "क" * (MAX_SCRIPT_BYTES // len("क".encode()))  # 3 bytes a character
    before = memory.store.last_position()
    memory.studio.revise_script(user_id, project_id, "plain", largest)
    [revised] = memory.envelopes(before)
    size = len(revised.to_bytes())
    assert size < 1_000_000, f"the envelope of the largest script is {size:,} bytes"
    assert memory.keys.open_fields(revised.type, revised.payload)["text"] == largest


def test_the_api_answers_413_for_an_event_too_large_and_401_once_the_user_is_erased(
    unit_settings, tmp_path
):
    settings = unit_settings.model_copy(update={"event_max_bytes": 20_000})
    memory = bootstrap.in_memory(settings, tmp_path / "media")
    user_id, project_id = owner_with_project(memory)
    tokens = Tokens("unit-test-jwt-secret-of-thirty-two-bytes", 3600)
    pool = ConnectionPool("", open=False)
    services = Services(
        settings, memory.studio, pool, None, None, tokens, None, None, None, memory.media
    )  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {tokens.issue(memory.studio.identity(user_id))}"}
    script = {"format": "plain", "text": "A line of a long script.\n" * 1_000}  # 25 kB
    with TestClient(create_app(settings, lambda _: services)) as client:
        before = memory.store.last_position()
        refused = client.put(f"/v1/projects/{project_id}/script", json=script, headers=auth)
        assert refused.status_code == 413, refused.text
        assert "limit is 20,000 bytes" in refused.json()["detail"]
        assert memory.store.last_position() == before, "a refused event was recorded"

        erased = client.delete("/v1/me", headers=auth)
        assert erased.status_code == 202, erased.text
        assert erased.json()["position"] == memory.store.last_position()
        again = client.put(f"/v1/projects/{project_id}/script", json=script, headers=auth)
        assert again.status_code == 401, "the erased user's token still works"
