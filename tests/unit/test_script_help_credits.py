"""Script help is paid: one charge per suggestion, recorded with it, refused when short."""

from collections.abc import Iterator
from uuid import uuid4

import pytest
from argon2 import PasswordHasher

from adapters.settings import Settings
from domain.credits import CreditAccount, credit_account_id
from domain.errors import InsufficientCredits, Invalid
from filmstudio import bootstrap
from filmstudio.bootstrap import InMemoryStudio
from tests.support.openai_server import LocalOpenAIServer

SCRIPT = "INT. HOUSE - DAY\n\nMeera lights a lamp.\n\nMEERA\nLight the lamp.\n"
COST = 2


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as running:
        yield running


@pytest.fixture
def paid(unit_settings: Settings, server: LocalOpenAIServer) -> Iterator[InMemoryStudio]:
    settings = unit_settings.model_copy(
        update={"llm_base_url": server.base_url, "script_help_credits": COST}
    )
    wired = bootstrap.in_memory(settings, settings.media_root)
    wired.studio.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield wired
    wired.close()


def project_of(memory: InMemoryStudio, credits: int) -> tuple:
    owner, _ = memory.studio.register("meera@example.com", "lamp-light-42", "Meera")
    if credits:
        memory.studio.grant_credits(owner, credits, "test")
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    memory.studio.revise_script(owner, project_id, "fountain", SCRIPT)
    return owner, project_id


def test_each_suggestion_is_charged_in_the_same_transaction(paid):
    owner, project_id = project_of(paid, credits=5)
    before = paid.store.last_position()
    suggestion = paid.studio.script_help(owner, project_id, "expand", 1)
    recorded = paid.envelopes(before)
    assert [e.type for e in recorded] == [
        "project.ScriptSuggested",
        "credits.Charged",
        "credits.BalanceLow",  # 3 credits left, under the default threshold
    ]
    charged = recorded[1].payload
    assert charged == {"amount": COST, "purpose": "script_help",
                       "reference": str(suggestion.suggestion_id)}  # fmt: skip
    assert suggestion.position == recorded[-1].position, "one save: the answer names the charge"
    assert paid.store.load(credit_account_id(owner)).balance == 5 - COST


def test_script_help_is_refused_with_402_before_the_model_is_asked(paid, server):
    owner, project_id = project_of(paid, credits=COST - 1)
    asked = len(server.requests)
    before = paid.store.last_position()
    with pytest.raises(InsufficientCredits, match=f"needs {COST} credits"):
        paid.studio.script_help(owner, project_id, "tighten", 1)
    assert len(server.requests) == asked, "the language model was asked for an unpaid answer"
    assert paid.store.last_position() == before


def test_free_script_help_charges_nothing(memory, unit_settings, server):
    memory.studio.settings = unit_settings.model_copy(
        update={"llm_base_url": server.base_url, "script_help_credits": 0}
    )
    owner, project_id = project_of(memory, credits=0)
    before = memory.store.last_position()
    memory.studio.script_help(owner, project_id, "tighten", 1)
    assert [e.type for e in memory.envelopes(before)] == ["project.ScriptSuggested"]


def test_a_charge_is_positive_for_a_known_purpose_and_covered():
    account = CreditAccount(user_id=uuid4())
    account.grant(3, "admin", "test", "")
    with pytest.raises(Invalid):
        account.charge(0, "script_help", "r")
    with pytest.raises(Invalid):
        account.charge(1, "lunch", "r")
    with pytest.raises(InsufficientCredits):
        account.charge(4, "script_help", "r")
    account.charge(3, "script_help", "r")
    assert account.balance == 0
