"""The Stripe adapter without Stripe: webhook signatures and every event type the studio acts on,
in the current API version's shapes and in the shapes before 2025-03-31 ("legacy")."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
import stripe
from pydantic import SecretStr

from adapters.settings import Settings
from adapters.stripe_gateway import (
    BadSignature,
    BillingRefused,
    BillingUnavailable,
    StripeGateway,
    UnreadableEvent,
    WebhookEvent,
    provider_errors,
)
from domain.billing import (
    Disputed,
    Paid,
    PaymentFailed,
    Refunded,
    SubscriptionChanged,
    SubscriptionStatus,
)
from tests.support import stripe_mock as sm

SECRET = "whsec_unit_test_secret"
USER = uuid4()


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway(None, SECRET)


def read(gateway: StripeGateway, payload: dict[str, Any]) -> Any:
    """Sign, verify and read one event, as the webhook route does."""
    body, header = sm.signed(payload, SECRET)
    return gateway.fact(gateway.verify(body, header))


# -- signatures -----------------------------------------------------------------------------


def test_a_signed_event_is_verified(gateway: StripeGateway) -> None:
    payload = sm.checkout_completed(USER, "pack-100", 100)
    body, header = sm.signed(payload, SECRET)
    event = gateway.verify(body, header)
    assert (event.id, event.type) == (payload["id"], "checkout.session.completed")
    assert event.obj["id"] == payload["data"]["object"]["id"]
    assert event.api_version == sm.API_VERSION


def test_a_signature_within_the_tolerance_is_accepted(gateway: StripeGateway) -> None:
    body, header = sm.signed(
        sm.dispute_created(payment_intent="pi_1"), SECRET, int(time.time()) - 240
    )
    assert gateway.verify(body, header).type == "charge.dispute.created"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda body, header: (body, ""), "no Stripe-Signature header"),
        (lambda body, header: (body, "garbage"), "malformed"),
        (lambda body, header: (body, "t=1,v0=abc"), "malformed"),
        (lambda body, header: (body, header.replace("v1=", "v1=0")), "does not match"),
        (lambda body, header: (body.replace(b"pack-100", b"pack-500"), header), "does not match"),
        (lambda body, header: (body, sm.signed({"x": 1}, "whsec_other")[1]), "does not match"),
    ],
    ids=["missing", "garbage", "no-v1", "wrong-signature", "altered-body", "other-secret"],
)
def test_a_bad_signature_is_refused(gateway: StripeGateway, tamper: Any, reason: str) -> None:
    body, header = sm.signed(sm.checkout_completed(USER, "pack-100", 100), SECRET)
    body, header = tamper(body, header)
    with pytest.raises(BadSignature) as refused:
        gateway.verify(body, header)
    assert reason in refused.value.reason


def test_a_stale_signature_is_refused(gateway: StripeGateway) -> None:
    stale = int(time.time()) - 301 - 60
    body, header = sm.signed(sm.checkout_completed(USER, "pack-100", 100), SECRET, stale)
    with pytest.raises(BadSignature, match="too old"):
        gateway.verify(body, header)


def test_a_wrong_secret_is_refused() -> None:
    body, header = sm.signed(sm.checkout_completed(USER, "pack-100", 100), SECRET)
    with pytest.raises(BadSignature, match="does not match"):
        StripeGateway(None, "whsec_another").verify(body, header)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}', b'{"object": "event", "id": "e"}',
     b'{"object": "event", "id": "evt_1", "type": "x", "data": {}}', b"\xff\xfe"],
    ids=["not-json", "array", "not-an-event", "no-type", "no-data-object", "not-utf8"],
)  # fmt: skip
def test_a_signed_body_that_is_not_an_event_is_refused(gateway: StripeGateway, body: bytes) -> None:
    text = body.decode("latin-1")
    header = stripe.WebhookSignature.generate_signature_header(text, SECRET)
    with pytest.raises(BadSignature) as refused:
        gateway.verify(body, header)
    assert "not" in refused.value.reason


def test_a_refusal_does_not_repeat_the_body_or_the_secret(gateway: StripeGateway) -> None:
    body, header = sm.signed(sm.checkout_completed(USER, "pack-100", 100), SECRET)
    with pytest.raises(BadSignature) as refused:
        gateway.verify(body, header.replace("v1=", "v1=0"))
    assert "cs_test" not in str(refused.value) and SECRET not in str(refused.value)


def test_without_a_webhook_secret_webhooks_are_unavailable() -> None:
    body, header = sm.signed(sm.checkout_completed(USER, "pack-100", 100), SECRET)
    with pytest.raises(BillingUnavailable, match="webhook secret"):
        StripeGateway("sk_test_x", None).verify(body, header)


# -- packs ----------------------------------------------------------------------------------


def test_a_paid_pack_checkout_is_paid(gateway: StripeGateway) -> None:
    payload = sm.checkout_completed(USER, "pack-100", 100, customer="cus_A", amount_total=1000)
    session = payload["data"]["object"]
    fact = read(gateway, payload)
    assert fact == Paid(
        event_id=payload["id"], kind="pack", reference=session["id"],
        payment=session["payment_intent"], customer="cus_A", user_hint=str(USER),
        plan_id="pack-100", price_id=None, credits=100, amount_cents=1000, currency="usd",
        invoice=session["invoice"],
    )  # fmt: skip


def test_an_unpaid_checkout_waits_for_its_asynchronous_payment(gateway: StripeGateway) -> None:
    unpaid = sm.checkout_completed(USER, "pack-500", 500, payment_status="unpaid")
    assert read(gateway, unpaid) is None
    succeeded = sm.checkout_completed(
        USER, "pack-500", 500, session_id=unpaid["data"]["object"]["id"],
        kind="checkout.session.async_payment_succeeded",
    )  # fmt: skip
    fact = read(gateway, succeeded)
    assert isinstance(fact, Paid)
    assert (fact.reference, fact.credits) == (unpaid["data"]["object"]["id"], 500)


def test_the_user_hint_falls_back_to_metadata(gateway: StripeGateway) -> None:
    payload = sm.checkout_completed(USER, "pack-100", 100)
    payload["data"]["object"]["client_reference_id"] = None
    assert read(gateway, payload).user_hint == str(USER)


def test_credits_that_are_not_a_number_are_left_to_the_plan(gateway: StripeGateway) -> None:
    payload = sm.checkout_completed(USER, "pack-100", 100)
    payload["data"]["object"]["metadata"]["credits"] = "lots"
    assert read(gateway, payload).credits is None


def test_a_checkout_without_its_amount_is_unreadable(gateway: StripeGateway) -> None:
    payload = sm.checkout_completed(USER, "pack-100", 100)
    del payload["data"]["object"]["amount_total"]
    with pytest.raises(UnreadableEvent, match="amount_total"):
        read(gateway, payload)


# -- subscriptions --------------------------------------------------------------------------


def test_a_subscription_checkout_starts_the_subscription_without_credits(
    gateway: StripeGateway,
) -> None:
    payload = sm.checkout_completed(USER, "monthly-300", 300, mode="subscription", customer="cus_B")
    fact = read(gateway, payload)
    assert fact == SubscriptionChanged(
        event_id=payload["id"], subscription=payload["data"]["object"]["subscription"],
        customer="cus_B", user_hint=str(USER), plan_id="monthly-300", price_id=None,
        status="active", period_end=None,
    )  # fmt: skip


def test_a_subscription_checkout_without_its_subscription_is_unreadable(
    gateway: StripeGateway,
) -> None:
    payload = sm.checkout_completed(USER, "monthly-300", 300, mode="subscription")
    payload["data"]["object"]["subscription"] = None
    with pytest.raises(UnreadableEvent, match="subscription"):
        read(gateway, payload)


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_a_paid_subscription_invoice_is_paid(gateway: StripeGateway, legacy: bool) -> None:
    payload = sm.invoice_paid(
        USER, "monthly-300", 300, subscription="sub_1", price_id="price_m300",
        customer="cus_C", amount_paid=2500, legacy=legacy,
    )  # fmt: skip
    invoice = payload["data"]["object"]
    fact = read(gateway, payload)
    assert fact == Paid(
        event_id=payload["id"], kind="subscription", reference=invoice["id"],
        payment=invoice["payment_intent"] if legacy else "", customer="cus_C",
        user_hint=str(USER), plan_id="monthly-300", price_id="price_m300", credits=300,
        amount_cents=2500, currency="usd", subscription="sub_1", invoice=invoice["id"],
        invoice_url=invoice["hosted_invoice_url"],
    )  # fmt: skip


def test_an_invoice_names_its_payment_from_its_payments(gateway: StripeGateway) -> None:
    payload = sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_1", payment_intent="pi_9")
    assert read(gateway, payload).payment == "pi_9"


def test_an_invoice_finds_its_subscription_and_metadata_on_its_line(
    gateway: StripeGateway,
) -> None:
    payload = sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_2", legacy=True)
    invoice = payload["data"]["object"]
    invoice["subscription"] = None
    invoice["subscription_details"] = None
    fact = read(gateway, payload)
    assert (fact.subscription, fact.user_hint, fact.credits) == ("sub_2", str(USER), 300)


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_an_invoice_outside_a_subscription_brings_nothing(
    gateway: StripeGateway, legacy: bool
) -> None:
    assert read(gateway, sm.invoice_paid(USER, "pack-100", 100, legacy=legacy)) is None


def test_a_free_invoice_brings_nothing(gateway: StripeGateway) -> None:
    payload = sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_1", amount_paid=0)
    assert read(gateway, payload) is None


def test_an_invoice_without_amount_paid_is_unreadable(gateway: StripeGateway) -> None:
    payload = sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_1")
    del payload["data"]["object"]["amount_paid"]
    with pytest.raises(UnreadableEvent, match="amount_paid"):
        read(gateway, payload)


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_a_failed_invoice_payment_is_payment_failed(gateway: StripeGateway, legacy: bool) -> None:
    payload = sm.invoice_payment_failed(
        USER, "monthly-300", 300, subscription="sub_3", customer="cus_D", amount_due=2500,
        legacy=legacy,
    )  # fmt: skip
    invoice = payload["data"]["object"]
    assert read(gateway, payload) == PaymentFailed(
        event_id=payload["id"], invoice=invoice["id"], subscription="sub_3", customer="cus_D",
        amount_cents=2500, currency="usd", invoice_url=invoice["hosted_invoice_url"],
    )  # fmt: skip


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [("created", "incomplete", "incomplete"), ("updated", "past_due", "past_due"),
     ("deleted", "active", "canceled")],
)  # fmt: skip
def test_a_subscription_event_is_subscription_changed(
    gateway: StripeGateway, legacy: bool, kind: str, status: str, expected: SubscriptionStatus
) -> None:
    payload = sm.subscription_event(
        USER, "monthly-300", 300, kind=kind, subscription_id="sub_4", status=status,
        customer="cus_E", price_id="price_m300", period_end=1_900_000_000,
        cancel_at_period_end=kind == "updated", legacy=legacy,
    )  # fmt: skip
    assert read(gateway, payload) == SubscriptionChanged(
        event_id=payload["id"], subscription="sub_4", customer="cus_E", user_hint=str(USER),
        plan_id="monthly-300", price_id="price_m300", status=expected,
        period_end=1_900_000_000, cancel_at_period_end=kind == "updated",
    )  # fmt: skip


def test_a_subscription_with_an_unknown_status_is_unreadable(gateway: StripeGateway) -> None:
    payload = sm.subscription_event(USER, "monthly-300", 300, status="sleeping")
    with pytest.raises(UnreadableEvent, match="sleeping"):
        read(gateway, payload)


# -- refunds and disputes -------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_a_refund_is_refunded_with_the_cumulative_amount(
    gateway: StripeGateway, legacy: bool
) -> None:
    payload = sm.charge_refunded(
        payment_intent="pi_5", amount=1000, amount_refunded=400, customer="cus_F",
        invoice="in_5", legacy=legacy,
    )  # fmt: skip
    assert read(gateway, payload) == Refunded(
        event_id=payload["id"], charge=payload["data"]["object"]["id"], payment="pi_5",
        invoice="in_5" if legacy else None, customer="cus_F", amount_cents=1000,
        refunded_cents=400,
    )  # fmt: skip


def test_a_dispute_is_disputed(gateway: StripeGateway) -> None:
    payload = sm.dispute_created(payment_intent="pi_6", amount=4000, charge="ch_6")
    assert read(gateway, payload) == Disputed(
        event_id=payload["id"], dispute=payload["data"]["object"]["id"], charge="ch_6",
        payment="pi_6", amount_cents=4000,
    )  # fmt: skip


def test_a_dispute_without_its_charge_is_unreadable(gateway: StripeGateway) -> None:
    payload = sm.dispute_created(payment_intent="pi_6")
    del payload["data"]["object"]["charge"]
    with pytest.raises(UnreadableEvent, match="charge"):
        read(gateway, payload)


def test_expanded_objects_are_read_by_their_id(gateway: StripeGateway) -> None:
    payload = sm.charge_refunded(payment_intent="pi_7", customer="cus_G")
    charge = payload["data"]["object"]
    charge["payment_intent"] = {"id": "pi_7", "object": "payment_intent"}
    charge["customer"] = {"id": "cus_G", "object": "customer"}
    fact = read(gateway, payload)
    assert (fact.payment, fact.customer) == ("pi_7", "cus_G")


def test_events_the_studio_does_not_act_on_are_none(gateway: StripeGateway) -> None:
    payload = sm.event("customer.created", {"id": "cus_H", "object": "customer"})
    assert read(gateway, payload) is None


def test_events_read_from_plain_json() -> None:
    with pytest.raises(UnreadableEvent):
        WebhookEvent.from_json(json.loads('{"object": "event", "id": "", "type": "x"}'))


# -- API errors and configuration ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (stripe.APIConnectionError("connection refused"), BillingUnavailable),
        (stripe.RateLimitError("slow down", http_status=429), BillingUnavailable),
        (stripe.APIError("boom", http_status=500), BillingUnavailable),
        (stripe.AuthenticationError("bad key", http_status=401), BillingUnavailable),
        (stripe.PermissionError("restricted key", http_status=403), BillingUnavailable),
        (stripe.InvalidRequestError("No such price", "line_items", http_status=400),
         BillingRefused),
        (stripe.IdempotencyError("key reused", http_status=409), BillingRefused),
    ],
    ids=["connection", "rate-limit", "5xx", "401", "403", "400", "409"],
)  # fmt: skip
def test_provider_errors_are_unavailable_or_refused(
    error: stripe.StripeError, expected: type[Exception]
) -> None:
    with pytest.raises(expected), provider_errors("test"):
        raise error


def test_a_refusal_carries_stripes_message_and_status() -> None:
    body = {"error": {"message": "No such price: 'price_x'", "code": "resource_missing"}}
    error = stripe.InvalidRequestError(
        "No such price", "line_items[0][price]", code="resource_missing", http_status=400,
        json_body=body,
    )  # fmt: skip
    with pytest.raises(BillingRefused) as refused, provider_errors("test"):
        raise error
    assert (refused.value.status, refused.value.code) == (400, "resource_missing")
    assert "No such price" in refused.value.message


def test_without_an_api_key_calls_are_unavailable() -> None:
    gateway = StripeGateway(None, SECRET)
    assert not gateway.configured
    with pytest.raises(BillingUnavailable, match="not configured"):
        gateway.create_customer(USER, "a@example.com", "A")


def test_the_gateway_reads_its_settings() -> None:
    settings = Settings(
        stripe_api_key=SecretStr("sk_test_x"), stripe_webhook_secret=SecretStr(SECRET),
        stripe_api_base="http://127.0.0.1:1",
    )  # fmt: skip
    gateway = StripeGateway.from_settings(settings)
    assert gateway.configured
    body, header = sm.signed(sm.dispute_created(payment_intent="pi_8"), SECRET)
    assert gateway.verify(body, header).type == "charge.dispute.created"


class StripeAnswers(BaseHTTPRequestHandler):
    """A few of Stripe's answers. Deleting ``cus_gone``: 404 ``resource_missing``; any other
    customer: 400 (as for one that cannot be deleted). Listing an invoice's payments: one paid
    by ``pi_looked_up``."""

    def do_DELETE(self) -> None:  # noqa: N802 (http.server's naming)
        gone = self.path.endswith("/cus_gone")
        error = {
            "code": "resource_missing" if gone else "parameter_invalid",
            "message": "No such customer: 'cus_gone'" if gone else "This customer cannot go.",
            "type": "invalid_request_error",
        }
        self._answer(404 if gone else 400, {"error": error})

    def do_GET(self) -> None:  # noqa: N802
        query = parse_qs(urlsplit(self.path).query)
        payment = {
            "id": "inpay_1", "object": "invoice_payment", "amount_paid": 2500,
            "invoice": query["invoice"][0], "is_default": True, "status": "paid",
            "payment": {"type": "payment_intent", "payment_intent": "pi_looked_up"},
        }  # fmt: skip
        self._answer(200, {"object": "list", "data": [payment], "has_more": False, "url": "/"})

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stripe_answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StripeAnswers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_customer_stripe_no_longer_has_counts_as_deleted(stripe_answers: str) -> None:
    StripeGateway("sk_test_x", None, stripe_answers).delete_customer("cus_gone")


def test_a_customer_stripe_will_not_delete_is_refused(stripe_answers: str) -> None:
    with pytest.raises(BillingRefused, match="cannot go") as refused:
        StripeGateway("sk_test_x", None, stripe_answers).delete_customer("cus_owing")
    assert (refused.value.status, refused.value.code) == (400, "parameter_invalid")


def test_an_invoice_that_does_not_name_its_payment_has_it_looked_up(stripe_answers: str) -> None:
    gateway = StripeGateway("sk_test_x", SECRET, stripe_answers)
    current = read(gateway, sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_1"))
    assert current.payment == "pi_looked_up"
    legacy = sm.invoice_paid(USER, "monthly-300", 300, subscription="sub_1", legacy=True)
    assert read(gateway, legacy).payment == legacy["data"]["object"]["payment_intent"]
