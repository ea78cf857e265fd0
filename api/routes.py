"""The v1 routes for creators: auth, profile, projects, productions, credits."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from api import models
from api.deps import Caller, Consistent, IdempotencyKey, Svc, once
from api.problems import problems
from api.production_view import production_view
from api.ratelimit import client_ip
from api.upload_routes import TakeUpload, take_upload, taking
from domain.estimate import estimate
from domain.production import ProductionOptions, Quality
from domain.text import TooLarge, unstorable

router = APIRouter(prefix="/v1")
ME_WAIT_STEP = 0.05


def _found(row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if row is None:
        raise HTTPException(404, f"no such {what}")
    return row


@router.post(
    "/auth/register",
    status_code=201,
    response_model=models.Registered,
    responses=problems(400, 409, 413, 422, 429, 503),
    tags=["auth"],
)
def register(
    body: models.Register, request: Request, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    limits, s = svc.rate_limits, svc.settings
    limits.hit("register:ip", client_ip(request), s.register_per_ip, "too many sign-ups from here")
    limits.hit("register:email", body.email, s.register_per_email, "too many sign-ups of an email")

    def act() -> tuple[int, dict[str, Any]]:
        user_id, position = svc.studio.register(body.email, body.password, body.display_name)
        return 201, {"user_id": str(user_id), "position": position}

    payload = body.model_dump(mode="json", exclude={"password"})  # never a secret's hash
    return once(svc, "register", key, "register", payload, act)


@router.post(
    "/auth/token",
    response_model=models.Token,
    responses=problems(400, 401, 413, 422, 429, 503),
    tags=["auth"],
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, svc: Svc
) -> models.Token:
    limits, s = svc.rate_limits, svc.settings
    limits.hit("token:ip", client_ip(request), s.token_per_ip, "too many sign-ins from here")
    failures = ("token:failures", form.username)
    limits.check(*failures, s.token_failures_per_email, "too many failed sign-ins to this account")
    identity = svc.studio.authenticate(form.username, form.password)
    if identity is None:
        limits.count(*failures)
        raise HTTPException(401, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    return models.Token(access_token=svc.tokens.issue(identity), expires_in=svc.tokens.ttl_seconds)


@router.get(
    "/me",
    response_model=models.Me,
    dependencies=[Consistent],
    responses=problems(401, 404, 422, 503),
    tags=["me"],
)
def me(caller: Caller, svc: Svc) -> models.Me:
    deadline = time.monotonic() + svc.settings.read_wait_seconds
    row = svc.reads.user(caller.user_id)
    while row is None and time.monotonic() < deadline:  # a brand-new user is still projecting
        time.sleep(ME_WAIT_STEP)
        row = svc.reads.user(caller.user_id)
    row = _found(row, "user")
    return models.Me(
        user_id=row["user_id"],
        email=row["email"],
        display_name=row["display_name"],
        role=row["role"],
        verified=row["verified"],
        email_preferences=models.EmailPreferences(
            language=row["email_language"], product_email=row["product_email"]
        ),
        credits=models.Credits(balance=row["balance"], reserved=row["reserved"], owed=row["owed"]),
    )


@router.patch(
    "/me",
    response_model=models.Position,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["me"],
)
def change_profile(body: models.ChangeProfile, caller: Caller, svc: Svc) -> models.Position:
    return models.Position(position=svc.studio.change_profile(caller.user_id, body.display_name))


@router.delete(
    "/me",
    status_code=202,
    response_model=models.Position,
    responses=problems(401, 409, 503),
    tags=["me"],
)
def erase_me(caller: Caller, svc: Svc) -> models.Position:
    """Erase your account: your productions stop, your media, voice samples, key and email go,
    and your personal and creative data become unreadable everywhere. Your tokens stop working
    at once; `position` is that of `user.Erased`."""
    return models.Position(position=svc.studio.erase_user(caller.user_id))


@router.post(
    "/projects",
    status_code=201,
    response_model=models.ProjectCreated,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["projects"],
)
def create_project(
    body: models.CreateProject, caller: Caller, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    def act() -> tuple[int, dict[str, Any]]:
        project_id, position = svc.studio.create_project(
            caller.user_id, body.title, body.language, body.aspect_ratio
        )
        return 201, {"project_id": str(project_id), "position": position}

    payload = body.model_dump(mode="json")
    return once(svc, str(caller.user_id), key, "create_project", payload, act)


@router.get(
    "/projects",
    response_model=list[models.ProjectSummary],
    dependencies=[Consistent],
    responses=problems(401, 422, 503),
    tags=["projects"],
)
def list_projects(caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    return svc.reads.projects(caller.user_id)


@router.get(
    "/projects/{project_id}",
    response_model=models.ProjectDetail,
    dependencies=[Consistent],
    responses=problems(401, 404, 422, 503),
    tags=["projects"],
)
def get_project(project_id: UUID, caller: Caller, svc: Svc) -> dict[str, Any]:
    row = _found(svc.reads.project(caller.user_id, project_id), "project")
    row["script"] = {"format": row.pop("script_format"), "text": row.pop("script_text")}
    return row


@router.get(
    "/projects/{project_id}/productions",
    response_model=list[models.ProductionSummary],
    dependencies=[Consistent],
    responses=problems(401, 404, 422, 503),
    tags=["projects"],
)
def list_project_productions(project_id: UUID, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    """The project's productions, newest first (the last 100)."""
    _found(svc.reads.project(caller.user_id, project_id), "project")
    return svc.reads.project_productions(caller.user_id, project_id)


@router.patch(
    "/projects/{project_id}",
    response_model=models.Position,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["projects"],
)
def change_project_settings(
    project_id: UUID, body: models.ProjectSettings, caller: Caller, svc: Svc
) -> models.Position:
    position = svc.studio.change_project_settings(
        caller.user_id, project_id, body.title, body.language, body.aspect_ratio
    )
    return models.Position(position=position)


@router.post(
    "/projects/{project_id}/archive",
    response_model=models.Position,
    responses=problems(401, 404, 409, 422, 503),
    tags=["projects"],
)
def archive_project(project_id: UUID, caller: Caller, svc: Svc) -> models.Position:
    return models.Position(position=svc.studio.archive_project(caller.user_id, project_id))


@router.put(
    "/projects/{project_id}/script",
    response_model=models.ScriptRevised,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["projects"],
)
def revise_script(
    project_id: UUID, body: models.ReviseScript, caller: Caller, svc: Svc
) -> models.ScriptRevised:
    try:
        revision, position = svc.studio.revise_script(
            caller.user_id, project_id, body.format, body.text
        )
    except TooLarge as error:
        raise HTTPException(413, str(error)) from None
    return models.ScriptRevised(revision=revision, position=position)


class ScriptFromUpload(TakeUpload):
    format: Literal["fountain", "plain"]


@router.put(
    "/projects/{project_id}/script/from-upload",
    response_model=models.ScriptRevised,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["projects"],
)
def revise_script_from_upload(
    project_id: UUID, body: ScriptFromUpload, caller: Caller, svc: Svc
) -> models.ScriptRevised:
    """Take a script (UTF-8) sent to a presigned PUT (`POST /v1/uploads`, S3 media store only)
    as the project's new revision; the upload is deleted once taken or refused."""
    data = take_upload(svc, caller.user_id, body.upload_id, "script")
    with taking(svc, caller.user_id, body.upload_id):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(422, "a script upload is text in UTF-8") from None
        script = models.ReviseScript.model_construct(format=body.format, text=text)
        revised = revise_script(project_id, script, caller, svc)  # the domain checks the text
    return revised


@router.post(
    "/projects/{project_id}/script/help",
    status_code=201,
    response_model=models.ScriptSuggestionOut,
    responses=problems(400, 401, 402, 404, 409, 413, 422, 502, 503),
    tags=["projects"],
)
def script_help(
    project_id: UUID, body: models.ScriptHelp, caller: Caller, svc: Svc
) -> models.ScriptSuggestionOut:
    """Ask the language model to tighten or expand one scene; the answer is a suggestion."""
    s = svc.studio.script_help(caller.user_id, project_id, body.action, body.scene)
    return models.ScriptSuggestionOut(
        suggestion_id=s.suggestion_id,
        scene=s.scene,
        original=s.original,
        suggested=s.suggested,
        position=s.position,
    )


@router.post(
    "/projects/{project_id}/script/suggestions/{suggestion_id}/accept",
    response_model=models.ScriptRevised,
    responses=problems(401, 404, 409, 413, 422, 503),
    tags=["projects"],
)
def accept_script_suggestion(
    project_id: UUID, suggestion_id: UUID, caller: Caller, svc: Svc
) -> models.ScriptRevised:
    """Put the suggested scene into the script, as a new revision."""
    try:
        revision, position = svc.studio.accept_suggestion(caller.user_id, project_id, suggestion_id)
    except TooLarge as error:
        raise HTTPException(413, str(error)) from None
    return models.ScriptRevised(revision=revision, position=position)


@router.get(
    "/projects/{project_id}/estimate",
    response_model=models.EstimateOut,
    dependencies=[Consistent],
    responses=problems(401, 404, 409, 422, 503),
    tags=["projects"],
)
def project_estimate(
    project_id: UUID, caller: Caller, svc: Svc, quality: Quality = "draft"
) -> models.EstimateOut:
    row = _found(svc.reads.project(caller.user_id, project_id), "project")
    if not row["revision"]:
        raise HTTPException(409, "this project has no script yet")
    cost = estimate(
        row["script_format"], row["script_text"], svc.settings.credits_per_minute, quality
    )
    return models.EstimateOut(credits=cost.credits, seconds=cost.seconds)


@router.post(
    "/projects/{project_id}/productions",
    status_code=202,
    response_model=models.ProductionAccepted,
    responses=problems(400, 401, 402, 404, 409, 413, 422, 503),
    tags=["productions"],
)
def request_production(
    project_id: UUID,
    caller: Caller,
    svc: Svc,
    options: ProductionOptions | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    options = options or ProductionOptions()
    for text in (*options.voices, *options.voices.values(), options.style or ""):
        if (problem := unstorable(text)) is not None:
            raise HTTPException(422, f"a voice or style {problem}")
    production_id = (
        None
        if key is None
        else uuid5(NAMESPACE_URL, f"filmstudio:production:{caller.user_id}:{key}")
    )

    def act() -> tuple[int, dict[str, Any]]:
        accepted = svc.studio.request_production(caller.user_id, project_id, options, production_id)
        return 202, {
            "production_id": str(accepted.production_id),
            "reserved_credits": accepted.reserved_credits,
            "position": accepted.position,
        }

    payload = {"project_id": str(project_id), "options": options.model_dump(mode="json")}
    return once(svc, str(caller.user_id), key, "request_production", payload, act)


@router.get(
    "/productions/{production_id}",
    response_model=models.ProductionOut,
    dependencies=[Consistent],
    responses=problems(401, 404, 422, 503),
    tags=["productions"],
)
def get_production(production_id: UUID, caller: Caller, svc: Svc) -> dict[str, Any]:
    """The production with its stages and units, overall progress, and media links once done."""
    row = _found(svc.reads.production_detail(caller.user_id, production_id), "production")
    return production_view(row)


@router.post(
    "/productions/{production_id}/cancel",
    response_model=models.Position,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
    tags=["productions"],
)
def cancel_production(
    production_id: UUID,
    caller: Caller,
    svc: Svc,
    body: models.CancelProduction | None = None,
) -> models.Position:
    reason = (body or models.CancelProduction()).reason
    return models.Position(
        position=svc.studio.cancel_production(caller.user_id, production_id, reason)
    )


@router.get(
    "/credits",
    response_model=models.CreditsOut,
    dependencies=[Consistent],
    responses=problems(401, 404, 422, 503),
    tags=["credits"],
)
def credits(caller: Caller, svc: Svc) -> models.CreditsOut:
    """Your balance, ledger, purchases, subscription and invoices."""
    row = _found(svc.reads.user(caller.user_id), "user")
    purchases = [models.PurchaseOut(**p) for p in svc.reads.purchases(caller.user_id)]
    subscription = svc.reads.subscription(caller.user_id)
    return models.CreditsOut(
        balance=row["balance"],
        reserved=row["reserved"],
        owed=row["owed"],
        ledger=[models.LedgerEntry(**entry) for entry in svc.reads.ledger(caller.user_id)],
        purchases=purchases,
        subscription=models.SubscriptionOut(**subscription) if subscription else None,
        invoices=[p.invoice_url for p in purchases if p.invoice_url],
    )
