"""A creator's whole journey through the web studio, an admin's grant and a refused action, in
Debian's chromium against a whole studio (draft quality renders in the local workers)."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from adapters.settings import PROJECT_ROOT
from tests.browser.conftest import Screens

LAMP = PROJECT_ROOT / "examples" / "the-lamp.fountain"
PASSWORD = "a long password for the browser"
RENDER_TIMEOUT_MS = 420_000
SRT_BLOCK = re.compile(
    r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+?)(?:\n\n|\n*\Z)", re.S
)


def sign_up(page: Page, screens: Screens, url: str, name: str = "Meera") -> str:
    """A new creator signed up (and signed in) through the studio; returns their e-mail."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{url}/")
    screens.check("landing")
    page.get_by_role("link", name="Sign up").first.click()
    page.wait_for_url("**/signup/")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    screens.check("signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/projects/")
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    return email


def sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/signin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(projects|admin)/.*"))


def user_id(studio: dict[str, Any], email: str) -> str:
    """The id of a user who signed up, once the read model lists them (it follows shortly)."""
    for _ in range(100):
        users = studio["api"].get("/v1/admin/users", params={"limit": 500}, headers=studio["admin"])
        assert users.status_code == 200, users.text
        found = [u["user_id"] for u in users.json() if u["email"] == email]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{email} signed up but the admin's user list never showed them")


def project_with_the_lamp(page: Page, screens: Screens) -> None:
    """A project whose script is the example, dropped in through the file chooser and saved."""
    screens.check("projects")
    page.get_by_label("Title").fill("The Lamp")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/project/?id=*")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose a file").click()
    chooser.value.set_files(str(LAMP))
    expect(page.get_by_role("textbox", name="Script", exact=True)).to_have_value(LAMP.read_text())
    page.get_by_role("button", name="Save script").click()
    expect(page.get_by_role("status").filter(has_text="Script saved")).to_be_visible()
    screens.check("script-editor")


def test_a_refused_action_shows_the_apis_reason(page: Page, screens: Screens, web_studio):
    url = web_studio["url"]
    email = sign_up(page, screens, url, "Broke")
    project_with_the_lamp(page, screens)
    page.get_by_role("checkbox", name="English").check()
    page.get_by_role("button", name="Start production").click()
    alert = page.get_by_role("alert").filter(has_text="credits")
    expect(alert).to_be_visible()
    screens.check("refused-production")
    # The same request straight to the API: its 402 problem's detail is what the page shows.
    token = httpx.post(f"{url}/v1/auth/token", data={"username": email, "password": PASSWORD})
    project_id = page.url.split("id=")[1]
    refused = httpx.post(
        f"{url}/v1/projects/{project_id}/productions",
        json={"quality": "draft", "languages": ["en"]},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert refused.status_code == 402, refused.text
    expect(alert).to_contain_text(refused.json()["detail"])
    assert "production" not in page.url.split("?")[0]


def test_an_admin_grants_credits_and_the_user_sees_them(page: Page, screens: Screens, web_studio):
    url, settings = web_studio["url"], web_studio["settings"]
    email = sign_up(page, screens, url, "Granted")
    user_id(web_studio, email)  # listed: the admin area will show them
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, url, settings.admin_email, settings.secret("admin_password"))
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url("**/admin/")
    grant = page.get_by_role("form", name=email, exact=True)
    expect(grant).to_be_visible()
    grant.get_by_label("Credits").fill("75")
    grant.get_by_label("Reason").fill("welcome to the studio")
    grant.get_by_role("button", name="Grant credits").click()
    expect(
        page.get_by_role("status").filter(has_text=f"Granted 75 credits to {email}")
    ).to_be_visible()
    screens.check("admin")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, url, email, PASSWORD)
    page.get_by_role("link", name="Credits").click()
    page.wait_for_url("**/credits/")
    balance = page.locator("dt", has_text="Balance").locator("xpath=following-sibling::dd[1]")
    expect(balance).to_have_text("75")
    expect(page.get_by_role("cell", name="welcome to the studio")).to_be_visible()
    screens.check("credits")


def overall(page: Page) -> float:
    value = page.get_by_role("progressbar", name=re.compile("Overall progress")).get_attribute(
        "aria-valuenow"
    )
    return float(value or 0)


def test_a_creators_journey_from_sign_up_to_a_playing_film_and_its_subtitles(
    page: Page, screens: Screens, web_studio, tmp_path: Path
):
    url = web_studio["url"]
    email = sign_up(page, screens, url, "Creator")
    grant = web_studio["api"].post(
        f"/v1/admin/users/{user_id(web_studio, email)}/credits",
        json={"amount": 500, "reason": "the journey's credits"},
        headers=web_studio["admin"],
    )
    assert grant.status_code == 200, grant.text
    project_with_the_lamp(page, screens)
    page.get_by_label("Quality").select_option("draft")
    page.get_by_role("checkbox", name="English").check()
    page.get_by_role("button", name="Start production").click()
    page.wait_for_url("**/production/?id=*")
    expect(page.get_by_role("progressbar", name=re.compile("Overall progress"))).to_be_visible()
    screens.check("production-running")

    # Live progress, as the page shows it, until the film is there: it never steps back.
    seen = [overall(page)]
    film = page.locator("video")
    while not film.count():
        expect(page.get_by_role("alert").filter(has_text=re.compile(r"\S"))).to_have_count(0)
        page.wait_for_timeout(500)
        seen.append(overall(page))
        status = page.get_by_text(re.compile(r"Status:")).first.inner_text()
        assert "failed" not in status and "cancelled" not in status, status
        assert len(seen) < RENDER_TIMEOUT_MS / 500, f"not completed in time; progress {seen[-5:]}"
    assert seen == sorted(seen), f"the overall progress stepped back: {seen}"
    expect(page.get_by_text(re.compile(r"Status:\s*completed"))).to_be_visible()

    # The film plays (muted, as a page may autoplay) from its signed link: time advances.
    source = film.first.evaluate("(v) => v.currentSrc || v.querySelector('source').src")
    assert "token=" in source, source
    film.first.evaluate("(v) => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => document.querySelector('video').currentTime > 0.5", timeout=60_000
    )
    tracks = film.first.evaluate("(v) => [...v.querySelectorAll('track')].map((t) => t.srclang)")
    assert tracks == ["en"], tracks
    screens.check("production-completed")

    # The SubRip download arrives and parses.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download subtitles (en) SRT").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    blocks = SRT_BLOCK.findall(saved.read_text(encoding="utf-8-sig"))
    assert blocks, f"no SubRip cue in the download: {saved.read_text()[:300]!r}"
    assert [int(b[0]) for b in blocks] == list(range(1, len(blocks) + 1))
    assert all(start < end for _, start, end, _ in blocks)
    assert "Light it again, Arjun. Before the bells." in [text.strip() for *_, text in blocks]
