"""The command side (`commands.handlers.Studio`) on the in-memory store: each command's success
and each of its refusals, by error type and message."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from adapters.keystore import ERASED
from commands.handlers import Identity
from domain.credits import credit_account_id
from domain.errors import Conflict, DomainError, InsufficientCredits, Invalid, NotFound
from domain.estimate import estimate
from domain.production import Production, ProductionOptions
from domain.project import Project
from domain.user import MAX_VOICE_SAMPLES, User
from filmstudio import bootstrap
from filmstudio.bootstrap import InMemoryStudio
from tests.support.audio import tone

SCRIPT = (
    "INT. HOUSE - DAY\n\nMeera lights a lamp.\n\nMEERA\nLight the lamp.\n\n"
    "EXT. RIVER - NIGHT\n\nARJUN\nThe lamp floats away.\n"
)
PASSWORD = "lamp-light-42"


def creator(memory: InMemoryStudio, email: str = "meera@example.com", credits: int = 0) -> UUID:
    user_id, _ = memory.studio.register(email, PASSWORD, "Meera")
    if credits:
        memory.studio.grant_credits(user_id, credits, "test")
    return user_id


def scripted_project(memory: InMemoryStudio, owner: UUID) -> UUID:
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    memory.studio.revise_script(owner, project_id, "fountain", SCRIPT)
    return project_id


def balance(memory: InMemoryStudio, owner: UUID) -> int:
    return memory.store.load(credit_account_id(owner)).balance


def types(memory: InMemoryStudio, after: int = 0) -> list[str]:
    return [e.type for e in memory.envelopes(after)]


def refused(
    memory: InMemoryStudio, kind: type[DomainError], match: str, command: Callable[[], object]
) -> None:
    """`command` raises `kind` with `match` in its message and records nothing."""
    before = memory.store.last_position()
    with pytest.raises(kind, match=match):
        command()
    assert memory.store.last_position() == before, "a refused command recorded events"


# Users


def test_register_records_the_user_and_an_empty_account_with_personal_data_encrypted(memory):
    user_id, position = memory.studio.register(" Meera@Example.com ", PASSWORD, "Meera Devi")

    assert types(memory) == ["user.Registered", "credits.Opened"]
    assert position == memory.store.last_position()
    user = memory.store.load(user_id)
    assert isinstance(user, User) and user.role == "creator"
    assert "meera" not in user.email_cipher.lower()
    assert memory.keys.decrypt(user_id, user.email_cipher) == "meera@example.com"
    assert memory.keys.decrypt(user_id, user.display_name_cipher) == "Meera Devi"
    assert memory.keys.user_for_email("MEERA@example.com") == user_id
    assert balance(memory, user_id) == 0


def test_register_refuses_an_email_already_registered_whatever_its_case(memory):
    creator(memory, "meera@example.com")
    refused(
        memory,
        Conflict,
        "this email is already registered",
        lambda: memory.studio.register("  MEERA@example.com", "other-password", "Impostor"),
    )


def test_authenticate_accepts_only_the_right_password_of_a_known_email(memory):
    user_id = creator(memory)

    assert memory.studio.authenticate("Meera@example.com", PASSWORD) == Identity(user_id, "creator")
    assert memory.studio.authenticate("meera@example.com", "wrong-password") is None
    assert memory.studio.authenticate("nobody@example.com", PASSWORD) is None


def test_authenticate_refuses_an_erased_user(memory):
    user_id = creator(memory)
    memory.studio.erase_user(user_id)

    assert memory.studio.authenticate("meera@example.com", PASSWORD) is None
    assert memory.studio.identity(user_id) is None


def test_ensure_admin_registers_the_admin_once(memory):
    first = memory.studio.ensure_admin("admin@example.com", "admin-password")
    again = memory.studio.ensure_admin("admin@example.com", "admin-password")

    assert first == again
    assert memory.studio.identity(first) == Identity(first, "admin")
    assert types(memory).count("user.Registered") == 1


def test_change_profile_records_the_new_display_name_encrypted(memory):
    user_id = creator(memory)
    position = memory.studio.change_profile(user_id, "Meera D.")

    assert types(memory)[-1] == "user.ProfileChanged"
    assert position == memory.store.last_position()
    user = memory.store.load(user_id)
    assert memory.keys.decrypt(user_id, user.display_name_cipher) == "Meera D."


def test_change_profile_of_an_unknown_or_erased_user_is_not_found(memory):
    refused(memory, NotFound, "no such user", lambda: memory.studio.change_profile(uuid4(), "X"))
    user_id = creator(memory)
    memory.studio.erase_user(user_id)
    refused(memory, NotFound, "no such user", lambda: memory.studio.change_profile(user_id, "X"))


def test_erase_user_shreds_the_key_releases_the_email_and_removes_voice_samples(memory):
    user_id = creator(memory)
    sample = memory.studio.add_voice_sample(user_id, "my voice", tone(3.5))
    folder = memory.settings.voice_samples_root / str(user_id)
    assert folder.is_dir()

    memory.studio.erase_user(user_id)

    user = memory.store.load(user_id)
    assert user.erased and types(memory)[-1] == "user.Erased"
    assert memory.keys.decrypt(user_id, user.email_cipher) == ERASED
    assert memory.keys.user_for_email("meera@example.com") is None
    assert not folder.exists()
    with pytest.raises(LookupError):
        memory.studio.samples.load(user_id, sample.sample_id)
    assert creator(memory, "meera@example.com") != user_id  # the email is free again


def test_erasing_an_erased_user_again_records_nothing_and_an_unknown_one_is_not_found(memory):
    user_id = creator(memory)
    position = memory.studio.erase_user(user_id)
    assert memory.studio.erase_user(user_id) == position == memory.store.last_position()
    refused(memory, NotFound, "no such user", lambda: memory.studio.erase_user(uuid4()))


# Credits


def test_grant_credits_adds_to_the_balance(memory):
    user_id = creator(memory)
    memory.studio.grant_credits(user_id, 30, "welcome")
    position = memory.studio.grant_credits(user_id, 12, "bonus", source="subscription")

    assert balance(memory, user_id) == 42
    assert position == memory.store.last_position()
    assert types(memory)[-2:] == ["credits.Granted", "credits.Granted"]


@pytest.mark.parametrize(
    ("amount", "source", "message"),
    [
        (0, "admin", "a grant must be a positive number of credits"),
        (-5, "admin", "a grant must be a positive number of credits"),
        (10, "lottery", "unknown grant source 'lottery'"),
    ],
)
def test_grant_credits_refuses_a_bad_amount_or_source(memory, amount, source, message):
    user_id = creator(memory)
    refused(
        memory,
        Invalid,
        message,
        lambda: memory.studio.grant_credits(user_id, amount, "test", source=source),
    )


def test_grant_credits_to_an_unknown_user_is_not_found(memory):
    refused(memory, NotFound, "no such user", lambda: memory.studio.grant_credits(uuid4(), 5, "x"))


# Projects


def test_create_project_records_it_with_its_title_trimmed(memory):
    owner = creator(memory)
    project_id, position = memory.studio.create_project(owner, "  The Lamp ", "hi", "9:16")

    project = memory.store.load(project_id)
    assert isinstance(project, Project) and project.owner_id == owner
    assert (project.title, project.language, project.aspect_ratio) == ("The Lamp", "hi", "9:16")
    assert project.revision == 0
    assert position == memory.store.last_position()


@pytest.mark.parametrize(
    ("title", "language", "ratio", "message"),
    [
        ("   ", "en", "16:9", "a title has 1 to 200 characters"),
        ("x" * 201, "en", "16:9", "a title has 1 to 200 characters"),
        ("Film", "fr", "16:9", "language must be one of .*not 'fr'"),
        ("Film", "en", "4:3", "aspect_ratio must be one of .*not '4:3'"),
    ],
)
def test_create_project_refuses_a_bad_title_language_or_ratio(
    memory, title, language, ratio, message
):
    owner = creator(memory)
    refused(
        memory,
        Invalid,
        message,
        lambda: memory.studio.create_project(owner, title, language, ratio),
    )


def test_revise_script_keeps_every_revision_numbered(memory):
    owner = creator(memory)
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")

    first, _ = memory.studio.revise_script(owner, project_id, "plain", "A lamp is lit.")
    second, position = memory.studio.revise_script(owner, project_id, "fountain", SCRIPT)

    assert (first, second) == (1, 2)
    assert position == memory.store.last_position()
    assert memory.pipeline.script_of(project_id, 1) == ("plain", "A lamp is lit.")
    assert memory.pipeline.script_of(project_id, 2) == ("fountain", SCRIPT)


@pytest.mark.parametrize(
    ("script_format", "text", "message"),
    [
        ("screenplay", SCRIPT, "format must be one of fountain, plain"),
        ("fountain", "  \n\t", "a script needs some text"),
        ("plain", "x" * 400_001, "a script is at most 400000 bytes in UTF-8"),
        ("plain", "\u0915" * 133_334, "a script is at most 400000 bytes in UTF-8"),
        ("plain", "INT. ROOM\n\x00", "a script contains the control character U\\+0000"),
    ],
)
def test_revise_script_refuses_a_bad_format_or_text(memory, script_format, text, message):
    owner = creator(memory)
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    refused(
        memory,
        Invalid,
        message,
        lambda: memory.studio.revise_script(owner, project_id, script_format, text),
    )


def test_change_project_settings_records_only_real_changes(memory):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)

    memory.studio.change_project_settings(owner, project_id, title="Lamp", aspect_ratio="1:1")
    after_change = memory.store.last_position()
    unchanged = memory.studio.change_project_settings(owner, project_id, title="Lamp")

    project = memory.store.load(project_id)
    assert (project.title, project.language, project.aspect_ratio) == ("Lamp", "en", "1:1")
    assert types(memory).count("project.SettingsChanged") == 1
    assert unchanged == after_change == memory.store.last_position()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": ""}, "a title has 1 to 200 characters"),
        ({"language": "xx"}, "language must be one of"),
        ({"aspect_ratio": "21:9"}, "aspect_ratio must be one of"),
    ],
)
def test_change_project_settings_refuses_bad_values(memory, changes, message):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Invalid,
        message,
        lambda: memory.studio.change_project_settings(owner, project_id, **changes),
    )


def test_archive_project_is_recorded_once(memory):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)

    memory.studio.archive_project(owner, project_id)
    again = memory.studio.archive_project(owner, project_id)

    assert memory.store.load(project_id).archived
    assert types(memory).count("project.Archived") == 1
    assert again == memory.store.last_position()


@pytest.mark.parametrize(
    "command",
    [
        lambda s, owner, project: s.revise_script(owner, project, "plain", "New text."),
        lambda s, owner, project: s.change_project_settings(owner, project, title="New"),
        lambda s, owner, project: s.request_production(owner, project, ProductionOptions()),
    ],
    ids=["revise_script", "change_project_settings", "request_production"],
)
def test_an_archived_project_refuses_changes_and_productions(memory, command):
    owner = creator(memory, credits=100)
    project_id = scripted_project(memory, owner)
    memory.studio.archive_project(owner, project_id)
    refused(
        memory,
        Conflict,
        "this project is archived",
        lambda: command(memory.studio, owner, project_id),
    )


@pytest.mark.parametrize(
    "command",
    [
        lambda s, owner, project: s.revise_script(owner, project, "plain", "Mine now."),
        lambda s, owner, project: s.change_project_settings(owner, project, title="Mine"),
        lambda s, owner, project: s.archive_project(owner, project),
        lambda s, owner, project: s.request_production(owner, project, ProductionOptions()),
        lambda s, owner, project: s.script_help(owner, project, "tighten", 1),
        lambda s, owner, project: s.accept_suggestion(owner, project, uuid4()),
    ],
    ids=[
        "revise_script",
        "change_project_settings",
        "archive_project",
        "request_production",
        "script_help",
        "accept_suggestion",
    ],
)
def test_someone_elses_project_is_not_found(memory, command):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)
    other = creator(memory, "arjun@example.com", credits=100)
    refused(memory, NotFound, "no such project", lambda: command(memory.studio, other, project_id))


# Productions


def test_request_production_reserves_the_estimated_credits_with_the_request(memory):
    owner = creator(memory, credits=100)
    project_id = scripted_project(memory, owner)
    before = memory.store.last_position()

    requested = memory.studio.request_production(owner, project_id, ProductionOptions())

    cost = estimate("fountain", SCRIPT, memory.settings.credits_per_minute)
    assert requested.reserved_credits == cost.credits == 10
    assert requested.position == memory.store.last_position()
    assert types(memory, before) == ["credits.Reserved", "production.Requested"]
    assert balance(memory, owner) == 90
    production = memory.store.load(requested.production_id)
    assert isinstance(production, Production)
    assert (production.status, production.revision, production.credits) == ("requested", 1, 10)
    assert production.options["language"] == "en"  # the project's, filled in


def test_request_production_with_a_short_balance_is_refused_and_records_nothing(memory):
    owner = creator(memory, credits=5)
    project_id = scripted_project(memory, owner)
    production_id = uuid4()
    refused(
        memory,
        InsufficientCredits,
        "this production needs 10 credits and the balance is 5",
        lambda: memory.studio.request_production(
            owner, project_id, ProductionOptions(), production_id
        ),
    )
    assert memory.store.find(production_id) is None
    assert balance(memory, owner) == 5


def test_request_production_without_a_script_is_a_conflict(memory):
    owner = creator(memory, credits=100)
    project_id, _ = memory.studio.create_project(owner, "Empty", "en", "16:9")
    refused(
        memory,
        Conflict,
        "this project has no script yet",
        lambda: memory.studio.request_production(owner, project_id, ProductionOptions()),
    )


def test_final_quality_is_invalid_while_the_model_backends_are_off(memory):
    owner = creator(memory, credits=100)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Invalid,
        "final quality needs the model backends",
        lambda: memory.studio.request_production(
            owner, project_id, ProductionOptions(quality="final")
        ),
    )


def test_draft_subtitles_in_another_language_than_the_scripts_are_invalid(memory):
    owner = creator(memory, credits=100)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Invalid,
        r"subtitles in hi need translation, which only 'final' quality offers; .*\(en\)",
        lambda: memory.studio.request_production(
            owner, project_id, ProductionOptions(languages=["en", "hi"])
        ),
    )


def test_repeating_a_request_with_the_same_production_id_reserves_once(memory):
    owner = creator(memory, credits=100)
    project_id = scripted_project(memory, owner)
    production_id = uuid4()

    first = memory.studio.request_production(owner, project_id, ProductionOptions(), production_id)
    again = memory.studio.request_production(owner, project_id, ProductionOptions(), production_id)

    assert again == first
    assert balance(memory, owner) == 90
    assert types(memory).count("credits.Reserved") == 1
    assert types(memory).count("production.Requested") == 1


def test_a_production_id_another_user_holds_is_a_conflict(memory):
    owner = creator(memory, credits=100)
    production_id = memory.studio.request_production(
        owner, scripted_project(memory, owner), ProductionOptions()
    ).production_id
    other = creator(memory, "arjun@example.com", credits=100)
    their_project = scripted_project(memory, other)
    refused(
        memory,
        Conflict,
        "this production id is taken",
        lambda: memory.studio.request_production(
            other, their_project, ProductionOptions(), production_id
        ),
    )


def test_a_cloned_voice_of_a_sample_the_creator_lacks_is_invalid(unit_settings, tmp_path):
    with_models = unit_settings.model_copy(update={"model_backends": True})
    memory = bootstrap.in_memory(with_models, tmp_path / "media")
    try:
        owner = creator(memory, credits=100)
        project_id = scripted_project(memory, owner)
        missing = uuid4()
        options = ProductionOptions(quality="final", voices={"MEERA": f"clone:{missing}/0"})
        refused(
            memory,
            Invalid,
            f"you have no voice sample {missing}",
            lambda: memory.studio.request_production(owner, project_id, options),
        )
    finally:
        memory.close()


def requested(memory: InMemoryStudio, credits: int = 100) -> tuple[UUID, UUID]:
    """(owner, production id) of a fresh draft request."""
    owner = creator(memory, credits=credits)
    project_id = scripted_project(memory, owner)
    return owner, memory.studio.request_production(
        owner, project_id, ProductionOptions()
    ).production_id


def test_cancel_production_gives_the_reservation_back(memory):
    owner, production_id = requested(memory)
    before = memory.store.last_position()

    position = memory.studio.cancel_production(owner, production_id, "changed my mind")

    assert types(memory, before) == ["production.Cancelled", "credits.Released"]
    assert position == memory.store.last_position()
    production = memory.store.load(production_id)
    assert (production.status, production.cancel_reason) == ("cancelled", "changed my mind")
    assert balance(memory, owner) == 100


def test_cancelling_twice_records_nothing_more(memory):
    owner, production_id = requested(memory)
    memory.studio.cancel_production(owner, production_id, "stop")
    before = memory.store.last_position()

    assert memory.studio.cancel_production(owner, production_id, "stop again") == before
    assert memory.store.last_position() == before
    assert balance(memory, owner) == 100


def test_cancelling_a_finished_production_is_a_conflict(memory):
    owner, production_id = requested(memory)
    memory.pipeline.fail(production_id, "a worker gave up")
    refused(
        memory,
        Conflict,
        "this production is already failed",
        lambda: memory.studio.cancel_production(owner, production_id, "too late"),
    )


def test_cancelling_someone_elses_production_is_not_found(memory):
    _, production_id = requested(memory)
    other = creator(memory, "arjun@example.com")
    refused(
        memory,
        NotFound,
        "no such production",
        lambda: memory.studio.cancel_production(other, production_id, "not mine"),
    )


# Voice samples


def test_add_voice_sample_stores_the_audio_sealed_and_records_its_length(memory):
    user_id = creator(memory)

    added = memory.studio.add_voice_sample(user_id, " my voice ", tone(3.5))

    assert added.seconds == pytest.approx(3.5, abs=0.01)
    assert added.position == memory.store.last_position()
    assert types(memory)[-1] == "user.VoiceSampleAdded"
    assert memory.store.load(user_id).voice_samples == {str(added.sample_id): added.seconds}
    sealed = memory.settings.voice_samples_root / str(user_id) / f"{added.sample_id}.sealed"
    assert not sealed.read_bytes().startswith(b"RIFF")  # not stored in clear
    assert memory.studio.samples.load(user_id, added.sample_id).startswith(b"RIFF")


def test_adding_the_same_sample_id_twice_records_it_once(memory):
    user_id = creator(memory)
    sample_id = uuid4()
    first = memory.studio.add_voice_sample(user_id, "voice", tone(3.2), sample_id)
    again = memory.studio.add_voice_sample(user_id, "voice", tone(3.2), sample_id)

    assert again.sample_id == first.sample_id == sample_id
    assert again.position == first.position
    assert types(memory).count("user.VoiceSampleAdded") == 1


@pytest.mark.parametrize(
    ("name", "audio", "message"),
    [
        ("  ", tone(3.5), "a voice sample's name has 1 to 80 characters"),
        ("x" * 81, tone(3.5), "a voice sample's name has 1 to 80 characters"),
        ("short", tone(1.0), "a voice sample lasts 3 to 60 seconds, not 1.0"),
        ("noise", b"this is not audio at all", "one of these formats: wav, flac"),
        ("broken", b"RIFF\x00\x00\x00\x00WAVEnoise", "not audio that FFmpeg can read"),
    ],
    ids=["empty name", "long name", "too short", "not audio", "broken wav"],
)
def test_a_bad_voice_sample_is_invalid_and_not_stored(memory, name, audio, message):
    user_id = creator(memory)
    refused(memory, Invalid, message, lambda: memory.studio.add_voice_sample(user_id, name, audio))
    assert not (memory.settings.voice_samples_root / str(user_id)).exists()


def test_a_voice_sample_of_an_unknown_user_is_not_found_and_not_stored(memory):
    stranger = uuid4()
    refused(
        memory,
        NotFound,
        "no such user",
        lambda: memory.studio.add_voice_sample(stranger, "voice", tone(3.5)),
    )
    assert not (memory.settings.voice_samples_root / str(stranger)).exists()


def test_one_voice_sample_too_many_is_a_conflict_and_its_audio_is_not_kept(memory):
    user_id = creator(memory)
    audio = tone(3.0)
    for _ in range(MAX_VOICE_SAMPLES):
        memory.studio.add_voice_sample(user_id, "voice", audio)
    extra = uuid4()
    refused(
        memory,
        Conflict,
        f"at most {MAX_VOICE_SAMPLES} voice samples: remove one first",
        lambda: memory.studio.add_voice_sample(user_id, "one more", audio, extra),
    )
    folder = memory.settings.voice_samples_root / str(user_id)
    assert len(list(folder.glob("*.sealed"))) == MAX_VOICE_SAMPLES
    assert not (folder / f"{extra}.sealed").exists()


def test_remove_voice_sample_forgets_and_deletes_it(memory):
    user_id = creator(memory)
    added = memory.studio.add_voice_sample(user_id, "voice", tone(3.5))

    position = memory.studio.remove_voice_sample(user_id, added.sample_id)

    assert position == memory.store.last_position()
    assert types(memory)[-1] == "user.VoiceSampleRemoved"
    assert memory.store.load(user_id).voice_samples == {}
    with pytest.raises(LookupError, match="is not stored"):
        memory.studio.samples.load(user_id, added.sample_id)


def test_removing_a_voice_sample_the_user_lacks_is_not_found(memory):
    user_id = creator(memory)
    refused(
        memory,
        NotFound,
        "no such voice sample",
        lambda: memory.studio.remove_voice_sample(user_id, uuid4()),
    )


# Script help (only the refusals that come before the language model is asked)


def test_script_help_without_a_script_is_a_conflict(memory):
    owner = creator(memory)
    project_id, _ = memory.studio.create_project(owner, "Empty", "en", "16:9")
    refused(
        memory,
        Conflict,
        "this project has no script yet",
        lambda: memory.studio.script_help(owner, project_id, "tighten", 1),
    )


@pytest.mark.parametrize("scene", [0, 3, -1])
def test_script_help_for_a_scene_out_of_range_is_invalid(memory, scene):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Invalid,
        "this script's scenes run from 1 to 2",
        lambda: memory.studio.script_help(owner, project_id, "expand", scene),
    )


def test_script_help_with_an_unknown_action_is_invalid(memory):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Invalid,
        "action must be one of tighten, expand, not 'rewrite'",
        lambda: memory.studio.script_help(owner, project_id, "rewrite", 1),
    )


def test_accepting_a_suggestion_not_on_the_current_revision_is_a_conflict(memory):
    owner = creator(memory)
    project_id = scripted_project(memory, owner)
    refused(
        memory,
        Conflict,
        "no such suggestion on the current script revision",
        lambda: memory.studio.accept_suggestion(owner, project_id, uuid4()),
    )


def test_in_memory_wiring_keeps_no_state_between_studios(unit_settings, tmp_path):
    """Two in-memory studios share nothing: each has its own events and keys."""
    first = bootstrap.in_memory(unit_settings, tmp_path / "one")
    second = bootstrap.in_memory(unit_settings, tmp_path / "two")
    try:
        first.studio.register("meera@example.com", PASSWORD, "Meera")
        assert second.store.last_position() == 0
        assert second.keys.user_for_email("meera@example.com") is None
    finally:
        first.close()
        second.close()
