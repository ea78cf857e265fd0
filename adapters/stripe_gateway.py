"""Stripe: customers, Checkout and Customer Portal sessions through the ``stripe`` package, and
webhook events verified with the endpoint secret and read into ``domain.billing`` facts.

Stripe moved fields between API versions (``invoice.subscription`` to
``invoice.parent.subscription_details``, ``invoice.payment_intent`` to ``invoice.payments``, a
subscription's period to its items, a line's ``price`` to ``pricing.price_details``): the reader
looks in both places. Keys and payloads are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast, get_args
from uuid import UUID

import stripe

from domain.billing import (
    BillingFact,
    Disputed,
    Paid,
    PaymentFailed,
    Plan,
    Refunded,
    SubscriptionChanged,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

    from adapters.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_TOLERANCE_SECONDS = 300
STATUSES: frozenset[str] = frozenset(get_args(SubscriptionStatus))


class BillingUnavailable(Exception):
    """Stripe cannot be reached or failed on its side (connection, 5xx, rate limit), or billing
    is not configured here: try again later."""


class BillingRefused(Exception):
    """Stripe refused a request the caller made (a 4xx other than authentication)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class BadSignature(Exception):
    """A webhook whose ``Stripe-Signature`` is missing, malformed, wrong or stale, or whose body is
    not a Stripe event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableEvent(ValueError):
    """A verified event of a type the studio acts on that lacks what the studio needs."""


@dataclass(frozen=True)
class WebhookEvent:
    """One verified Stripe event: its envelope and ``data.object`` as plain JSON."""

    id: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    obj: dict[str, Any]  # data.object

    @classmethod
    def from_json(cls, body: object) -> WebhookEvent:
        """The event in a decoded webhook body; `UnreadableEvent` if it is not a Stripe event."""
        if not isinstance(body, dict) or body.get("object") != "event":
            raise UnreadableEvent("not a Stripe event")
        data = body.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        event_id, kind = body.get("id"), body.get("type")
        if not (isinstance(event_id, str) and event_id and isinstance(kind, str) and kind):
            raise UnreadableEvent("a Stripe event without id or type")
        if not isinstance(obj, dict):
            raise UnreadableEvent(f"event {event_id} has no data.object")
        created = body.get("created")
        version = body.get("api_version")
        return cls(
            id=event_id,
            type=kind,
            created=created if isinstance(created, int) else 0,
            api_version=version if isinstance(version, str) else None,
            livemode=body.get("livemode") is True,
            obj=obj,
        )


class StripeGateway:
    """Everything the studio asks of Stripe. Without an API key every API call raises
    `BillingUnavailable`; without a webhook secret so does `verify`."""

    def __init__(
        self,
        api_key: str | None,
        webhook_secret: str | None,
        api_base: str | None = None,
        *,
        timeout_seconds: float = 30.0,
        max_network_retries: int = 2,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        self._webhook_secret = webhook_secret or None
        self._client: stripe.StripeClient | None = None
        if api_key:
            self._client = stripe.StripeClient(
                api_key,
                base_addresses={"api": api_base.rstrip("/")} if api_base else None,
                max_network_retries=max_network_retries,
                http_client=http_client or stripe.RequestsClient(timeout=timeout_seconds),
            )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> StripeGateway:
        """The gateway this installation's settings describe."""
        key, secret = settings.stripe_api_key, settings.stripe_webhook_secret
        return cls(
            key.get_secret_value() if key else None,
            secret.get_secret_value() if secret else None,
            settings.stripe_api_base,
            **options,
        )

    @property
    def configured(self) -> bool:
        """Whether API calls can be made (an API key is set)."""
        return self._client is not None

    # -- API calls ---------------------------------------------------------------------------

    def create_customer(self, user_id: UUID, email: str, name: str) -> str:
        """The id of the user's Stripe customer; the same one however often this is called
        within Stripe's idempotency window (24 h)."""
        with self._calling("create a customer") as client:
            customer = client.v1.customers.create(
                {"email": email, "name": name, "metadata": {"user_id": str(user_id)}},
                {"idempotency_key": f"filmstudio-customer-{user_id}"},
            )
        return customer.id

    def delete_customer(self, customer: str) -> None:
        """Delete the customer; one Stripe no longer has counts as deleted."""
        if not customer:
            raise ValueError("no customer id")
        try:
            with self._calling("delete a customer") as client:
                client.v1.customers.delete(customer)
        except BillingRefused as refused:
            if refused.status != 404:
                raise

    def checkout_url(
        self, customer: str, user_id: UUID, plan: Plan, success_url: str, cancel_url: str
    ) -> tuple[str, str]:
        """A Checkout Session buying `plan`: (session id, the URL to send the creator to).

        Our metadata (user, plan, credits) goes on the session and on the payment intent or the
        subscription it creates, so every later event about this purchase carries it."""
        metadata = {"user_id": str(user_id), "plan_id": plan.id, "credits": str(plan.credits)}
        params: SessionCreateParams = {
            "customer": customer,
            "client_reference_id": str(user_id),
            "line_items": [{"price": plan.price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
        }
        if plan.kind == "pack":
            params["mode"] = "payment"
            params["payment_intent_data"] = {"metadata": metadata}
            params["invoice_creation"] = {"enabled": True, "invoice_data": {"metadata": metadata}}
        else:
            params["mode"] = "subscription"
            params["subscription_data"] = {"metadata": metadata}
        with self._calling("create a checkout session") as client:
            session = client.v1.checkout.sessions.create(params)
        if not session.url:
            raise BillingUnavailable("Stripe answered a checkout session without a URL")
        return session.id, session.url

    def portal_url(self, customer: str, return_url: str) -> str:
        """A Customer Portal session's URL, where the creator manages their subscription."""
        with self._calling("create a portal session") as client:
            session = client.v1.billing_portal.sessions.create(
                {"customer": customer, "return_url": return_url}
            )
        return session.url

    def payment_of_invoice(self, invoice: str) -> str:
        """The payment intent (else the charge) that paid an invoice; "" if Stripe names none."""
        with self._calling("find an invoice's payment") as client:
            payments = client.v1.invoice_payments.list({"invoice": invoice, "status": "paid"})
        return _invoice_payment({"payments": {"data": [p.to_dict() for p in payments.data]}})

    @contextmanager
    def _calling(self, what: str) -> Iterator[stripe.StripeClient]:
        """The client, with Stripe's errors translated (`provider_errors`)."""
        if self._client is None:
            raise BillingUnavailable("billing is not configured (no Stripe API key)")
        with provider_errors(what):
            yield self._client

    # -- webhooks ----------------------------------------------------------------------------

    def verify(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """The event in a webhook body whose ``Stripe-Signature`` header is valid and at most
        five minutes old; `BadSignature` otherwise."""
        if not self._webhook_secret:
            raise BillingUnavailable("webhooks are not configured (no Stripe webhook secret)")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise BadSignature("the body is not UTF-8") from None
        try:
            stripe.WebhookSignature.verify_header(
                text, signature_header, self._webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            raise BadSignature(_reason(error)) from None
        try:
            return WebhookEvent.from_json(json.loads(text))
        except (ValueError, UnreadableEvent):
            raise BadSignature("the body is not a Stripe event") from None

    def fact(self, event: WebhookEvent) -> BillingFact | None:
        """What a verified event tells the studio; None for events it does not act on.

        An invoice event of API versions since 2025-03-31 does not name its payment, which a
        later refund or dispute names: then it is asked of Stripe (`payment_of_invoice`)."""
        reader = READERS.get(event.type)
        fact = reader(event) if reader else None
        if isinstance(fact, Paid) and fact.invoice and not fact.payment and self.configured:
            return replace(fact, payment=self.payment_of_invoice(fact.invoice))
        return fact


@contextmanager
def provider_errors(what: str) -> Iterator[None]:
    """Stripe's errors as `BillingUnavailable` (theirs, the network's, or the studio's
    credentials) or `BillingRefused` (the request's own: a 4xx)."""
    try:
        yield
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log.error("Stripe refused our credentials to %s: %s", what, type(error).__name__)
        raise BillingUnavailable(f"Stripe refused the studio's credentials ({what})") from None
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        log.warning("Stripe unavailable to %s: %s", what, type(error).__name__)
        raise BillingUnavailable(f"Stripe is unavailable ({what})") from None
    except stripe.StripeError as error:
        status = error.http_status
        if status is None or status >= 500:
            log.warning("Stripe failed to %s: HTTP %s", what, status)
            raise BillingUnavailable(f"Stripe failed ({what}): HTTP {status}") from None
        message = error.user_message or _message(error) or f"HTTP {status}"
        raise BillingRefused(message, status, error.code) from None


def _message(error: stripe.StripeError) -> str:
    body = error.json_body
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else None
    return message if isinstance(message, str) else ""


def _reason(error: stripe.SignatureVerificationError) -> str:
    text = str(error)
    if "No Stripe-Signature header" in text:
        return "no Stripe-Signature header"
    if "Timestamp outside the tolerance zone" in text:
        return "the signature is too old"
    if "Unable to extract" in text or "expected scheme" in text:
        return "a malformed Stripe-Signature header"
    return "the signature does not match"


# -- reading events into facts ------------------------------------------------------------


def _id(value: object) -> str | None:
    """An id, whether the field holds it or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return _id(value.get("id"))
    return None


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _path(obj: Mapping[str, Any], *keys: str) -> Any:
    value: Any = obj
    for key in keys:
        value = _dict(value).get(key)
    return value


def _first(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The first item of a list field (``{"data": [...]}``)."""
    items = _dict(obj.get(key)).get("data")
    return _dict(items[0]) if isinstance(items, list) and items else {}


def _metadata(*sources: object) -> dict[str, str]:
    """String metadata merged from several objects, later ones winning."""
    merged: dict[str, str] = {}
    for source in sources:
        merged.update({k: v for k, v in _dict(source).items() if isinstance(v, str) and v})
    return merged


def _credits(metadata: Mapping[str, str]) -> int | None:
    value = metadata.get("credits", "")
    return int(value) if value.isdigit() else None


def _required_str(event: WebhookEvent, *keys: str) -> str:
    value = _id(_path(event.obj, *keys))
    if value is None:
        raise UnreadableEvent(f"{event.type} {event.id} lacks {'.'.join(keys)}")
    return value


def _required_int(event: WebhookEvent, key: str) -> int:
    value = event.obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnreadableEvent(f"{event.type} {event.id} lacks {key}")
    return value


def _checkout_completed(event: WebhookEvent) -> BillingFact | None:
    session = event.obj
    mode = session.get("mode")
    metadata = _metadata(session.get("metadata"))
    user_hint = _id(session.get("client_reference_id")) or metadata.get("user_id")
    if mode == "subscription":
        return SubscriptionChanged(
            event_id=event.id,
            subscription=_required_str(event, "subscription"),
            customer=_id(session.get("customer")),
            user_hint=user_hint,
            plan_id=metadata.get("plan_id"),
            price_id=None,
            status="active",
            period_end=None,
        )
    if mode != "payment":
        return None
    if event.type == "checkout.session.completed" and session.get("payment_status") != "paid":
        return None  # an asynchronous payment method: async_payment_succeeded follows
    return Paid(
        event_id=event.id,
        kind="pack",
        reference=_required_str(event, "id"),
        payment=_id(session.get("payment_intent")) or "",
        customer=_id(session.get("customer")),
        user_hint=user_hint,
        plan_id=metadata.get("plan_id"),
        price_id=None,
        credits=_credits(metadata),
        amount_cents=_required_int(event, "amount_total"),
        currency=_required_str(event, "currency"),
        invoice=_id(session.get("invoice")),
    )


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    line = _first(invoice, "lines")
    return (
        _id(_path(invoice, "parent", "subscription_details", "subscription"))
        or _id(invoice.get("subscription"))
        or _id(_path(line, "parent", "subscription_item_details", "subscription"))
        or _id(line.get("subscription"))
    )


def _invoice_payment(invoice: Mapping[str, Any]) -> str:
    """The payment intent (else the charge) that paid the invoice; "" if the event lacks it."""
    direct = _id(invoice.get("payment_intent")) or _id(invoice.get("charge"))
    if direct:
        return direct
    payments = _dict(invoice.get("payments")).get("data")
    for item in payments if isinstance(payments, list) else []:
        payment = _dict(_dict(item).get("payment"))
        found = _id(payment.get("payment_intent")) or _id(payment.get("charge"))
        if found:
            return found
    return ""


def _invoice_paid(event: WebhookEvent) -> BillingFact | None:
    invoice = event.obj
    subscription = _invoice_subscription(invoice)
    amount = _required_int(event, "amount_paid")
    if subscription is None or amount <= 0:
        return None  # a pack's receipt invoice (its checkout brings the credits) or a free one
    line = _first(invoice, "lines")
    metadata = _metadata(
        line.get("metadata"),
        _path(invoice, "subscription_details", "metadata"),
        _path(invoice, "parent", "subscription_details", "metadata"),
    )
    price = (
        _id(_path(line, "pricing", "price_details", "price"))
        or _id(line.get("price"))
        or _id(line.get("plan"))
    )
    invoice_id = _required_str(event, "id")
    return Paid(
        event_id=event.id,
        kind="subscription",
        reference=invoice_id,
        payment=_invoice_payment(invoice),
        customer=_id(invoice.get("customer")),
        user_hint=metadata.get("user_id"),
        plan_id=metadata.get("plan_id"),
        price_id=price,
        credits=_credits(metadata),
        amount_cents=amount,
        currency=_required_str(event, "currency"),
        subscription=subscription,
        invoice=invoice_id,
        invoice_url=_id(invoice.get("hosted_invoice_url")),
    )


def _invoice_failed(event: WebhookEvent) -> BillingFact:
    invoice = event.obj
    return PaymentFailed(
        event_id=event.id,
        invoice=_required_str(event, "id"),
        subscription=_invoice_subscription(invoice),
        customer=_id(invoice.get("customer")),
        amount_cents=_required_int(event, "amount_due"),
        currency=_required_str(event, "currency"),
        invoice_url=_id(invoice.get("hosted_invoice_url")),
    )


def _subscription_changed(event: WebhookEvent) -> BillingFact:
    subscription = event.obj
    status = "canceled" if event.type.endswith(".deleted") else subscription.get("status")
    if status not in STATUSES:
        raise UnreadableEvent(f"{event.type} {event.id} has an unknown status {status!r}")
    status = cast(SubscriptionStatus, status)
    item = _first(subscription, "items")
    period_end = item.get("current_period_end") or subscription.get("current_period_end")
    metadata = _metadata(subscription.get("metadata"))
    return SubscriptionChanged(
        event_id=event.id,
        subscription=_required_str(event, "id"),
        customer=_id(subscription.get("customer")),
        user_hint=metadata.get("user_id"),
        plan_id=metadata.get("plan_id"),
        price_id=_id(item.get("price")) or _id(item.get("plan")),
        status=status,
        period_end=period_end if isinstance(period_end, int) else None,
        cancel_at_period_end=subscription.get("cancel_at_period_end") is True,
    )


def _charge_refunded(event: WebhookEvent) -> BillingFact:
    charge = event.obj
    return Refunded(
        event_id=event.id,
        charge=_required_str(event, "id"),
        payment=_id(charge.get("payment_intent")) or "",
        invoice=_id(charge.get("invoice")),
        customer=_id(charge.get("customer")),
        amount_cents=_required_int(event, "amount"),
        refunded_cents=_required_int(event, "amount_refunded"),
    )


def _dispute_created(event: WebhookEvent) -> BillingFact:
    dispute = event.obj
    return Disputed(
        event_id=event.id,
        dispute=_required_str(event, "id"),
        charge=_required_str(event, "charge"),
        payment=_id(dispute.get("payment_intent")) or "",
        amount_cents=_required_int(event, "amount"),
    )


READERS: dict[str, Callable[[WebhookEvent], BillingFact | None]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}
