"""The web studio's static export served at `/` beside the API's own routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api import web
from api.app import create_app

PROBLEM = "application/problem+json"


def _studio(out: Path) -> TestClient:
    app = create_app(Settings(), lambda settings: None)
    web.install(app, out)
    return TestClient(app)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    for name, text in {
        "index.html": "<h1>landing</h1>",
        "404.html": "<h1>no such page</h1>",
        "signin/index.html": "<h1>sign in</h1>",
        "_next/static/chunks/app-0a1b.js": "console.log(1);" * 200,
    }.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    return out


def test_pages_are_served_per_folder_and_revalidated(export: Path) -> None:
    client = _studio(export)
    landing = client.get("/")
    assert landing.status_code == 200 and "landing" in landing.text
    assert landing.headers["cache-control"] == "no-cache"
    signin = client.get("/signin/")
    assert signin.status_code == 200 and "sign in" in signin.text
    bare = client.get("/signin", follow_redirects=False)
    assert bare.status_code == 307 and bare.headers["location"].endswith("/signin/")
    assert client.head("/signin/").status_code == 200


def test_hashed_assets_are_cached_for_a_year_and_gzipped(export: Path) -> None:
    asset = _studio(export).get("/_next/static/chunks/app-0a1b.js")
    assert asset.status_code == 200 and asset.text == "console.log(1);" * 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-encoding"] == "gzip"
    plain = _studio(export).get(
        "/_next/static/chunks/app-0a1b.js", headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and len(plain.content) == 15 * 200


def test_a_missing_page_is_the_exports_404_page(export: Path) -> None:
    missing = _studio(export).get("/no/such/page/")
    assert missing.status_code == 404 and "no such page" in missing.text
    assert missing.headers["cache-control"] == "no-cache"


def test_the_api_keeps_its_paths_and_problems(export: Path) -> None:
    client = _studio(export)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "AI Film Studio API"
    missing = client.get("/v1/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = client.put("/v1/me")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM
    assert client.post("/signin/").status_code == 405


def test_without_an_export_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    client = _studio(tmp_path / "absent")
    root = client.get("/")
    assert root.status_code == 503 and "deploy/local/web.sh" in root.text
    assert client.get("/signin/").status_code == 404
    assert client.get("/healthz").status_code == 200
