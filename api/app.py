"""The FastAPI application. `filmstudio.bootstrap.api_app` wires its services from settings
(`uvicorn --factory filmstudio.bootstrap:api_app`); this module knows only the HTTP side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel

from adapters.eventstore import EventTooLarge
from adapters.settings import Settings
from api import (
    account_routes,
    admin,
    billing_routes,
    docs,
    live,
    media_routes,
    problems,
    publish_routes,
    routes,
    upload_routes,
    voice_routes,
    web,
)
from api.deps import Services
from api.limits import BodyLimits
from api.openapi import studio_openapi
from api.trace import Trace


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    reason: str | None = None


async def single_query_values(request: Request) -> None:
    """Each query parameter at most once: no route takes a list, and which of several values
    would count is a guess (FastAPI takes the last). `async`: no I/O, so no thread-pool hop."""
    repeated = sorted({k for k in request.query_params if len(request.query_params.getlist(k)) > 1})
    if repeated:
        raise RequestValidationError(
            [
                {"type": "repeated", "loc": ("query", name), "msg": "given more than once"}
                for name in repeated
            ]
        )


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
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: studio_openapi(app)  # type: ignore[method-assign]
    docs.install(app)
    for router in (
        routes, account_routes, billing_routes, live, media_routes, admin, voice_routes,
        publish_routes, upload_routes,
    ):  # fmt: skip
        app.include_router(router.router, dependencies=[Depends(single_query_values)])
    app.add_middleware(BodyLimits, default_bytes=settings.max_body_bytes)

    app.add_middleware(Trace, requests=requests, latency=latency)  # outermost

    problems.install(app)

    @app.exception_handler(EventTooLarge)
    async def too_large(request: Request, error: EventTooLarge) -> Response:
        """An event that would not fit the event topics' message limit: nothing was recorded."""
        return problems.problem(request, 413, str(error))

    @app.get("/healthz", tags=["ops"], response_model=Health)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "not ready: `reason` says why"}},
    )
    def readyz(request: Request) -> JSONResponse:
        try:
            with request.app.state.services.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1 FROM rm_users LIMIT 1")
        except Exception as error:  # any failure means not ready; say which
            return JSONResponse({"ready": False, "reason": type(error).__name__}, status_code=503)
        return JSONResponse({"ready": True})

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    web.install(app)  # the studio's pages at `/`, for whatever no route above matches
    return app
