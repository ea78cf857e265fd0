"""The notifications projection's rules, without services: which event gives which e-mail,
who gets it (opt-out, erasure), the retry schedule, and the templates in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from jinja2 import TemplateNotFound, UndefinedError
from pydantic import SecretStr

from adapters.account_tokens import AccountTokens
from adapters.keystore import KeyStore
from adapters.retry import retry_delay
from adapters.settings import Settings
from domain.user import EMAIL_LANGUAGES
from projections.mail_sender import Composer, Recipient, disposition, money
from projections.mail_templates import TEMPLATES, MailTemplates
from projections.notifications import KINDS, Notice, notice
from schemas.catalogue import BY_TYPE
from schemas.envelope import AggregateRef, Envelope

PURCHASE = {
    "reference": "cs_1", "payment": "pi_1", "credits": 100, "source": "purchase",
    "plan_id": "pack-100", "amount_cents": 1000, "currency": "usd", "invoice_url": "",
    "settled_debt": 0,
}  # fmt: skip


def envelope(
    event_type: str, payload: dict[str, Any], aggregate_id: UUID | None = None
) -> Envelope:
    """An envelope whose payload the event catalogue accepts (so the fields are the real ones)."""
    kind = BY_TYPE[event_type]
    return Envelope(
        event_id=uuid4(),
        type=event_type,
        version=kind.version,
        aggregate=AggregateRef(type=kind.aggregate, id=aggregate_id or uuid4(), sequence=2),
        position=7,
        occurred_at=datetime.now(UTC),
        correlation_id="c",
        causation_id="c",
        actor="test",
        payload=kind.payload.model_validate(payload).model_dump(mode="json"),
    )


def test_user_events_give_the_account_emails(memory):
    user_id, _ = memory.studio.register("asha@example.com", "a long password", "Asha")
    memory.studio.request_password_reset("asha@example.com")
    memory.studio.reset_password(user_id, 0, "another long password")
    memory.studio.change_email_preferences(user_id, "hi", False)
    found = [(e.type, notice(e)) for e in memory.envelopes()]
    assert [(t, n.kind) for t, n in found if n] == [
        ("user.Registered", "welcome"),
        ("user.PasswordResetRequested", "password_reset"),
        ("user.PasswordChanged", "password_changed"),
    ]
    assert all(
        n is None for t, n in found if t in ("credits.Opened", "user.EmailPreferencesChanged")
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("credits.Purchased", PURCHASE, Notice("receipt", {
            "credits": 100, "amount_cents": 1000, "currency": "usd", "plan_id": "pack-100",
            "invoice_url": "", "settled_debt": 0,
        })),
        ("credits.Purchased", {**PURCHASE, "source": "subscription", "settled_debt": 5}, Notice(
            "subscription_renewed", {
                "credits": 100, "amount_cents": 1000, "currency": "usd", "plan_id": "pack-100",
                "invoice_url": "", "settled_debt": 5,
            },
        )),
        ("credits.SubscriptionPaymentFailed", {
            "invoice": "in_1", "subscription": "sub_1", "amount_cents": 2500, "currency": "inr",
            "invoice_url": "",
        }, Notice(
            "subscription_failed", {"amount_cents": 2500, "currency": "inr", "invoice_url": ""}
        )),
        ("credits.Revoked", {
            "purchase": "cs_1", "reference": "re_1", "reason": "refund", "credits": 100,
            "taken": 40, "owed": 60,
        }, Notice(
            "credits_revoked", {"credits": 100, "taken": 40, "owed": 60, "reason": "refund"}
        )),
        ("credits.BalanceLow", {"balance": 3, "threshold": 20},
         Notice("balance_low", {"balance": 3, "threshold": 20})),
        ("credits.Granted", {"amount": 5, "source": "admin", "reason": "", "reference": ""}, None),
        ("production.Failed", {"reason": "the voice failed"}, "production_failed"),
        ("production.Completed", {"artifacts": {}, "duration_seconds": 61.4},
         "production_completed"),
        ("production.Cancelled", {"reason": "changed my mind"}, None),
    ],
)  # fmt: skip
def test_credit_and_production_events_give_their_emails(event_type, payload, expected):
    event = envelope(event_type, payload)
    found = notice(event)
    if isinstance(expected, str):
        assert found is not None and found.kind == expected
        assert found.data["production_id"] == str(event.aggregate.id)
    else:
        assert found == expected


def test_only_production_and_balance_emails_are_optional():
    optional = {kind for kind, essential in KINDS.items() if not essential}
    assert optional == {"production_completed", "production_failed", "balance_low"}


def recipient(product_email: bool = True, erased: bool = False) -> Recipient:
    return Recipient("cipher", "cipher", "en", product_email, erased)


def test_opted_out_users_get_only_essential_email():
    for kind, essential in KINDS.items():
        assert disposition(kind, recipient(product_email=True)) == "send"
        assert disposition(kind, recipient(product_email=False)) == (
            "send" if essential else "skip"
        )


def test_erased_users_get_nothing_and_unknown_ones_are_waited_for():
    assert {disposition(k, recipient(erased=True)) for k in KINDS} == {"drop"}
    assert {disposition(k, None) for k in KINDS} == {"wait"}


def test_retries_back_off_exponentially_up_to_the_cap():
    schedule = [retry_delay(n, 30.0, 3600.0) for n in range(1, 10)]
    assert schedule == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_money_knows_currencies_without_cents():
    assert money(1000, "usd") == "10.00 USD"
    assert money(49900, "inr") == "499.00 INR"
    assert money(500, "jpy") == "500 JPY"


# Templates


@pytest.fixture
def composer(tmp_path: Path) -> Composer:
    settings = Settings(
        state_dir=tmp_path,
        public_url="https://studio.example/",
        account_token_secret=SecretStr("unit-test-token-secret-of-32-bytes-or-more"),
        master_key=SecretStr("unit-test-master-key"),
    )
    tokens = AccountTokens("unit-test-token-secret-of-32-bytes-or-more", 7 * 86_400, 3600)
    return Composer(settings, KeyStore.in_memory("unit-test-master-key"), tokens)


def sample_data(kind: str, keys: KeyStore, owner: UUID) -> dict[str, Any]:
    """What the projection stores for each kind (the data of a real notice, enriched)."""
    keys.create_key(owner)
    invoice = keys.seal_text(owner, "https://invoice.stripe.com/i/acct_1/test_1")
    samples = {
        "welcome": {},
        "password_reset": {"password_version": 3},
        "password_changed": {},
        "receipt": {**notice(envelope("credits.Purchased", PURCHASE)).data, "invoice_url": invoice},
        "subscription_renewed": {
            **notice(envelope("credits.Purchased", {**PURCHASE, "source": "subscription"})).data,
            "settled_debt": 10,
        },
        "subscription_failed": {"amount_cents": 2500, "currency": "usd", "invoice_url": invoice},
        "credits_revoked": {"credits": 100, "taken": 40, "owed": 60, "reason": "dispute"},
        "production_completed": {"production_id": str(uuid4()), "duration_seconds": 75.2},
        "production_failed": {"production_id": str(uuid4()), "credits": 12},
        "balance_low": {"balance": 3, "threshold": 20},
    }
    assert set(samples) == set(KINDS)
    return samples[kind]


@pytest.mark.parametrize("language", EMAIL_LANGUAGES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_template_renders_in_every_language_with_every_variable(composer, kind, language):
    owner = uuid4()
    data = sample_data(kind, composer.keys, owner)
    mail = composer.compose(kind, owner, data, "asha@example.com", "Asha <Rao>", language)
    assert mail.subject and "\n" not in mail.subject
    for body in (mail.text, mail.html):
        assert "{{" not in body and "{%" not in body
    assert "Asha <Rao>" in mail.text and "Asha &lt;Rao&gt;" in mail.html  # HTML is escaped
    assert mail.html.startswith("<!DOCTYPE html>") and f'<html lang="{language}">' in mail.html
    if language == "hi":
        assert re.search("[\u0900-\u097f]", mail.subject + mail.text), "written in Devanagari"
    if KINDS[kind]:
        assert mail.unsubscribe_url is None and not mail.headers
    else:
        assert mail.unsubscribe_url and mail.unsubscribe_url in mail.text
        token = mail.unsubscribe_url.split("token=")[1]
        assert composer.tokens.read(token, "unsubscribe").user_id == owner
        assert mail.headers["List-Unsubscribe"] == f"<{mail.unsubscribe_url}>"


def test_links_carry_working_tokens_for_their_purpose(composer):
    owner = uuid4()
    welcome = composer.compose("welcome", owner, {}, "a@example.com", "A", "en")
    verify = re.search(r"https://studio\.example/verify\?token=(\S+)", welcome.text)
    assert verify, welcome.text
    assert composer.tokens.read(verify.group(1), "verify").user_id == owner
    reset = composer.compose(
        "password_reset", owner, {"password_version": 3}, "a@example.com", "A", "en"
    )
    link = re.search(r"https://studio\.example/reset-password\?token=(\S+)", reset.text)
    assert link, reset.text
    token = composer.tokens.read(link.group(1), "password-reset")
    assert (token.user_id, token.password_version) == (owner, 3)


def test_receipts_open_the_sealed_invoice_link_and_name_the_plan(composer):
    owner = uuid4()
    mail = composer.compose(
        "receipt", owner, sample_data("receipt", composer.keys, owner), "a@example.com", "A", "en"
    )
    assert "https://invoice.stripe.com/i/acct_1/test_1" in mail.text
    assert "10.00 USD" in mail.text and "100 credits" in mail.text


def test_a_revocation_mentions_owed_credits_only_when_some_are_owed(composer):
    owner = uuid4()
    owed = {"credits": 100, "taken": 40, "owed": 60, "reason": "refund"}
    settled = {**owed, "taken": 100, "owed": 0}

    def text(data: dict[str, Any]) -> str:
        return composer.compose("credits_revoked", owner, data, "a@x.io", "A", "en").text

    assert "60 of them" in text(owed)
    assert "owed" not in text(settled)


def test_a_missing_translation_or_language_falls_back_to_english(tmp_path):
    for language in ("en", "hi"):
        (tmp_path / language).mkdir()
        (tmp_path / language / "_layout.html").write_text("{% block content %}{% endblock %}")
    (tmp_path / "en" / "hello.txt").write_text("{% set subject %}Hello{% endset %}Hi {{ name }}")
    (tmp_path / "en" / "hello.html").write_text("<p>Hi {{ name }}</p>")
    templates = MailTemplates(tmp_path)
    for language in ("hi", "fr", "../en"):
        rendered = templates.render("hello", language, {"name": "Asha"})
        assert (rendered.subject, rendered.text) == ("Hello", "Hi Asha\n")
    with pytest.raises(UndefinedError):
        templates.render("hello", "en", {})
    with pytest.raises(TemplateNotFound):
        templates.render("missing", "en", {"name": "Asha"})


def test_every_kind_has_both_files_in_every_language():
    for language in EMAIL_LANGUAGES:
        for kind in KINDS:
            for extension in ("txt", "html"):
                assert (TEMPLATES / language / f"{kind}.{extension}").is_file(), (language, kind)
