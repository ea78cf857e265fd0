"""The account routes reached from e-mailed links: verify an address, reset a password,
unsubscribe; and the e-mail preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from adapters.account_tokens import AccountToken, InvalidToken, Purpose
from api import models
from api.deps import Caller, Svc
from api.problems import problems
from api.ratelimit import client_ip
from domain.errors import Conflict

router = APIRouter(prefix="/v1")
RESET_ACCEPTED = "if an account has this address, a reset link is on its way"


def _read(svc: Svc, token: str, purpose: Purpose) -> AccountToken:
    try:
        return svc.account_tokens.read(token, purpose)
    except InvalidToken as error:
        raise HTTPException(400, str(error)) from None


@router.post(
    "/auth/verify",
    response_model=models.Position,
    responses=problems(400, 413, 422, 503),
    tags=["auth"],
)
def verify(body: models.AccountToken, svc: Svc) -> models.Position:
    """Confirm your e-mail address with the token of the welcome e-mail's link."""
    claims = _read(svc, body.token, "verify")
    if svc.studio.identity(claims.user_id) is None:
        raise HTTPException(400, "this verify link is not valid or has expired")
    return models.Position(position=svc.studio.verify_email(claims.user_id))


@router.post(
    "/auth/password-reset",
    status_code=202,
    response_model=models.Accepted,
    responses=problems(400, 413, 422, 429, 503),
    tags=["auth"],
)
def request_password_reset(
    body: models.PasswordResetRequest, request: Request, svc: Svc
) -> models.Accepted:
    """E-mail a reset link to the address if an account has it. The answer is the same either
    way, so no one learns which addresses have accounts."""
    limits, s = svc.rate_limits, svc.settings
    limits.hit("reset:ip", client_ip(request), s.password_reset_per_ip, "too many resets from here")
    email = str(body.email).strip().lower()
    limits.hit("reset:email", email, s.password_reset_per_email, "too many resets of an email")
    svc.studio.request_password_reset(email)
    return models.Accepted(detail=RESET_ACCEPTED)


@router.post(
    "/auth/password-reset/confirm",
    response_model=models.Position,
    responses=problems(400, 413, 422, 503),
    tags=["auth"],
)
def confirm_password_reset(body: models.PasswordResetConfirm, svc: Svc) -> models.Position:
    """Set a new password with the token of the reset e-mail's link (good once, for an hour).
    Every token issued before it stops working."""
    claims = _read(svc, body.token, "password-reset")
    if svc.studio.identity(claims.user_id) is None:
        raise HTTPException(400, "this password-reset link is not valid or has expired")
    try:
        position = svc.studio.reset_password(claims.user_id, claims.password_version, body.password)
    except Conflict as spent:
        raise HTTPException(400, str(spent)) from None
    return models.Position(position=position)


@router.patch(
    "/me/email-preferences",
    response_model=models.Position,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["me"],
)
def change_email_preferences(
    body: models.ChangeEmailPreferences, caller: Caller, svc: Svc
) -> models.Position:
    """The language of your e-mails, and whether you want the non-essential ones (about
    productions and a low balance). Receipts and account e-mails are always sent."""
    position = svc.studio.change_email_preferences(
        caller.user_id, body.language, body.product_email
    )
    return models.Position(position=position)


@router.post(
    "/email/unsubscribe",
    response_model=models.Position,
    responses=problems(400, 413, 422, 503),
    tags=["me"],
)
def unsubscribe(
    token: Annotated[str, Query(min_length=1, max_length=2048, description="from the e-mail")],
    svc: Svc,
) -> models.Position:
    """One-click unsubscribe (RFC 8058) from non-essential e-mail, with the link's token."""
    claims = _read(svc, token, "unsubscribe")
    if svc.studio.identity(claims.user_id) is None:
        raise HTTPException(400, "this unsubscribe link is not valid or has expired")
    position = svc.studio.change_email_preferences(claims.user_id, None, False)
    return models.Position(position=position)
