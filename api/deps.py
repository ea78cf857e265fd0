"""What the routes need, built once per process and handed out through FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from adapters.account_tokens import AccountTokens
from adapters.media import MediaStore
from adapters.settings import Settings
from api.auth import Token, Tokens, unauthorized
from api.idempotency import MAX_KEY_LENGTH, IdempotencyStore, request_hash
from api.queries import ReadModels
from api.ratelimit import RateLimits
from commands.billing import Billing
from commands.handlers import LIVE_USER, Identity, Studio
from commands.publishing import Publishing
from projections.runner import wait_for_position

READ_MODEL_PROJECTION = "readmodels"


@dataclass
class Services:
    settings: Settings
    studio: Studio
    pool: ConnectionPool
    reads: ReadModels
    idempotency: IdempotencyStore
    tokens: Tokens
    rate_limits: RateLimits
    account_tokens: AccountTokens
    billing: Billing
    media: MediaStore
    publishing: Publishing | None = None  # None: YouTube publishing is not configured


async def services(request: Request) -> Services:
    """The process's services. Dependencies that do no I/O are `async def`: FastAPI runs a
    plain `def` one on the thread pool, a hop that costs more than what it does."""
    return request.app.state.services


Svc = Annotated[Services, Depends(services)]


def checked_caller(svc: Services, token: str) -> Identity:
    """The token's user as they are now: refused at once (401) when erased or being erased, or
    when the password changed since the token was issued; one read of the user's events per
    request, no cache."""
    claimed = svc.tokens.identity(token)
    current = svc.studio.identity(claimed.user_id)
    if current is None:
        raise unauthorized("this account no longer exists")
    if current.password_version != claimed.password_version:
        raise unauthorized("the password changed since this token was issued: sign in again")
    return current


async def caller(svc: Svc, token: Token) -> Identity:
    """`checked_caller` (on the thread pool: it reads the event store), then marked live for the
    rest of the request, so the command's ownership check does not read the account again."""
    current = await run_in_threadpool(checked_caller, svc, token)
    LIVE_USER.set(current.user_id)
    return current


Caller = Annotated[Identity, Depends(caller)]


async def admin(identity: Caller) -> Identity:
    if identity.role != "admin":
        raise HTTPException(403, "this route is for admins")
    return identity


Admin = Annotated[Identity, Depends(admin)]


def consistent(
    svc: Svc,
    min_position: Annotated[
        int | None,
        Query(ge=0, description="Answer only once the read model has reached this position"),
    ] = None,
) -> None:
    """Read-your-writes: wait (bounded) until the read model has applied `min_position`."""
    if min_position is None:
        return
    if min_position > svc.studio.store.last_position():
        raise HTTPException(422, f"min_position {min_position} is beyond every recorded event")
    reached = wait_for_position(
        svc.pool, READ_MODEL_PROJECTION, min_position, svc.settings.read_wait_seconds
    )
    if not reached:
        raise HTTPException(
            503,
            f"the read model has not reached position {min_position} yet; retry shortly",
            headers={"Retry-After": "1"},
        )


Consistent = Depends(consistent)


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH),
]


def once(
    svc: Services,
    scope: str,
    key: str | None,
    route: str,
    payload: Any,
    action: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Run a POST's action at most once per (scope, Idempotency-Key)."""
    status, body = svc.idempotency.run(
        scope,
        key,
        request_hash(route, payload),
        action,
        ttl_seconds=svc.settings.idempotency_ttl_seconds,
        lease_seconds=svc.settings.idempotency_lease_seconds,
    )
    return JSONResponse(body, status_code=status)
