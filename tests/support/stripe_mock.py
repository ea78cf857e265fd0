"""Stripe in the tests: Stripe's own stripe-mock for API calls (built by
``deploy/local/stripe-mock.sh``), webhook bodies signed with Stripe's real scheme, and builders
of the webhook events Stripe sends, in the shapes of the ``stripe`` package's API version (or,
with ``legacy=True``, of an account pinned to an API version before 2025-03-31 "basil").

stripe-mock keeps no state (every create answers a fresh object) and sends no webhooks.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "deploy" / "local" / "stripe-mock.sh"
BINARY = ROOT / ".build" / "bin" / "stripe-mock"
API_VERSION: str = stripe.api_version
LEGACY_API_VERSION = "2024-06-20"
TEST_KEY = "sk_test_filmstudio"  # stripe-mock accepts any test-mode-looking key
START_SECONDS = 60.0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_stripe_mock() -> Iterator[str]:
    """A stripe-mock on free loopback ports (built first if needed); yields its HTTP base URL."""
    build = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed: {build.stderr.strip()[-2000:]}")
    http_port, https_port = free_port(), free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(BINARY), "-http-addr", f"127.0.0.1:{http_port}",
             "-https-addr", f"127.0.0.1:{https_port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(http_port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"stripe-mock did not start on {http_port}: {output}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{http_port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    """The HTTP base URL of a stripe-mock running for this test session."""
    with running_stripe_mock() as base_url:
        yield base_url


# -- webhooks -------------------------------------------------------------------------------


def signed(payload: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """A webhook body as Stripe sends it and its ``Stripe-Signature`` header."""
    body = json.dumps(payload, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), header


def new_id(prefix: str) -> str:
    """A Stripe-looking object id: ``cs_test_…``, ``in_…``, ``evt_…``."""
    return f"{prefix}_{secrets.token_hex(12)}"


def event(
    kind: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    api_version: str = API_VERSION,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe event envelope (a snapshot event) around `obj`."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created if created is not None else int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": new_id("req"), "idempotency_key": secrets.token_hex(16)},
        "type": kind,
    }


def our_metadata(user_id: object, plan_id: str, credits: int) -> dict[str, str]:
    """The metadata the gateway puts on sessions, payment intents and subscriptions."""
    return {"user_id": str(user_id), "plan_id": plan_id, "credits": str(credits)}


def price(price_id: str, amount: int, interval: str | None = None) -> dict[str, Any]:
    """A Price object."""
    recurring = None
    if interval:
        recurring = {"interval": interval, "interval_count": 1, "usage_type": "licensed",
                     "meter": None, "trial_period_days": None}  # fmt: skip
    return {
        "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit",
        "created": int(time.time()) - 86400, "currency": "usd", "livemode": False,
        "lookup_key": None, "metadata": {}, "nickname": None, "product": "prod_filmstudio",
        "recurring": recurring, "tax_behavior": "unspecified", "tiers_mode": None,
        "transform_quantity": None, "type": "recurring" if interval else "one_time",
        "unit_amount": amount, "unit_amount_decimal": str(amount),
    }  # fmt: skip


def checkout_completed(
    user_id: object,
    plan_id: str,
    credits: int,
    *,
    mode: str = "payment",
    session_id: str | None = None,
    customer: str = "cus_filmstudio",
    payment_intent: str | None = None,
    subscription: str | None = None,
    invoice: str | None = None,
    amount_total: int = 1000,
    currency: str = "usd",
    payment_status: str = "paid",
    kind: str = "checkout.session.completed",
    event_id: str | None = None,
) -> dict[str, Any]:
    """``checkout.session.completed`` (or ``kind``, e.g. ``…async_payment_succeeded``) of a
    session the gateway created: a pack (mode "payment") or a subscription."""
    now = int(time.time())
    metadata = our_metadata(user_id, plan_id, credits)
    if mode == "payment":
        payment_intent = payment_intent or new_id("pi")
        invoice = invoice or new_id("in")
    else:
        subscription = subscription or new_id("sub")
        invoice = invoice or new_id("in")
    session: dict[str, Any] = {
        "id": session_id or new_id("cs_test"), "object": "checkout.session",
        "adaptive_pricing": {"enabled": False}, "after_expiration": None,
        "allow_promotion_codes": None, "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None, "cancel_url": "http://127.0.0.1:8000/billing",
        "client_reference_id": str(user_id), "client_secret": None, "collected_information": None,
        "consent": None, "consent_collection": None, "created": now - 60, "currency": currency,
        "currency_conversion": None, "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": customer, "customer_creation": None,
        "customer_details": {"address": None, "email": "creator@example.com",
                             "name": "A Creator", "phone": None, "tax_exempt": "none",
                             "tax_ids": []},
        "customer_email": None, "discounts": [], "expires_at": now + 86340,
        "invoice": invoice,
        "invoice_creation": {"enabled": mode == "payment",
                             "invoice_data": {"account_tax_ids": None, "custom_fields": None,
                                              "description": None, "footer": None,
                                              "issuer": None, "metadata": metadata,
                                              "rendering_options": None}},
        "livemode": False, "locale": None, "metadata": metadata, "mode": mode,
        "payment_intent": payment_intent if mode == "payment" else None,
        "payment_link": None, "payment_method_collection": "always",
        "payment_method_configuration_details": None, "payment_method_options": {"card": {}},
        "payment_method_types": ["card"], "payment_status": payment_status,
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "saved_payment_method_options": None, "setup_intent": None,
        "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
        "status": "complete", "submit_type": None,
        "subscription": subscription if mode == "subscription" else None,
        "success_url": "http://127.0.0.1:8000/billing?session={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted", "url": None, "wallet_options": None,
    }  # fmt: skip
    return event(kind, session, event_id=event_id)


def _invoice(
    user_id: object,
    plan_id: str,
    credits: int,
    *,
    subscription: str | None,
    price_id: str,
    invoice_id: str | None,
    customer: str,
    amount: int,
    paid: bool,
    currency: str,
    payment_intent: str | None,
    legacy: bool,
) -> dict[str, Any]:
    now = int(time.time())
    metadata = our_metadata(user_id, plan_id, credits)
    invoice_id = invoice_id or new_id("in")
    subscription_item = new_id("si")
    the_price = price(price_id, amount, "month")
    line: dict[str, Any] = {
        "id": new_id("il"), "object": "line_item", "amount": amount, "currency": currency,
        "description": f"1 × {credits} credits (at ${amount / 100:.2f} / month)",
        "discount_amounts": [], "discountable": True, "discounts": [], "invoice": invoice_id,
        "livemode": False, "metadata": metadata if legacy else {},
        "period": {"end": now + 30 * 86400, "start": now}, "quantity": 1,
    }  # fmt: skip
    invoice: dict[str, Any] = {
        "id": invoice_id, "object": "invoice", "account_country": "US",
        "account_name": "AI Film Studio", "account_tax_ids": None, "amount_due": amount,
        "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount,
        "amount_shipping": 0, "application": None, "attempt_count": 1, "attempted": True,
        "auto_advance": not paid, "automatic_tax": {"enabled": False, "liability": None,
                                                    "provider": None, "status": None},
        "billing_reason": "subscription_cycle" if subscription else "manual",
        "collection_method": "charge_automatically", "created": now, "currency": currency,
        "custom_fields": None, "customer": customer, "customer_address": None,
        "customer_email": "creator@example.com", "customer_name": "A Creator",
        "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none",
        "customer_tax_ids": [], "default_payment_method": None, "default_source": None,
        "default_tax_rates": [], "description": None, "discounts": [], "due_date": None,
        "ending_balance": 0, "footer": None, "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test/{invoice_id}/pdf",
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
        "livemode": False, "metadata": {}, "next_payment_attempt": None if paid else now + 86400,
        "number": f"FILM-{secrets.randbelow(10000):04d}", "on_behalf_of": None,
        "period_end": now, "period_start": now - 30 * 86400,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": None, "shipping_cost": None, "shipping_details": None,
        "starting_balance": 0, "statement_descriptor": None,
        "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": now, "marked_uncollectible_at": None,
                               "paid_at": now if paid else None, "voided_at": None},
        "subtotal": amount, "subtotal_excluding_tax": amount, "test_clock": None,
        "total": amount, "total_discount_amounts": [], "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": now,
    }  # fmt: skip
    if legacy:
        payment_intent = payment_intent or (new_id("pi") if paid else None)
        line.update({
            "type": "subscription" if subscription else "invoiceitem",
            "subscription": subscription, "subscription_item": subscription_item,
            "price": the_price, "plan": None, "proration": False, "proration_details": {
                "credited_items": None}, "tax_amounts": [], "tax_rates": [],
        })  # fmt: skip
        invoice.update({
            "subscription": subscription, "payment_intent": payment_intent,
            "charge": new_id("ch") if paid else None, "paid": paid,
            "subscription_details": {"metadata": metadata if subscription else None},
        })  # fmt: skip
    else:
        line.update({
            "parent": {
                "type": "subscription_item_details" if subscription else "invoice_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None, "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": subscription, "subscription_item": subscription_item,
                } if subscription else None,
            },
            "pretax_credit_amounts": [],
            "pricing": {"type": "price_details", "unit_amount_decimal": str(amount),
                        "price_details": {"price": price_id, "product": "prod_filmstudio"}},
            "taxes": [],
        })  # fmt: skip
        invoice["parent"] = {
            "type": "subscription_details", "quote_details": None,
            "subscription_details": {"metadata": metadata, "subscription": subscription},
        } if subscription else None  # fmt: skip
        if payment_intent:  # present when the endpoint asked for `payments` to be included
            invoice["payments"] = {
                "object": "list", "has_more": False, "url": "/v1/invoice_payments",
                "data": [{
                    "id": new_id("inpay"), "object": "invoice_payment", "amount_paid": amount,
                    "amount_requested": amount, "created": now, "currency": currency,
                    "invoice": invoice_id, "is_default": True, "livemode": False,
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                    "status": "paid",
                    "status_transitions": {"canceled_at": None, "paid_at": now},
                }],
            }  # fmt: skip
    invoice["lines"] = {
        "object": "list", "data": [line], "has_more": False, "total_count": 1,
        "url": f"/v1/invoices/{invoice_id}/lines",
    }  # fmt: skip
    return invoice


def invoice_paid(
    user_id: object,
    plan_id: str,
    credits: int,
    *,
    subscription: str | None = None,
    price_id: str = "price_filmstudio_monthly_300",
    invoice_id: str | None = None,
    customer: str = "cus_filmstudio",
    amount_paid: int = 2500,
    currency: str = "usd",
    payment_intent: str | None = None,
    legacy: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``invoice.paid`` for one period of a subscription (``subscription=None``: an invoice
    outside any subscription, like a pack's receipt)."""
    invoice = _invoice(
        user_id, plan_id, credits, subscription=subscription, price_id=price_id,
        invoice_id=invoice_id, customer=customer, amount=amount_paid, paid=True,
        currency=currency, payment_intent=payment_intent, legacy=legacy,
    )  # fmt: skip
    return event("invoice.paid", invoice, event_id=event_id, api_version=_version(legacy))


def invoice_payment_failed(
    user_id: object,
    plan_id: str,
    credits: int,
    *,
    subscription: str | None = None,
    price_id: str = "price_filmstudio_monthly_300",
    invoice_id: str | None = None,
    customer: str = "cus_filmstudio",
    amount_due: int = 2500,
    currency: str = "usd",
    legacy: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``invoice.payment_failed`` for a subscription's period."""
    invoice = _invoice(
        user_id, plan_id, credits, subscription=subscription or new_id("sub"),
        price_id=price_id, invoice_id=invoice_id, customer=customer, amount=amount_due,
        paid=False, currency=currency, payment_intent=None, legacy=legacy,
    )  # fmt: skip
    return event("invoice.payment_failed", invoice, event_id=event_id, api_version=_version(legacy))


def subscription_event(
    user_id: object,
    plan_id: str,
    credits: int,
    *,
    kind: str = "updated",
    subscription_id: str | None = None,
    status: str = "active",
    customer: str = "cus_filmstudio",
    price_id: str = "price_filmstudio_monthly_300",
    amount: int = 2500,
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    legacy: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``customer.subscription.<kind>`` (created, updated, deleted) of a subscription the
    gateway's checkout created."""
    now = int(time.time())
    period_end = period_end or now + 30 * 86400
    subscription_id = subscription_id or new_id("sub")
    item: dict[str, Any] = {
        "id": new_id("si"), "object": "subscription_item", "billing_thresholds": None,
        "created": now - 86400, "discounts": [], "metadata": {},
        "price": price(price_id, amount, "month"), "quantity": 1,
        "subscription": subscription_id, "tax_rates": [],
    }  # fmt: skip
    subscription: dict[str, Any] = {
        "id": subscription_id, "object": "subscription", "application": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_end - 30 * 86400, "cancel_at": None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": now if kind == "deleted" else None,
        "cancellation_details": {"comment": None, "feedback": None,
                                 "reason": "cancellation_requested" if kind == "deleted"
                                 else None},
        "collection_method": "charge_automatically", "created": now - 86400,
        "currency": "usd", "customer": customer, "days_until_due": None,
        "default_payment_method": new_id("pm"), "default_source": None, "description": None,
        "discounts": [], "ended_at": now if kind == "deleted" else None,
        "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                  "url": f"/v1/subscription_items?subscription={subscription_id}"},
        "latest_invoice": new_id("in"), "livemode": False,
        "metadata": our_metadata(user_id, plan_id, credits), "pause_collection": None,
        "start_date": now - 86400, "status": "canceled" if kind == "deleted" else status,
        "test_clock": None, "trial_end": None, "trial_start": None,
    }  # fmt: skip
    period = {"current_period_start": period_end - 30 * 86400, "current_period_end": period_end}
    if legacy:
        subscription.update(period)
        item["plan"] = {"id": price_id, "object": "plan", "amount": amount, "interval": "month"}
    else:
        item.update(period)
    return event(
        f"customer.subscription.{kind}", subscription, event_id=event_id,
        api_version=_version(legacy),
    )  # fmt: skip


def charge_refunded(
    *,
    payment_intent: str,
    amount: int = 1000,
    amount_refunded: int | None = None,
    charge_id: str | None = None,
    customer: str = "cus_filmstudio",
    invoice: str | None = None,
    legacy: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``charge.refunded`` of the charge of `payment_intent` (wholly refunded unless
    `amount_refunded` says less; it is cumulative, as Stripe reports it)."""
    now = int(time.time())
    refunded = amount if amount_refunded is None else amount_refunded
    charge: dict[str, Any] = {
        "id": charge_id or new_id("ch"), "object": "charge", "amount": amount,
        "amount_captured": amount, "amount_refunded": refunded, "application": None,
        "application_fee": None, "application_fee_amount": None,
        "balance_transaction": new_id("txn"),
        "billing_details": {"address": None, "email": "creator@example.com",
                            "name": "A Creator", "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "FILMSTUDIO", "captured": True, "created": now - 3600,
        "currency": "usd", "customer": customer, "description": None, "disputed": False,
        "failure_balance_transaction": None, "failure_code": None, "failure_message": None,
        "fraud_details": {}, "livemode": False, "metadata": {}, "on_behalf_of": None,
        "outcome": {"network_status": "approved_by_network", "reason": None,
                    "risk_level": "normal", "seller_message": "Payment complete.",
                    "type": "authorized"},
        "paid": True, "payment_intent": payment_intent, "payment_method": new_id("pm"),
        "receipt_email": None, "receipt_number": None,
        "receipt_url": "https://pay.stripe.com/receipts/payment/test",
        "refunded": refunded == amount, "review": None, "shipping": None, "source": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "succeeded", "transfer_data": None, "transfer_group": None,
    }  # fmt: skip
    if legacy:
        charge["invoice"] = invoice
    return event("charge.refunded", charge, event_id=event_id, api_version=_version(legacy))


def dispute_created(
    *,
    payment_intent: str,
    amount: int = 1000,
    charge: str | None = None,
    dispute_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``charge.dispute.created``: a chargeback opened on the charge of `payment_intent`."""
    now = int(time.time())
    dispute = {
        "id": dispute_id or new_id("du"), "object": "dispute", "amount": amount,
        "balance_transactions": [], "charge": charge or new_id("ch"), "created": now,
        "currency": "usd", "enhanced_eligibility_types": [],
        "evidence": {"customer_email_address": None, "customer_name": None,
                     "product_description": None, "uncategorized_text": None},
        "evidence_details": {"due_by": now + 7 * 86400, "enhanced_eligibility": {},
                             "has_evidence": False, "past_due": False, "submission_count": 0},
        "is_charge_refundable": False, "livemode": False, "metadata": {},
        "payment_intent": payment_intent,
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": "fraudulent", "status": "needs_response",
    }  # fmt: skip
    return event("charge.dispute.created", dispute, event_id=event_id)


def _version(legacy: bool) -> str:
    return LEGACY_API_VERSION if legacy else API_VERSION
