"""Request body limits at the door: a pure ASGI middleware that answers 413 before a route reads
more than its limit, whether the body announces its size (Content-Length) or streams (chunked)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.voice_samples import MAX_UPLOAD_BYTES
from api.problems import MEDIA_TYPE, problem_json
from domain.project import MAX_SCRIPT_BYTES

FORM_OVERHEAD = 1024 * 1024  # multipart boundaries, headers and the other fields


@dataclass(frozen=True)
class RouteLimit:
    method: str
    path: re.Pattern[str]
    max_bytes: int


ROUTE_LIMITS = (
    # a script of MAX_SCRIPT_BYTES, even written with JSON's \uXXXX escapes (up to 3x its UTF-8)
    RouteLimit("PUT", re.compile(r"^/v1/projects/[^/]+/script$"), 3 * MAX_SCRIPT_BYTES + 65_536),
    RouteLimit("POST", re.compile(r"^/v1/voices$"), MAX_UPLOAD_BYTES + FORM_OVERHEAD),
)


class BodyTooLarge(HTTPException):
    """The request body passed its limit while the route was reading it: an HTTPException, so
    that FastAPI answers it as it is (413) rather than as a body it could not parse."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


class BodyLimits:
    """413 for a body over its route's limit (`ROUTE_LIMITS`), else over `default_bytes`."""

    def __init__(
        self, app: ASGIApp, default_bytes: int, routes: Sequence[RouteLimit] = ROUTE_LIMITS
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.routes = routes

    def limit(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.method == method and route.path.match(path):
                return route.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _refuse(send, 413, _too_large(limit))
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as error:
            if started:
                raise
            await _refuse(send, 413, error.detail)


def _too_large(limit: int) -> str:
    return f"the request body is larger than this route's limit of {limit} bytes"


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = problem_json(status, reason)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
