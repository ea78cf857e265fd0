"""The billing routes: the plans, Stripe Checkout and Customer Portal sessions, and Stripe's
webhook (the only way bought credits arrive)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.stripe_gateway import (
    BadSignature,
    BillingRefused,
    BillingUnavailable,
    UnreadableEvent,
)
from api import models
from api.deps import Caller, IdempotencyKey, Svc, once
from api.problems import problems
from commands.billing import BillingNotConfigured

router = APIRouter(prefix="/v1/billing", tags=["billing"])
WEBHOOK_MAX_BYTES = 512 * 1024  # Stripe's events are far smaller


def _provider_errors(call: Any) -> Any:
    """Run `call`, mapping the payment provider's failures to HTTP errors."""
    try:
        return call()
    except BillingNotConfigured as error:
        raise HTTPException(503, str(error)) from None
    except BillingUnavailable as error:
        raise HTTPException(
            503, f"the payment provider is unavailable: {error}", headers={"Retry-After": "5"}
        ) from None
    except BillingRefused as error:
        raise HTTPException(502, f"the payment provider refused: {error}") from None


@router.get("/plans", response_model=list[models.PlanOut])
def plans(svc: Svc) -> list[models.PlanOut]:
    """What can be bought: credit packs (paid once) and subscriptions (credits each period)."""
    return [
        models.PlanOut(
            id=p.id,
            name=p.name,
            kind=p.kind,
            credits=p.credits,
            amount_cents=p.amount_cents,
            currency=p.currency,
            interval=p.interval,
        )
        for p in svc.billing.plans
    ]


@router.post(
    "/checkout",
    response_model=models.Redirect,
    responses=problems(400, 401, 404, 409, 413, 422, 502, 503),
)
def checkout(
    body: models.Checkout, caller: Caller, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    """A Stripe Checkout page for a plan: send the browser to `url`. The credits arrive when
    Stripe confirms the payment (its webhook), not before."""

    def act() -> tuple[int, dict[str, Any]]:
        url = _provider_errors(lambda: svc.billing.checkout(caller.user_id, body.plan))
        return 200, {"url": url}

    payload = body.model_dump(mode="json")
    return once(svc, str(caller.user_id), key, "checkout", payload, act)


@router.post(
    "/portal",
    response_model=models.Redirect,
    responses=problems(401, 404, 409, 502, 503),
)
def portal(caller: Caller, svc: Svc) -> models.Redirect:
    """Stripe's Customer Portal, to change or cancel a subscription and see invoices."""
    return models.Redirect(url=_provider_errors(lambda: svc.billing.portal(caller.user_id)))


@router.post(
    "/stripe/webhook",
    response_model=models.WebhookReceived,
    responses=problems(400, 413, 422, 502, 503),
)
async def stripe_webhook(
    request: Request,
    svc: Svc,
    stripe_signature: Annotated[str, Header(alias="Stripe-Signature", max_length=4096)] = "",
) -> models.WebhookReceived:
    """Stripe's events, verified by their signature (400 on a bad or stale one) and handled
    once per event id: a redelivery changes nothing."""
    payload = await request.body()
    if len(payload) > WEBHOOK_MAX_BYTES:
        raise HTTPException(413, f"a webhook body is at most {WEBHOOK_MAX_BYTES} bytes")

    def receive() -> str:
        try:
            outcome: str = svc.billing.receive(payload, stripe_signature)
        except BadSignature as error:
            raise HTTPException(400, f"bad Stripe signature: {error}") from None
        except UnreadableEvent as error:
            raise HTTPException(422, f"unreadable Stripe event: {error}") from None
        return outcome

    outcome = await run_in_threadpool(_provider_errors, receive)
    return models.WebhookReceived(outcome=outcome)
