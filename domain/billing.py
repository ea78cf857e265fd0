"""What the studio sells (plans) and what a payment provider tells it (billing facts).

The facts are the provider-neutral vocabulary between the payment adapter, which reads them off a
verified webhook event, and the billing command handler, which turns them into credit events.
Money is in the currency's smallest unit (cents); `customer` is the provider's customer id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlanKind = Literal["pack", "subscription"]
SubscriptionStatus = Literal[
    "active", "trialing", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired",
    "paused",
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A credit pack (paid once) or a subscription (credits every period) at one price."""

    id: str  # ours, stable: "pack-100", "monthly-300"
    name: str
    kind: PlanKind
    credits: int
    price_id: str  # the provider's price
    amount_cents: int  # shown to the creator; the provider's price is what is charged
    currency: str = "usd"
    interval: str | None = None  # "month" or "year" for a subscription


@dataclass(frozen=True)
class Paid:
    """Money received for credits: a pack's checkout (`reference` = the checkout session) or a
    subscription's invoice (`reference` = the invoice), once per reference."""

    event_id: str
    kind: PlanKind
    reference: str
    payment: str  # the payment (intent) or charge a refund or dispute will name; "" if none
    customer: str | None
    user_hint: str | None  # the user id we attached (client_reference_id or metadata)
    plan_id: str | None  # from our metadata
    price_id: str | None  # from the line items
    credits: int | None  # from our metadata; else the plan's
    amount_cents: int
    currency: str
    subscription: str | None = None
    invoice: str | None = None
    invoice_url: str | None = None


@dataclass(frozen=True)
class SubscriptionChanged:
    """A subscription started, changed status or ended (`status` "canceled")."""

    event_id: str
    subscription: str
    customer: str | None
    user_hint: str | None
    plan_id: str | None
    price_id: str | None
    status: SubscriptionStatus
    period_end: int | None  # unix seconds
    cancel_at_period_end: bool = False


@dataclass(frozen=True)
class PaymentFailed:
    """A subscription's invoice could not be paid (the provider retries on its own schedule)."""

    event_id: str
    invoice: str
    subscription: str | None
    customer: str | None
    amount_cents: int
    currency: str
    invoice_url: str | None


@dataclass(frozen=True)
class Refunded:
    """Money given back: `refunded_cents` is the charge's total refunded so far (cumulative)."""

    event_id: str
    charge: str
    payment: str  # the payment intent, "" if none
    invoice: str | None
    customer: str | None
    amount_cents: int  # the charge's amount
    refunded_cents: int


@dataclass(frozen=True)
class Disputed:
    """A chargeback was opened: the whole payment's credits are taken back."""

    event_id: str
    dispute: str
    charge: str
    payment: str
    amount_cents: int


BillingFact = Paid | SubscriptionChanged | PaymentFailed | Refunded | Disputed
