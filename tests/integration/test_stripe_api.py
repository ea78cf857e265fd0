"""The Stripe adapter against Stripe's own stripe-mock, which checks every request against
Stripe's OpenAPI description (it keeps no state: each create answers a fresh object)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
import stripe

from adapters.settings import DEFAULT_PLANS
from adapters.stripe_gateway import (
    BillingRefused,
    BillingUnavailable,
    StripeGateway,
    provider_errors,
)
from domain.billing import Paid
from tests.support.stripe_mock import TEST_KEY, free_port, invoice_paid, signed

PACK = next(plan for plan in DEFAULT_PLANS if plan.kind == "pack")
MONTHLY = next(plan for plan in DEFAULT_PLANS if plan.kind == "subscription")


class Recording(stripe.RequestsClient):
    """The real HTTP client, keeping what was sent and what came back."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.sent: list[dict[str, Any]] = []

    def request(  # type: ignore[override]  # RequestsClient's own signature
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, answer = super().request(method, url, headers, post_data)
        sent = post_data.decode() if isinstance(post_data, bytes) else post_data
        form = parse_qs(sent or urlsplit(url).query)
        self.sent.append(
            {"method": method, "path": urlsplit(url).path, "headers": dict(headers or {}),
             "form": form, "status": status, "answer": dict(answer)}
        )  # fmt: skip
        return content, status, answer


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def gateway(stripe_mock: str, recording: Recording) -> StripeGateway:
    return StripeGateway(TEST_KEY, "whsec_test", stripe_mock, http_client=recording)


def test_a_customer_is_created_under_one_idempotency_key(
    gateway: StripeGateway, recording: Recording
) -> None:
    user = uuid4()
    first = gateway.create_customer(user, "creator@example.com", "A Creator")
    again = gateway.create_customer(user, "creator@example.com", "A Creator")
    assert first.startswith("cus_") and again.startswith("cus_")
    key = f"filmstudio-customer-{user}"
    assert [sent["answer"].get("Idempotency-Key") for sent in recording.sent] == [key, key]
    form = recording.sent[0]["form"]
    assert form["metadata[user_id]"] == [str(user)]
    assert form["email"] == ["creator@example.com"]
    assert "Bearer" in recording.sent[0]["headers"]["Authorization"]


def test_a_customer_is_deleted(gateway: StripeGateway, recording: Recording) -> None:
    gateway.delete_customer("cus_filmstudio_gone")
    assert (recording.sent[0]["method"], recording.sent[0]["path"]) == (
        "delete", "/v1/customers/cus_filmstudio_gone",
    )  # fmt: skip
    assert recording.sent[0]["status"] == 200


def test_a_pack_checkout_pays_once_with_our_metadata_everywhere(
    gateway: StripeGateway, recording: Recording
) -> None:
    user = uuid4()
    session, url = gateway.checkout_url("cus_1", user, PACK, "http://s/ok", "http://s/no")
    assert session.startswith("cs_") and url.startswith("https://")
    form = recording.sent[0]["form"]
    assert recording.sent[0]["status"] == 200
    assert form["mode"] == ["payment"]
    assert form["client_reference_id"] == [str(user)]
    assert form["line_items[0][price]"] == [PACK.price_id]
    assert form["invoice_creation[enabled]"] == ["true"]
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert form[f"{prefix}[user_id]"] == [str(user)]
        assert form[f"{prefix}[plan_id]"] == [PACK.id]
        assert form[f"{prefix}[credits]"] == [str(PACK.credits)]
    assert not any(name.startswith("subscription_data") for name in form)


def test_a_subscription_checkout_carries_our_metadata_to_the_subscription(
    gateway: StripeGateway, recording: Recording
) -> None:
    user = uuid4()
    session, url = gateway.checkout_url("cus_1", user, MONTHLY, "http://s/ok", "http://s/no")
    assert session.startswith("cs_") and url.startswith("https://")
    form = recording.sent[0]["form"]
    assert form["mode"] == ["subscription"]
    assert form["subscription_data[metadata][plan_id]"] == [MONTHLY.id]
    assert form["subscription_data[metadata][credits]"] == [str(MONTHLY.credits)]
    assert form["subscription_data[metadata][user_id]"] == [str(user)]
    assert not any(name.startswith(("payment_intent_data", "invoice_creation")) for name in form)


def test_a_portal_session_has_a_url(gateway: StripeGateway, recording: Recording) -> None:
    url = gateway.portal_url("cus_1", "http://s/billing")
    assert url.startswith("https://")
    assert recording.sent[0]["path"] == "/v1/billing_portal/sessions"
    assert recording.sent[0]["form"]["return_url"] == ["http://s/billing"]


def test_an_invoice_event_without_its_payment_asks_stripe_for_it(
    gateway: StripeGateway, recording: Recording
) -> None:
    payload = invoice_paid(uuid4(), MONTHLY.id, MONTHLY.credits, subscription="sub_1")
    body, header = signed(payload, "whsec_test")
    fact = gateway.fact(gateway.verify(body, header))
    assert isinstance(fact, Paid) and fact.reference == payload["data"]["object"]["id"]
    [asked] = recording.sent
    assert (asked["method"], asked["path"], asked["status"]) == ("get", "/v1/invoice_payments", 200)
    assert asked["form"] == {"invoice": [fact.reference], "status": ["paid"]}


def test_a_request_stripe_refuses_is_billing_refused(stripe_mock: str) -> None:
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": stripe_mock})
    with pytest.raises(BillingRefused) as refused, provider_errors("test"):
        client.v1.checkout.sessions.create({"mode": "bogus"})
    assert refused.value.status == 400
    assert "validation" in refused.value.message


def test_credentials_stripe_refuses_make_billing_unavailable(stripe_mock: str) -> None:
    gateway = StripeGateway("pk_test_not_a_secret_key", None, stripe_mock)
    with pytest.raises(BillingUnavailable, match="credentials"):
        gateway.create_customer(uuid4(), "creator@example.com", "A Creator")


def test_an_unreachable_stripe_is_billing_unavailable() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    gateway = StripeGateway(TEST_KEY, None, nowhere, max_network_retries=0)
    with pytest.raises(BillingUnavailable, match="unavailable"):
        gateway.portal_url("cus_1", "http://s/billing")
