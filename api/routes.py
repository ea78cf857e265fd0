"""The v1 routes for creators: auth, profile, projects, productions, credits."""

from __future__ import annotations

import time
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from api import models
from api.deps import Caller, Consistent, IdempotencyKey, Svc, once
from api.production_view import production_view
from domain.estimate import estimate
from domain.production import ProductionOptions, Quality

router = APIRouter(prefix="/v1")
ME_WAIT_STEP = 0.05


def _found(row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if row is None:
        raise HTTPException(404, f"no such {what}")
    return row


@router.post("/auth/register", status_code=201, response_model=models.Registered, tags=["auth"])
def register(body: models.Register, svc: Svc, key: IdempotencyKey = None) -> JSONResponse:
    def act() -> tuple[int, dict[str, Any]]:
        user_id, position = svc.studio.register(body.email, body.password, body.display_name)
        return 201, {"user_id": str(user_id), "position": position}

    payload = body.model_dump(mode="json")
    return once(svc, "register", key, "register", payload, act)


@router.post("/auth/token", response_model=models.Token, tags=["auth"])
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], svc: Svc) -> models.Token:
    identity = svc.studio.authenticate(form.username, form.password)
    if identity is None:
        raise HTTPException(401, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    return models.Token(access_token=svc.tokens.issue(identity), expires_in=svc.tokens.ttl_seconds)


@router.get("/me", response_model=models.Me, dependencies=[Consistent], tags=["me"])
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
        credits=models.Credits(balance=row["balance"], reserved=row["reserved"]),
    )


@router.patch("/me", response_model=models.Position, tags=["me"])
def change_profile(body: models.ChangeProfile, caller: Caller, svc: Svc) -> models.Position:
    return models.Position(position=svc.studio.change_profile(caller.user_id, body.display_name))


@router.post("/projects", status_code=201, response_model=models.ProjectCreated, tags=["projects"])
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
    tags=["projects"],
)
def list_projects(caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    return svc.reads.projects(caller.user_id)


@router.get(
    "/projects/{project_id}",
    response_model=models.ProjectDetail,
    dependencies=[Consistent],
    tags=["projects"],
)
def get_project(project_id: UUID, caller: Caller, svc: Svc) -> dict[str, Any]:
    row = _found(svc.reads.project(caller.user_id, project_id), "project")
    row["script"] = {"format": row.pop("script_format"), "text": row.pop("script_text")}
    return row


@router.patch("/projects/{project_id}", response_model=models.Position, tags=["projects"])
def change_project_settings(
    project_id: UUID, body: models.ProjectSettings, caller: Caller, svc: Svc
) -> models.Position:
    position = svc.studio.change_project_settings(
        caller.user_id, project_id, body.title, body.language, body.aspect_ratio
    )
    return models.Position(position=position)


@router.post("/projects/{project_id}/archive", response_model=models.Position, tags=["projects"])
def archive_project(project_id: UUID, caller: Caller, svc: Svc) -> models.Position:
    return models.Position(position=svc.studio.archive_project(caller.user_id, project_id))


@router.put("/projects/{project_id}/script", response_model=models.ScriptRevised, tags=["projects"])
def revise_script(
    project_id: UUID, body: models.ReviseScript, caller: Caller, svc: Svc
) -> models.ScriptRevised:
    revision, position = svc.studio.revise_script(
        caller.user_id, project_id, body.format, body.text
    )
    return models.ScriptRevised(revision=revision, position=position)


@router.post(
    "/projects/{project_id}/script/help",
    status_code=201,
    response_model=models.ScriptSuggestionOut,
    responses={502: {"description": "the language model's answer was unusable"},
               503: {"description": "no language model is configured or reachable"}},
    tags=["projects"],
)  # fmt: skip
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
    tags=["projects"],
)
def accept_script_suggestion(
    project_id: UUID, suggestion_id: UUID, caller: Caller, svc: Svc
) -> models.ScriptRevised:
    """Put the suggested scene into the script, as a new revision."""
    revision, position = svc.studio.accept_suggestion(caller.user_id, project_id, suggestion_id)
    return models.ScriptRevised(revision=revision, position=position)


@router.get(
    "/projects/{project_id}/estimate",
    response_model=models.EstimateOut,
    dependencies=[Consistent],
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
    responses={402: {"description": "the balance does not cover the estimate"}},
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
    tags=["productions"],
)
def get_production(production_id: UUID, caller: Caller, svc: Svc) -> dict[str, Any]:
    """The production with its stages and units, overall progress, and media links once done."""
    row = _found(svc.reads.production_detail(caller.user_id, production_id), "production")
    return production_view(row)


@router.post(
    "/productions/{production_id}/cancel", response_model=models.Position, tags=["productions"]
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
    "/credits", response_model=models.CreditsOut, dependencies=[Consistent], tags=["credits"]
)
def credits(caller: Caller, svc: Svc) -> models.CreditsOut:
    row = _found(svc.reads.user(caller.user_id), "user")
    return models.CreditsOut(
        balance=row["balance"],
        reserved=row["reserved"],
        ledger=[models.LedgerEntry(**entry) for entry in svc.reads.ledger(caller.user_id)],
    )
