"""The aggregates' rules, with no services."""

from uuid import uuid4

import pytest

from domain.credits import CreditAccount, credit_account_id
from domain.errors import Conflict, InsufficientCredits, Invalid
from domain.production import Production, ProductionOptions
from domain.project import Project
from domain.user import User


def funded_account(amount: int = 100) -> CreditAccount:
    account = CreditAccount(user_id=uuid4())
    account.grant(amount, "admin", "welcome", "")
    return account


def scripted_project(language: str = "en") -> Project:
    project = Project.create(uuid4(), "Monsoon", language, "16:9")
    project.revise_script("plain", "Rain falls on the old city.")
    return project


def test_account_id_derives_from_user():
    user_id = uuid4()
    assert CreditAccount(user_id=user_id).id == credit_account_id(user_id)


def test_reserve_moves_credits_out_of_the_balance():
    account = funded_account(100)
    production_id = uuid4()
    assert account.reserve(production_id, 30) is True
    assert (account.balance, account.reserved) == (70, 30)


def test_reserve_twice_for_one_production_reserves_once():
    account = funded_account(100)
    production_id = uuid4()
    account.reserve(production_id, 30)
    assert account.reserve(production_id, 30) is False
    assert (account.balance, account.reserved) == (70, 30)
    assert sum(isinstance(e, CreditAccount.Reserved) for e in account.collect_events()) == 1


def test_reserve_beyond_the_balance_is_refused_and_changes_nothing():
    account = funded_account(20)
    with pytest.raises(InsufficientCredits, match="needs 30 credits and the balance is 20"):
        account.reserve(uuid4(), 30)
    assert (account.balance, account.reserved) == (20, 0)


def test_release_returns_the_whole_reservation_once():
    account = funded_account(50)
    production_id = uuid4()
    account.reserve(production_id, 40)
    account.release(production_id)
    account.release(production_id)
    assert (account.balance, account.reserved) == (50, 0)
    assert account.reserve(production_id, 40) is False  # a settled production never reserves again


def test_capture_spends_part_and_returns_the_rest():
    account = funded_account(50)
    production_id = uuid4()
    account.reserve(production_id, 40)
    account.capture(production_id, 25)
    assert (account.balance, account.reserved) == (25, 0)


@pytest.mark.parametrize("amount", [0, -5])
def test_grants_must_be_positive(amount):
    with pytest.raises(Invalid):
        funded_account().grant(amount, "admin", "x", "")


def test_project_keeps_counting_revisions():
    project = scripted_project()
    assert project.revise_script("fountain", "INT. HOUSE - DAY\n\nA door opens.") == 2
    assert project.script_format == "fountain"


@pytest.mark.parametrize(
    ("field", "value"), [("language", "xx"), ("aspect_ratio", "4:3"), ("title", "  ")]
)
def test_project_rejects_unknown_settings(field, value):
    values = {"title": "T", "language": "en", "aspect_ratio": "16:9", field: value}
    with pytest.raises(Invalid):
        Project.create(uuid4(), **values)


def test_archived_project_refuses_revisions_and_productions():
    project = scripted_project()
    project.archive()
    with pytest.raises(Conflict):
        project.revise_script("plain", "more")
    with pytest.raises(Conflict):
        Production.request(uuid4(), project, ProductionOptions(), 10, 30.0)


def test_production_needs_a_script():
    project = Project.create(uuid4(), "Empty", "en", "16:9")
    with pytest.raises(Conflict, match="no script"):
        Production.request(uuid4(), project, ProductionOptions(), 10, 30.0)


def test_draft_quality_refuses_subtitles_in_other_languages():
    with pytest.raises(Invalid, match="hi"):
        Production.request(
            uuid4(), scripted_project("en"), ProductionOptions(languages=["en", "hi"]), 10, 30.0
        )


def test_production_records_the_revision_and_options():
    project = scripted_project()
    options = ProductionOptions(quality="final", languages=["hi"], burn_subtitles=True)
    production = Production.request(uuid4(), project, options, 40, 30.0)
    assert production.revision == 1
    assert production.options["languages"] == ["hi"]


def test_cancel_is_idempotent():
    production = Production.request(uuid4(), scripted_project(), ProductionOptions(), 10, 30.0)
    assert production.cancel("changed my mind") is True
    assert production.cancel("again") is False
    assert production.status == "cancelled"


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError, match="quality"):
        ProductionOptions(quality="ultra")


def test_erased_user_cannot_change_profile():
    user = User(
        id=uuid4(),
        email_cipher="e",
        display_name_cipher="d",
        password_hash_cipher="p",
        role="creator",
    )
    user.erase()
    with pytest.raises(Conflict):
        user.change_profile("new")


def test_malformed_voice_choices_are_rejected_up_front():
    with pytest.raises(ValueError, match="piper:joe/2"):
        ProductionOptions(voices={"MEERA": "robot"})
    assert ProductionOptions(voices={"MEERA": "espeak:hi/3"}).voices == {"MEERA": "espeak:hi/3"}
