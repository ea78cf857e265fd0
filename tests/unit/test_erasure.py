"""Erasure as a process (in memory): every step runs once, a failure at any step is resumed, and
nothing of the user stays readable: events, work messages, media, voice samples, key, email."""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.keystore import ERASED
from adapters.media import redeem
from commands.handlers import ERASURE_STEPS
from domain.errors import NotFound
from domain.production import ProductionOptions
from domain.screenplay import analyse
from filmstudio.bootstrap import InMemoryStudio
from schemas.work import UnitResult, WorkUnit
from tests.support.audio import tone

EMAIL, NAME, PASSWORD = "quokka@example.com", "Quinn Quokka", "lamp-light-42"
TITLE = "Moonlit Quokka"
LINE = "The lantern hums a tune nobody taught it."
SCRIPT = f"INT. ATTIC - NIGHT\n\nMEERA\n{LINE}\n"


def deliver(memory: InMemoryStudio, after: int) -> int:
    """Hand the saga every production event recorded after `after`; returns the last position."""
    for envelope in memory.envelopes(after):
        if envelope.type.startswith("production."):
            memory.saga.on_event(envelope)
        after = envelope.position
    return after


def creator_with_work(memory: InMemoryStudio) -> tuple[UUID, UUID, WorkUnit]:
    """A creator with a voice sample, a scripted project and a running production whose script
    analysis unit is dispatched and completed (its artifact in the media store)."""
    user_id, _ = memory.studio.register(EMAIL, PASSWORD, NAME)
    memory.studio.grant_credits(user_id, 1000, "test")
    memory.studio.add_voice_sample(user_id, "my voice", tone(3.5))
    project_id, _ = memory.studio.create_project(user_id, TITLE, "en", "16:9")
    memory.studio.revise_script(user_id, project_id, "fountain", SCRIPT)
    production_id = memory.studio.request_production(
        user_id, project_id, ProductionOptions()
    ).production_id
    seen = deliver(memory, deliver(memory, 0))  # Requested -> StageStarted -> the unit
    [message] = [m for m in memory.bus.messages if m.topic.endswith(".work.script_analysis")]
    unit = WorkUnit.model_validate_json(message.value)
    with memory.media.writing(unit.key) as folder:
        (folder / "storyboard.json").write_text(analyse("fountain", SCRIPT, "en").model_dump_json())
    memory.saga.on_result(
        UnitResult(
            production_id=production_id,
            stage=unit.stage,
            unit=unit.unit,
            attempt=1,
            key=unit.key,
            ok=True,
        )
    )
    deliver(memory, deliver(memory, seen))  # StageCompleted -> StageStarted -> the next units
    return user_id, production_id, unit


def assert_forgotten(memory: InMemoryStudio, user_id: UUID, unit: WorkUnit) -> None:
    user = memory.store.load(user_id)
    assert user.erased and not user.erasing
    assert [e.type for e in memory.envelopes()][-1] == "user.Erased"
    assert memory.keys.key_destroyed(user_id), "the key survived"
    assert memory.keys.user_for_email(EMAIL) is None, "the email is still claimed"
    assert memory.keys.pending_erasures() == []
    assert not (memory.settings.voice_samples_root / str(user_id)).exists()
    assert not memory.media.exists(unit.key), "the user's artifact survived"
    with pytest.raises(FileNotFoundError):
        redeem(unit, memory.media)
    production = memory.store.load(unit.production_id)
    assert production.status == "cancelled"
    assert memory.store.load(production.project_id).title == ERASED
    for envelope in memory.envelopes():
        opened = str(memory.keys.open_fields(envelope.type, envelope.payload))
        for secret in (EMAIL, NAME, TITLE, LINE):
            assert secret not in opened, f"{secret!r} readable in {envelope.type}"
    for message in memory.bus.messages:
        for secret in (TITLE, LINE, "lantern"):
            assert secret.encode() not in message.value, f"{secret!r} on {message.topic}"
    for path in memory.media.root.rglob("*"):
        if path.is_file():
            assert LINE.encode() not in path.read_bytes(), f"{LINE!r} in {path}"


def test_work_messages_carry_no_inputs_and_the_worker_redeems_them(memory):
    _, _, unit = creator_with_work(memory)
    assert unit.inputs is None
    assert redeem(unit, memory.media).inputs.text == SCRIPT


def test_erasure_runs_every_step_once_and_forgets_everything(memory):
    user_id, _, unit = creator_with_work(memory)
    dispatched = [m for m in memory.bus.messages if m.topic.endswith(".work.image_generation")]
    assert dispatched, "the next stage was not dispatched"
    unreported = WorkUnit.model_validate_json(dispatched[0].value)  # computed, not yet reported
    with memory.media.writing(unreported.key) as folder:
        (folder / "frame.png").write_bytes(b"a frame")
    position = memory.studio.erase_user(user_id)
    assert not memory.media.exists(unreported.key), "an unreported artifact survived"

    kinds = [e.type for e in memory.envelopes()]
    assert kinds.count("user.ErasureRequested") == kinds.count("user.Erased") == 1
    assert kinds.index("production.Cancelled") > kinds.index("user.ErasureRequested")
    assert position == memory.store.last_position()
    assert_forgotten(memory, user_id, unit)
    assert memory.studio.authenticate(EMAIL, PASSWORD) is None


@pytest.mark.parametrize("failing", ERASURE_STEPS)
def test_a_failure_at_any_step_leaves_the_user_erasing_and_a_retry_finishes(memory, failing):
    user_id, project_id, unit = creator_with_work(memory)
    step = getattr(memory.studio, failing)

    def fails_once(user: UUID) -> None:
        setattr(memory.studio, failing, step)  # the next attempt succeeds
        raise OSError(f"{failing} failed")

    setattr(memory.studio, failing, fails_once)
    with pytest.raises(OSError, match=failing):
        memory.studio.erase_user(user_id)

    assert memory.store.load(user_id).erasing, "the erasure did not start"
    assert memory.keys.pending_erasures() == [user_id]
    assert memory.studio.identity(user_id) is None, "an erasing user still has an identity"
    with pytest.raises(NotFound):
        memory.studio.change_profile(user_id, "Still here")

    assert memory.studio.resume_erasures() == [user_id]  # what start-up does
    assert_forgotten(memory, user_id, unit)
    kinds = [e.type for e in memory.envelopes()]
    assert kinds.count("user.ErasureRequested") == kinds.count("user.Erased") == 1


def test_a_retry_of_the_erase_command_resumes_rather_than_not_found(memory):
    user_id, _, unit = creator_with_work(memory)
    step = memory.studio._destroy_key
    memory.studio._destroy_key = lambda user: (_ for _ in ()).throw(OSError("disk"))
    with pytest.raises(OSError):
        memory.studio.erase_user(user_id)
    memory.studio._destroy_key = step

    memory.studio.erase_user(user_id)
    assert_forgotten(memory, user_id, unit)


def test_another_users_identical_film_keeps_its_artifacts(memory):
    first, _, first_unit = creator_with_work(memory)
    memory.bus.messages.clear()
    memory.studio.register("other@example.com", PASSWORD, "Other")
    other = memory.keys.user_for_email("other@example.com")
    memory.studio.grant_credits(other, 1000, "test")
    project_id, _ = memory.studio.create_project(other, TITLE, "en", "16:9")
    memory.studio.revise_script(other, project_id, "fountain", SCRIPT)
    before = memory.store.last_position()
    memory.studio.request_production(other, project_id, ProductionOptions())
    deliver(memory, deliver(memory, before))
    [message] = [m for m in memory.bus.messages if m.topic.endswith(".work.script_analysis")]
    other_unit = WorkUnit.model_validate_json(message.value)
    assert other_unit.key != first_unit.key, "two owners share an artifact key"
    with memory.media.writing(other_unit.key) as folder:
        (folder / "storyboard.json").write_text("{}")

    memory.studio.erase_user(first)
    assert memory.media.exists(other_unit.key)
    assert redeem(other_unit, memory.media).inputs.text == SCRIPT
