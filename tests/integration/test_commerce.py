"""Scenario 3 end to end through Kafka: a creator buys credits on Stripe Checkout (stripe-mock),
Stripe's signed webhook adds them once, the receipt goes out once (SendGrid's spec in Prism), the
balance shows; subscriptions, refunds after spending, and the account e-mails (verify, reset)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from adapters.settings import Settings
from tests.integration.conftest import free_port, start_studio
from tests.support.prism import SendGridStandIn
from tests.support.stripe_mock import (
    charge_refunded,
    checkout_completed,
    invoice_paid,
    new_id,
    signed,
)

WEBHOOK_SECRET = "whsec_filmstudio_commerce_test"
WEBHOOK = "/v1/billing/stripe/webhook"
PASSWORD = "a-long-password-1"
SCRIPT = "INT. HOUSE - DAY\n\nMeera lights a lamp.\n\nMEERA\nLight the lamp, the night is long.\n"
WAIT = 60.0


@dataclass
class Commerce:
    settings: Settings
    url: str
    mail: SendGridStandIn

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def customer_of(self, user_id: UUID) -> str:
        with psycopg.connect(self.settings.pg_conninfo) as conn:
            row = conn.execute(
                "SELECT customer FROM billing_customers WHERE user_id = %s", (user_id,)
            ).fetchone()
        assert row is not None, "checkout created no Stripe customer for the user"
        return str(row[0])

    def deliver(self, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> httpx.Response:
        body, signature = signed(event, secret)
        with self.client() as client:
            return client.post(
                WEBHOOK,
                content=body,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )

    def mails(self, to: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The SendGrid requests Prism accepted (202) for `to` (of `kind`)."""
        found = []
        for request in self.mail.requests():
            body = request.json()
            if request.status != 202 or body["personalizations"][0]["to"][0]["email"] != to:
                continue
            if kind is None or kind in body.get("categories", []):
                found.append(body)
        return found

    def wait_for_mail(self, to: str, kind: str) -> dict[str, Any]:
        mails = eventually(lambda: self.mails(to, kind), f"a {kind} e-mail to {to}")
        return mails[-1]


def eventually(probe: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what} within {timeout:.0f} s")
        time.sleep(0.2)


def link_token(mail: dict[str, Any]) -> str:
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    found = re.search(r"token=([A-Za-z0-9_\-.]+)", text)
    assert found, f"no link with a token in the e-mail:\n{text}"
    return found.group(1)


@pytest.fixture(scope="module")
def commerce(
    isolated_settings: Callable[[], Settings],
    stripe_mock: str,
    sendgrid: SendGridStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Commerce]:
    """API, relay, projections and notifications, billing on stripe-mock, mail through Prism."""
    settings = isolated_settings().model_copy(
        update={
            "api_port": free_port(),
            "stripe_api_key": SecretStr("sk_test_filmstudio"),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": stripe_mock,
            "sendgrid_api_key": SecretStr("SG.filmstudio-test-key"),
            "sendgrid_api_base": sendgrid.base_url,
            "low_balance_credits": 0,  # no low-balance mail in these walks
        }
    )
    logs = tmp_path_factory.mktemp("commerce-logs")
    url, processes = start_studio(settings, logs, "notifications")
    yield Commerce(settings, url, sendgrid)
    for process in reversed(processes):
        process.stop()


def sign_up(commerce: Commerce, email: str | None = None) -> tuple[UUID, str, dict[str, str]]:
    email = email or f"creator-{uuid4().hex[:8]}@example.com"
    with commerce.client() as client:
        registered = client.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": "Meera"},
        )
        assert registered.status_code == 201, registered.text
        token = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
    user_id = UUID(registered.json()["user_id"])
    return user_id, email, {"Authorization": f"Bearer {token.json()['access_token']}"}


def credits_of(commerce: Commerce, auth: dict[str, str]) -> dict[str, Any]:
    with commerce.client() as client:
        answer = client.get("/v1/credits", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def settled(commerce: Commerce, auth: dict[str, str], check: Callable[[dict], bool]) -> dict:
    return eventually(
        lambda: (c := credits_of(commerce, auth)) and check(c) and c, "the credits projected"
    )


def test_scenario_3_a_pack_bought_on_checkout_is_credited_once(commerce):
    user_id, email, auth = sign_up(commerce)
    with commerce.client() as client:
        plans = client.get("/v1/billing/plans").json()
        assert {"pack-100", "monthly-300"} <= {p["id"] for p in plans}
        checkout = client.post("/v1/billing/checkout", json={"plan": "pack-100"}, headers=auth)
    assert checkout.status_code == 200, checkout.text
    assert checkout.json()["url"].startswith("https://")
    customer = commerce.customer_of(user_id)

    paid = checkout_completed(user_id, "pack-100", 100, customer=customer)
    forged = commerce.deliver(paid, secret="whsec_someone_else")
    assert forged.status_code == 400 and "signature" in forged.json()["detail"]
    first, again = commerce.deliver(paid), commerce.deliver(paid)
    assert (first.status_code, first.json()["outcome"]) == (200, "purchased"), first.text
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate"), again.text
    replayed = dict(paid, id=new_id("evt"))  # Stripe's "resend" of the same session
    assert commerce.deliver(replayed).json()["outcome"] == "already-purchased"

    settled(commerce, auth, lambda c: c["balance"] == 100)
    with commerce.client() as client:
        me = client.get("/v1/me", headers=auth).json()
    assert me["credits"]["balance"] == 100, me

    # A later event of the same account: once its e-mail is out, a duplicate receipt would be too.
    with commerce.client() as client:
        client.patch("/v1/me/email-preferences", json={"language": "hi"}, headers=auth)
        project = client.post(
            "/v1/projects", json={"title": "The Lamp", "language": "en"}, headers=auth
        ).json()["project_id"]
        client.put(
            f"/v1/projects/{project}/script", json={"format": "fountain", "text": SCRIPT},
            headers=auth,
        )  # fmt: skip
        requested = client.post(
            f"/v1/projects/{project}/productions", headers=auth
        )  # the saga is not running: the reservation stays, as spent credits would
    assert requested.status_code == 202, requested.text
    reserved = requested.json()["reserved_credits"]
    refund = charge_refunded(payment_intent=paid["data"]["object"]["payment_intent"],
                             amount=1000, customer=customer)  # fmt: skip
    assert commerce.deliver(refund).json()["outcome"] == "revoked"
    commerce.wait_for_mail(email, "credits_revoked")
    receipts = commerce.mails(email, "receipt")
    assert len(receipts) == 1, f"{len(receipts)} receipts for one purchase"
    assert "100" in link_free_text(receipts[0])

    after = settled(commerce, auth, lambda c: c["owed"] > 0)
    assert (after["balance"], after["owed"]) == (0, reserved), after
    assert [p["revoked"] for p in after["purchases"]] == [100]


def link_free_text(mail: dict[str, Any]) -> str:
    return next(c["value"] for c in mail["content"] if c["type"] == "text/plain")


def test_a_subscription_gets_credits_on_each_paid_invoice_in_any_order(commerce):
    user_id, email, auth = sign_up(commerce)
    with commerce.client() as client:
        checkout = client.post("/v1/billing/checkout", json={"plan": "monthly-300"}, headers=auth)
    assert checkout.status_code == 200, checkout.text
    customer = commerce.customer_of(user_id)
    subscription = new_id("sub")
    first = invoice_paid(user_id, "monthly-300", 300, subscription=subscription, customer=customer)
    started = checkout_completed(
        user_id, "monthly-300", 300, mode="subscription", subscription=subscription,
        customer=customer, amount_total=2500,
    )  # fmt: skip
    second = invoice_paid(user_id, "monthly-300", 300, subscription=subscription, customer=customer)
    outcomes = [commerce.deliver(e).json()["outcome"] for e in (first, started, second, first)]
    assert outcomes[0] == outcomes[2] == "purchased", outcomes  # the invoice before its checkout
    assert outcomes[1] in ("subscription-changed", "unchanged") and outcomes[3] == "duplicate"

    shown = settled(commerce, auth, lambda c: c["balance"] == 600 and c["subscription"])
    assert shown["subscription"]["status"] == "active"
    assert shown["subscription"]["subscription"] == subscription
    assert len(shown["invoices"]) == 2 and all(u.startswith("https://") for u in shown["invoices"])
    eventually(lambda: len(commerce.mails(email, "subscription_renewed")) == 2, "2 renewals")
    with commerce.client() as client:
        again = client.post("/v1/billing/checkout", json={"plan": "monthly-300"}, headers=auth)
        portal = client.post("/v1/billing/portal", headers=auth)
    assert again.status_code == 409, again.text
    assert portal.status_code == 200 and portal.json()["url"].startswith("https://"), portal.text


def test_register_verify_and_reset_a_password_by_email(commerce):
    user_id, email, auth = sign_up(commerce)
    welcome = commerce.wait_for_mail(email, "welcome")
    with commerce.client() as client:
        verified = client.post("/v1/auth/verify", json={"token": link_token(welcome)})
        assert verified.status_code == 200, verified.text
        position = verified.json()["position"]
        me = client.get("/v1/me", params={"min_position": position}, headers=auth).json()
        assert me["verified"] is True

        known = client.post("/v1/auth/password-reset", json={"email": email})
        unknown = client.post("/v1/auth/password-reset", json={"email": "no-one@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json(), "the answer tells which addresses have accounts"
        reset = commerce.wait_for_mail(email, "password_reset")
        token = link_token(reset)
        new = {"token": token, "password": "a-new-password-2"}
        assert client.post("/v1/auth/password-reset/confirm", json=new).status_code == 200
        reused = client.post("/v1/auth/password-reset/confirm", json=new)
        assert reused.status_code == 400, reused.text

        stale = client.get("/v1/me", headers=auth)
        assert stale.status_code == 401, "a token from before the password change still works"
        old = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        fresh = client.post(
            "/v1/auth/token", data={"username": email, "password": "a-new-password-2"}
        )
        assert (old.status_code, fresh.status_code) == (401, 200)
    assert not commerce.mails("no-one@example.com"), "a reset e-mail went to an unknown address"
    commerce.wait_for_mail(email, "password_changed")
