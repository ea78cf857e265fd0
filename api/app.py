"""The FastAPI application. `filmstudio.bootstrap.api_app` wires its services from settings
(`uvicorn --factory filmstudio.bootstrap:api_app`); this module knows only the HTTP side."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import psycopg
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from adapters.llm import LLMBadAnswer, LLMUnavailable
from adapters.metadata import message_context
from adapters.settings import Settings
from api import admin, live, media_routes, routes, voice_routes
from api.deps import Services
from domain.errors import Conflict, DomainError, InsufficientCredits, Invalid, NotFound

STATUS_OF = {InsufficientCredits: 402, NotFound: 404, Conflict: 409, Invalid: 422}


def _actor(request: Request) -> str:
    """Who is calling, for the events' metadata: the token's user when there is a valid one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "anonymous"
    try:
        identity = request.app.state.services.tokens.identity(token)
    except HTTPException:
        return "anonymous"
    return f"{identity.role}:{identity.user_id}"


def create_app(settings: Settings, services: Callable[[Settings], Services]) -> FastAPI:
    """The API; `services` builds what the routes use when the app starts (and not before)."""
    registry = CollectorRegistry()
    requests = Counter(
        "studio_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "studio_http_request_seconds", "HTTP latency", ["method", "route"], registry=registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services(settings)
        yield
        app.state.services.studio.store.close()
        app.state.services.pool.close()

    app = FastAPI(
        title="AI Film Studio API",
        version="1.0.0",
        description="Commands and queries of the studio. Commands answer with the `position` "
        "of their last event; pass it as `min_position` to a query to read your own writes.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    app.include_router(live.router)
    app.include_router(media_routes.router)
    app.include_router(admin.router)
    app.include_router(voice_routes.router)

    @app.middleware("http")
    async def trace(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        actor = _actor(request)
        correlation = request.headers.get("X-Correlation-ID")
        with message_context(actor=actor, correlation_id=correlation) as meta:
            response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - start)
        response.headers["X-Correlation-ID"] = meta.correlation_id
        return response

    @app.exception_handler(DomainError)
    async def refused(request: Request, error: DomainError) -> JSONResponse:
        status = next((s for kind, s in STATUS_OF.items() if isinstance(error, kind)), 422)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(IntegrityError)
    async def contended(request: Request, error: IntegrityError) -> JSONResponse:
        return JSONResponse(
            {"detail": "too many concurrent changes to the same thing; retry"},
            status_code=409,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(psycopg.OperationalError)
    async def unavailable(request: Request, error: psycopg.OperationalError) -> JSONResponse:
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(LLMUnavailable)
    async def no_language_model(request: Request, error: LLMUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(LLMBadAnswer)
    async def bad_language_model(request: Request, error: LLMBadAnswer) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=502)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(request: Request) -> JSONResponse:
        try:
            with request.app.state.services.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1 FROM rm_users LIMIT 1")
        except Exception as error:  # any failure means not ready; say which
            return JSONResponse({"ready": False, "reason": type(error).__name__}, status_code=503)
        return JSONResponse({"ready": True})

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
