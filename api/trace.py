"""Per-request tracing as a pure ASGI middleware: the events' metadata (who acts, under which
correlation id), the `X-Correlation-ID` answer header, and the request count and latency metrics.

Pure ASGI rather than `@app.middleware("http")`: Starlette's `BaseHTTPMiddleware` runs the
route in a task of its own and passes the answer through memory streams, a measurable share of
a small command's cost.
"""

from __future__ import annotations

import time

from fastapi import HTTPException
from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metadata import message_context
from api.auth import Tokens


def actor(app: Starlette, authorization: str) -> str:
    """Who is calling, for the events' metadata: the token's user when there is a valid one."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "anonymous"
    tokens: Tokens = app.state.services.tokens
    try:
        identity = tokens.identity(token)
    except HTTPException:
        return "anonymous"
    return f"{identity.role}:{identity.user_id}"


class Trace:
    """Wraps every HTTP request in `message_context` and counts it in `requests`/`latency`
    (labelled by method, route template and status)."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = Headers(scope=scope)
        who = actor(scope["app"], headers.get("authorization", ""))
        status = 500
        with message_context(actor=who, correlation_id=headers.get("x-correlation-id")) as meta:

            async def answer(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    MutableHeaders(scope=message)["X-Correlation-ID"] = meta.correlation_id
                await send(message)

            await self.app(scope, receive, answer)
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - start)
