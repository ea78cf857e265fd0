"""The web studio: the static export of `web/` (`web/out`, built by `deploy/local/web.sh`)
served at `/` by the API.

It answers only what no API route matched (it is the router's default), so every `/v1`, `/docs`,
`/openapi.json`, `/metrics`, `/healthz` and `/readyz` route, and their 404/405 problems, stay the
API's. A folder answers its `index.html` (the export has a trailing slash per page); a missing page
answers the export's `404.html` with status 404. Hashed assets under `/_next/static/` are cached
for a year, every page is revalidated on each load; both are gzipped for a client that accepts it.
Without an export `/` says how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_OUT = Path(__file__).resolve().parents[1] / "web" / "out"
API_PREFIXES = ("/v1/", "/docs", "/openapi.json", "/metrics", "/healthz", "/readyz")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AI Film Studio</title></head>
<body><main><h1>The web studio is not built</h1>
<p>Build it with <code>deploy/local/web.sh</code> (or <code>make bootstrap</code>), which runs
<code>npm ci</code> and <code>npm run build</code> in <code>web/</code>; then reload.</p>
<p>The API is at <a href="/docs">/docs</a>.</p></main></body></html>
"""


class WebStudio:
    """The router's default app: the export for what is not the API's, else the router's 404."""

    def __init__(self, out: Path, not_found: ASGIApp) -> None:
        self.out = out
        self.not_found = not_found
        self.files = GZipMiddleware(
            StaticFiles(directory=out, html=True, check_dir=False), minimum_size=1024
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(API_PREFIXES):
            await self.not_found(scope, receive, send)
            return
        if not self.out.is_dir():
            if path == "/":
                response: Response = HTMLResponse(NOT_BUILT, status_code=503)
                response.headers["Cache-Control"] = REVALIDATE
                await response(scope, receive, send)
            else:
                await self.not_found(scope, receive, send)
            return

        async def cached(message: Message) -> None:
            if message["type"] == "http.response.start":
                immutable = path.startswith("/_next/static/") and message["status"] == 200
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
            await send(message)

        await self.files(scope, receive, cached)


def install(app: FastAPI, out: Path = WEB_OUT) -> None:
    """Serve the export at `/` for every path no route of `app` matches."""
    app.router.default = WebStudio(out, app.router.not_found)
