"""Routes for admins only."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from confluent_kafka import KafkaException
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from api import admin_views, models
from api.deps import Admin, Consistent, IdempotencyKey, Svc, once
from api.problems import problems

router = APIRouter(prefix="/v1/admin", tags=["admin"])
MAX_OFFSET = 1_000_000_000  # PostgreSQL's OFFSET is a bigint; no list is that long


@router.post(
    "/users/{user_id}/credits",
    response_model=models.Position,
    responses=problems(400, 401, 403, 404, 409, 413, 422, 503),
)
def grant_credits(
    user_id: UUID, body: models.GrantCredits, admin: Admin, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    """Grant credits; send an Idempotency-Key so a retried grant is not paid twice."""

    def act() -> tuple[int, dict[str, Any]]:
        position = svc.studio.grant_credits(
            user_id, body.amount, body.reason, source="admin", reference=str(admin.user_id)
        )
        return 200, {"position": position}

    payload = {"user_id": str(user_id), **body.model_dump(mode="json")}
    return once(svc, str(admin.user_id), key, "grant_credits", payload, act)


@router.get(
    "/users",
    response_model=list[models.UserOut],
    dependencies=[Consistent],
    responses=problems(401, 403, 422, 503),
)
def list_users(
    admin: Admin,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    return svc.reads.users(limit, offset)


@router.post(
    "/users/{user_id}/erase",
    response_model=models.Position,
    responses=problems(401, 403, 404, 409, 422, 503),
)
def erase_user(user_id: UUID, admin: Admin, svc: Svc) -> models.Position:
    """Forget a user: their productions stop, their media, voice samples, key and email go, and
    their personal and creative data become unreadable everywhere (crypto-shredding). A retry
    after a failure resumes the erasure; a repeat on an erased user changes nothing."""
    return models.Position(position=svc.studio.erase_user(user_id))


ProductionStatus = Literal["requested", "running", "completed", "failed", "cancelled"]


@router.get(
    "/productions",
    response_model=list[admin_views.AdminProductionOut],
    dependencies=[Consistent],
    responses=problems(401, 403, 422, 503),
)
def list_productions(
    admin: Admin,
    svc: Svc,
    status: Annotated[ProductionStatus | None, Query(description="only these")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[admin_views.AdminProductionOut]:
    """Every owner's productions, newest first, with their overall progress."""
    return admin_views.productions(svc.pool, status, limit, offset)


@router.get(
    "/dead-letters",
    response_model=list[admin_views.DeadLetterOut],
    responses=problems(401, 403, 422, 503),
)
async def list_dead_letters(
    admin: Admin,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[admin_views.DeadLetterOut]:
    """The last dead letters of `<prefix>.dead_letters` (messages a consumer could not handle),
    newest first, without the messages' bytes."""
    try:
        return await anyio.to_thread.run_sync(admin_views.latest_dead_letters, svc.settings, limit)
    except KafkaException as error:
        raise HTTPException(
            503, f"the dead letters cannot be read now: {error}", headers={"Retry-After": "2"}
        ) from error
