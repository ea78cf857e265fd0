"""The billing command handler: checkout and portal sessions, and the payment provider's webhook
turned into credit events. The webhook is the only path by which bought credits arrive.

Every provider event is handled at most once (its id is recorded), and beneath that every fact is
idempotent on the account (a purchase once per checkout session or invoice, a revocation up to
the refunded total), so a redelivered, replayed or reordered event changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol
from uuid import UUID

from adapters.billing_index import BillingIndex
from adapters.eventstore import retry_on_conflict
from commands.handlers import Studio
from domain.billing import (
    BillingFact,
    Disputed,
    Paid,
    PaymentFailed,
    Plan,
    Refunded,
    SubscriptionChanged,
)
from domain.credits import CreditAccount, credit_account_id
from domain.errors import Conflict, NotFound

log = logging.getLogger(__name__)

LIVE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")  # not over yet


class BillingNotConfigured(Exception):
    """No payment provider is configured (503)."""


class ProviderEvent(Protocol):
    """A verified webhook event of the payment provider."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...


class PaymentGateway(Protocol):
    """What billing needs of the payment provider (adapters.stripe_gateway)."""

    def create_customer(self, user_id: UUID, email: str, name: str) -> str: ...
    def delete_customer(self, customer: str) -> None: ...
    def checkout_url(
        self, customer: str, user_id: UUID, plan: Plan, success_url: str, cancel_url: str
    ) -> tuple[str, str]: ...
    def portal_url(self, customer: str, return_url: str) -> str: ...
    def verify(self, payload: bytes, signature_header: str) -> Any: ...
    def fact(self, event: Any) -> BillingFact | None: ...  # event: what `verify` returned


class Billing:
    def __init__(self, studio: Studio, index: BillingIndex, gateway: PaymentGateway | None) -> None:
        self.studio = studio
        self.settings = studio.settings
        self.index = index
        self.gateway = gateway

    @property
    def plans(self) -> list[Plan]:
        return list(self.settings.billing_plans)

    # The creator's side

    def checkout(self, user_id: UUID, plan_id: str) -> str:
        """The URL of a hosted checkout page for `plan_id`."""
        gateway = self._gateway()
        plan = self.settings.plans.get(plan_id)
        if plan is None:
            raise NotFound(f"no such plan {plan_id!r}")
        if plan.kind == "subscription" and self._live_subscriptions(user_id):
            raise Conflict("you already have a subscription: change it in the billing portal")
        customer = self._customer(user_id, gateway)
        base = self.settings.public_url.rstrip("/")
        _, url = gateway.checkout_url(
            customer,
            user_id,
            plan,
            success_url=f"{base}/billing/done?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/billing/cancelled",
        )
        return url

    def portal(self, user_id: UUID) -> str:
        """The URL of the provider's portal, where a subscription is changed or cancelled."""
        gateway = self._gateway()
        self.studio.user(user_id)
        customer = self.index.customer_of(user_id)
        if customer is None:
            raise Conflict("you have no billing account yet: buy credits first")
        return gateway.portal_url(customer, f"{self.settings.public_url.rstrip('/')}/billing")

    def forget_customer(self, user_id: UUID) -> None:
        """Erasure step: delete the user's customer at the provider, then forget it here."""
        customer = self.index.customer_of(user_id)
        if customer is None:
            return
        if self.gateway is None:
            log.warning("no payment provider configured: customer of %s not deleted", user_id)
        else:
            self.gateway.delete_customer(customer)
        self.index.forget_customer(user_id)

    # The provider's webhook

    def receive(self, payload: bytes, signature_header: str) -> str:
        """Verify and handle one webhook delivery; returns what became of it."""
        gateway = self._gateway()
        event: ProviderEvent = gateway.verify(payload, signature_header)  # or BadSignature
        event_id, event_type = event.id, event.type
        if self.index.handled(event_id):
            return "duplicate"
        fact = gateway.fact(event)
        outcome = "ignored" if fact is None else self.apply(fact)
        self.index.record(event_id, event_type, outcome)
        return outcome

    def apply(self, fact: BillingFact) -> str:
        """Turn one fact into credit events; idempotent."""
        user_id = self._user_of(fact)
        if user_id is None:
            log.error("billing %s: no user matches it", fact.event_id)
            return "unmatched"
        self.studio.keys.bind(credit_account_id(user_id), user_id)  # seals for the user
        match fact:
            case Paid():
                return self._paid(user_id, fact)
            case Refunded() | Disputed():
                return self._revoke(user_id, fact)
            case SubscriptionChanged():
                return self._subscription(user_id, fact)
            case PaymentFailed():
                return self._payment_failed(user_id, fact)

    def _paid(self, user_id: UUID, fact: Paid) -> str:
        plan = self._plan(fact.plan_id, fact.price_id)
        credits = fact.credits or (plan.credits if plan else None)
        if not credits:
            log.error("billing %s: no plan for price %s", fact.event_id, fact.price_id)
            return "unknown-plan"
        plan_id = plan.id if plan else (fact.plan_id or "")

        def decide() -> bool:
            account = self._account(user_id)
            source = "subscription" if fact.kind == "subscription" else "purchase"
            added = account.purchase(
                fact.reference, fact.payment, credits, source, plan_id, fact.amount_cents,
                fact.currency, fact.invoice_url or "",
            )  # fmt: skip
            if fact.subscription and fact.subscription not in account.subscriptions:
                account.change_subscription(
                    fact.subscription, plan_id, "active", None
                )  # invoice first
            self.studio.store.save_all(account)
            return added

        added = retry_on_conflict(decide)
        for payment in {fact.payment, fact.invoice or "", fact.reference} - {""}:
            self.index.note_payment(payment, user_id)
            for deferred in self.index.take_deferred(payment):  # a refund that came first
                self.apply(deferred)
        return "purchased" if added else "already-purchased"

    def _revoke(self, user_id: UUID, fact: Refunded | Disputed) -> str:
        def decide() -> str:
            account = self._account(user_id)
            invoice = fact.invoice if isinstance(fact, Refunded) else None
            purchase = account.purchase_of_payment(fact.payment) or (
                invoice if invoice in account.purchases else None
            )
            if purchase is None:
                return "deferred"
            bought = int(account.purchases[purchase]["credits"])
            if isinstance(fact, Refunded):
                total = bought * fact.refunded_cents // max(fact.amount_cents, 1)
                revoked = account.revoke(purchase, total, "refund", fact.charge)
            else:
                revoked = account.revoke(purchase, bought, "dispute", fact.dispute)
            account.warn_if_low(self.settings.low_balance_credits)
            self.studio.store.save_all(account)
            return "revoked" if revoked else "already-revoked"

        outcome = retry_on_conflict(decide)
        if outcome == "deferred":
            payment = fact.payment or (fact.invoice if isinstance(fact, Refunded) else None) or ""
            self.index.defer(fact.event_id, payment, fact)
        return outcome

    def _subscription(self, user_id: UUID, fact: SubscriptionChanged) -> str:
        plan = self._plan(fact.plan_id, fact.price_id)

        def decide() -> bool:
            account = self._account(user_id)
            changed = account.change_subscription(
                fact.subscription,
                plan.id if plan else (fact.plan_id or ""),
                fact.status,
                fact.period_end,
                fact.cancel_at_period_end,
            )
            self.studio.store.save_all(account)
            return changed

        return "subscription-changed" if retry_on_conflict(decide) else "unchanged"

    def _payment_failed(self, user_id: UUID, fact: PaymentFailed) -> str:
        def decide() -> bool:
            account = self._account(user_id)
            failed = account.subscription_payment_failed(
                fact.invoice,
                fact.subscription or "",
                fact.amount_cents,
                fact.currency,
                fact.invoice_url or "",
            )
            self.studio.store.save_all(account)
            return failed

        return "payment-failed" if retry_on_conflict(decide) else "unchanged"

    # Helpers

    def _gateway(self) -> PaymentGateway:
        if self.gateway is None:
            raise BillingNotConfigured("payments are not configured on this installation")
        return self.gateway

    def _customer(self, user_id: UUID, gateway: PaymentGateway) -> str:
        """The user's customer at the provider, created once (the provider's idempotency key
        makes racing creations one)."""
        user = self.studio.user(user_id)
        existing = self.index.customer_of(user_id)
        if existing is not None:
            return existing
        keys = self.studio.keys
        created = gateway.create_customer(
            user_id,
            keys.decrypt(user_id, user.email_cipher),
            keys.decrypt(user_id, user.display_name_cipher),
        )
        customer = self.index.link_customer(user_id, created)

        def decide() -> int:
            found = self.studio.user(user_id)
            found.link_billing_customer(keys.encrypt(user_id, customer))
            return self.studio.store.save_all(found)

        retry_on_conflict(decide)
        return customer

    def _user_of(self, fact: BillingFact) -> UUID | None:
        candidates: list[UUID | None] = []
        if isinstance(fact, Refunded | Disputed) and fact.payment:
            candidates.append(self.index.user_of_payment(fact.payment))
        if isinstance(fact, Refunded) and fact.invoice:
            candidates.append(self.index.user_of_payment(fact.invoice))
        customer = getattr(fact, "customer", None)
        if customer:
            candidates.append(self.index.user_of_customer(customer))
        hint = getattr(fact, "user_hint", None)
        if hint:
            with contextlib.suppress(ValueError):
                candidates.append(UUID(hint))
        for user_id in candidates:
            if user_id is not None and self.studio.identity(user_id) is not None:
                return user_id
        return None

    def _plan(self, plan_id: str | None, price_id: str | None) -> Plan | None:
        plans = self.settings.plans
        if plan_id and plan_id in plans:
            return plans[plan_id]
        return next((p for p in plans.values() if price_id and p.price_id == price_id), None)

    def _account(self, user_id: UUID) -> CreditAccount:
        account: CreditAccount = self.studio.store.load(credit_account_id(user_id))
        return account

    def _live_subscriptions(self, user_id: UUID) -> list[str]:
        account = self.studio.store.find(credit_account_id(user_id))
        if not isinstance(account, CreditAccount):
            return []
        return [s for s, state in account.subscriptions.items() if state["status"] in LIVE]
