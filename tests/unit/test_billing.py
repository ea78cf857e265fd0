"""Bought credits: purchases once per reference, revocations that never drive the balance below
zero (the rest is owed, settled from the next purchase), subscriptions, low-balance warnings,
and the billing handler turning provider facts into those events in any order."""

from uuid import UUID

import pytest

from adapters.billing_index import InMemoryBillingIndex
from commands.billing import Billing
from domain.billing import Disputed, Paid, PaymentFailed, Refunded, SubscriptionChanged
from domain.credits import CreditAccount, credit_account_id
from domain.errors import Conflict, Invalid
from filmstudio.bootstrap import InMemoryStudio


def account_with(credits: int = 0) -> CreditAccount:
    account = CreditAccount(user_id=UUID(int=1))
    if credits:
        account.purchase("cs_1", "pi_1", credits, "purchase", "pack-100", 1000, "usd")
    return account


def names(account: CreditAccount) -> list[str]:
    return [type(e).__name__ for e in account.collect_events()]


def test_a_purchase_adds_credits_once_per_reference():
    account = account_with(100)
    assert account.purchase("cs_1", "pi_1", 100, "purchase", "pack-100", 1000, "usd") is False
    assert account.balance == 100


def test_a_purchase_is_positive_and_paid_for():
    with pytest.raises(Invalid):
        account_with().purchase("cs_2", "pi_2", 0, "purchase", "p", 0, "usd")
    with pytest.raises(Invalid):
        account_with().purchase("cs_2", "pi_2", 5, "admin", "p", 0, "usd")


def test_a_refund_after_the_credits_were_spent_leaves_zero_and_records_the_debt():
    account = account_with(100)
    account.charge(70, "script_help", "s1")
    assert account.revoke("cs_1", 100, "refund", "ch_1") == 100
    assert (account.balance, account.owed) == (0, 70)
    assert account.revoke("cs_1", 100, "refund", "ch_1") == 0  # redelivered: nothing more


def test_the_debt_is_settled_from_the_next_purchase():
    account = account_with(100)
    account.charge(70, "script_help", "s1")
    account.revoke("cs_1", 100, "refund", "ch_1")
    account.purchase("cs_2", "pi_2", 100, "purchase", "pack-100", 1000, "usd")
    assert (account.balance, account.owed) == (30, 0)


def test_partial_refunds_revoke_up_to_their_growing_total():
    account = account_with(100)
    assert account.revoke("cs_1", 25, "refund", "ch_1") == 25
    assert account.revoke("cs_1", 60, "refund", "ch_1") == 35
    assert account.revoke("cs_1", 500, "dispute", "dp_1") == 40  # never more than was bought
    assert account.balance == 0


def test_revoking_an_unknown_purchase_is_refused():
    with pytest.raises(Conflict):
        account_with(10).revoke("cs_x", 10, "refund", "ch_1")


def test_an_ended_subscription_never_comes_back():
    account = account_with()
    assert account.change_subscription("sub_1", "monthly-300", "active", 100)
    assert account.change_subscription("sub_1", "", "canceled", 100)
    assert not account.change_subscription("sub_1", "", "active", 200)  # a late "updated"
    assert account.subscriptions["sub_1"]["status"] == "canceled"
    assert account.subscriptions["sub_1"]["plan_id"] == "monthly-300"


def test_a_failed_renewal_is_recorded_once_per_invoice():
    account = account_with()
    assert account.subscription_payment_failed("in_1", "sub_1", 2500, "usd")
    assert not account.subscription_payment_failed("in_1", "sub_1", 2500, "usd")


def test_a_low_balance_is_warned_once_until_it_rises_again():
    account = account_with(30)
    account.collect_events()
    account.charge(15, "script_help", "s1")
    assert account.warn_if_low(20)
    account.charge(5, "script_help", "s2")
    assert not account.warn_if_low(20)
    account.purchase("cs_2", "pi_2", 100, "purchase", "pack-100", 1000, "usd")
    account.charge(105, "script_help", "s3")
    assert account.warn_if_low(20)
    assert names(account).count("BalanceLow") == 2


# The handler, on the in-memory studio


@pytest.fixture
def billing(memory: InMemoryStudio) -> Billing:
    return Billing(memory.studio, InMemoryBillingIndex(), gateway=None)


@pytest.fixture
def creator(memory: InMemoryStudio, billing: Billing) -> UUID:
    user_id, _ = memory.studio.register("asha@example.com", "a-long-password", "Asha")
    billing.index.link_customer(user_id, "cus_asha")
    return user_id


def paid(event: str, reference: str = "cs_1", **changes: object) -> Paid:
    fields: dict = {
        "event_id": event,
        "kind": "pack",
        "reference": reference,
        "payment": "pi_1",
        "customer": "cus_asha",
        "user_hint": None,
        "plan_id": "pack-100",
        "price_id": None,
        "credits": None,
        "amount_cents": 1000,
        "currency": "usd",
    }
    return Paid(**{**fields, **changes})


def balance(memory: InMemoryStudio, user_id: UUID) -> tuple[int, int]:
    account: CreditAccount = memory.store.load(credit_account_id(user_id))
    return account.balance, account.owed


def test_a_paid_checkout_grants_the_plan_once_whatever_the_event_id(memory, billing, creator):
    assert billing.apply(paid("evt_1")) == "purchased"
    assert billing.apply(paid("evt_2")) == "already-purchased"  # same session, new delivery
    assert balance(memory, creator) == (100, 0)


def test_a_user_is_found_by_the_hint_when_the_customer_is_unknown(memory, billing, creator):
    fact = paid("evt_1", customer="cus_other", user_hint=str(creator))
    assert billing.apply(fact) == "purchased"
    assert billing.apply(paid("evt_2", "cs_2", customer=None, user_hint="not-a-uuid")) == (
        "unmatched"
    )


def test_an_unknown_price_grants_nothing(memory, billing, creator):
    fact = paid("evt_1", plan_id=None, price_id="price_unknown")
    assert billing.apply(fact) == "unknown-plan"
    assert balance(memory, creator) == (0, 0)


def test_an_invoice_before_its_checkout_still_grants_and_starts_the_subscription(
    memory, billing, creator
):
    invoice = paid(
        "evt_1", "in_1", kind="subscription", payment="pi_9", plan_id=None,
        price_id="price_filmstudio_monthly_300", subscription="sub_1", invoice="in_1",
        invoice_url="https://invoice.example/in_1",
    )  # fmt: skip
    assert billing.apply(invoice) == "purchased"
    started = SubscriptionChanged(
        "evt_2", "sub_1", "cus_asha", None, "monthly-300", None, "active", 1_900_000_000
    )
    assert billing.apply(started) == "subscription-changed"
    account: CreditAccount = memory.store.load(credit_account_id(creator))
    assert account.balance == 300
    assert account.subscriptions["sub_1"]["period_end"] == 1_900_000_000
    second = paid("evt_3", "in_2", kind="subscription", payment="pi_10", subscription="sub_1")
    billing.apply(second)
    assert balance(memory, creator)[0] == 400


def test_a_refund_before_its_purchase_waits_for_it(memory, billing, creator):
    refund = Refunded("evt_1", "ch_1", "pi_1", None, "cus_asha", 1000, 1000)
    assert billing.apply(refund) == "deferred"
    assert billing.apply(paid("evt_2")) == "purchased"
    assert balance(memory, creator) == (0, 0)


def test_a_dispute_takes_back_the_whole_payment(memory, billing, creator):
    billing.apply(paid("evt_1"))
    memory.studio.grant_credits(creator, 5, "goodwill")
    assert billing.apply(Disputed("evt_2", "dp_1", "ch_1", "pi_1", 1000)) == "revoked"
    assert balance(memory, creator) == (5, 0)


def test_a_failed_renewal_is_recorded(memory, billing, creator):
    failed = PaymentFailed("evt_1", "in_3", "sub_1", "cus_asha", 2500, "usd", None)
    assert billing.apply(failed) == "payment-failed"
    assert billing.apply(failed) == "unchanged"


def test_erasure_forgets_the_users_customer(memory, billing, creator):
    memory.studio.outside_erasers.append(billing.forget_customer)
    billing.apply(paid("evt_1"))
    memory.studio.erase_user(creator)
    assert billing.index.customer_of(creator) is None
    assert billing.index.user_of_payment("pi_1") is None
