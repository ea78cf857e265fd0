"""The web studio in a real browser: Debian's chromium driven by Playwright (pytest-playwright),
against a whole studio (API serving the web export, relay, projections, saga, draft workers) on
topics and a database of its own. Each screen a test visits is checked with axe-core (no serious
or critical violation) and saved as a screenshot under the test's output folder (`--output`,
default `test-results/`)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from adapters.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import start_studio
from tests.support.net import free_port

CHROMIUM = Path("/usr/bin/chromium")
WEB = PROJECT_ROOT / "web"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium (Playwright cannot download its own browser here), without the sandbox
    (it needs user namespaces, and root may not use it), and free to autoplay."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make bootstrap` installs Debian's chromium")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    }


@pytest.fixture(scope="session")
def web_export() -> Path:
    """The web studio's static export, built (or found up to date) by deploy/local/web.sh."""
    built = subprocess.run(
        [str(PROJECT_ROOT / "deploy" / "local" / "web.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, f"the web studio did not build:\n{built.stdout}{built.stderr}"
    assert AXE.exists(), f"{AXE} is missing: axe-core is a devDependency of web/"
    return WEB / "out"


@pytest.fixture(scope="module")
def web_studio(
    web_export: Path,
    isolated_settings: Callable[[], Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """A whole studio serving the web export; yields its URL, settings and an admin's headers."""
    media = tmp_path_factory.mktemp("media")
    settings = isolated_settings().model_copy(update={"api_port": free_port(), "media_dir": media})
    logs = tmp_path_factory.mktemp("web-studio-logs")
    base_url, processes = start_studio(settings, logs, "saga", "workers")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        token = client.post(
            "/v1/auth/token",
            data={"username": settings.admin_email, "password": settings.secret("admin_password")},
        )
        assert token.status_code == 200, token.text
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield {"url": base_url, "settings": settings, "api": client, "admin": admin, "logs": logs}
    for process in reversed(processes):
        process.stop()


class Screens:
    """Visits of a test's screens: each checked with axe-core and saved as a screenshot."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.seen: list[str] = []

    def check(self, name: str) -> None:
        """The current screen, once it has settled: no serious or critical axe violation, and a
        full-page screenshot `NN-name.png`."""
        self.page.wait_for_load_state("networkidle")
        self.page.add_script_tag(path=str(AXE))
        violations = self.page.evaluate(
            """async (serious) => (await axe.run(document)).violations
                .filter((v) => serious.includes(v.impact))
                .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.map((n) => n.target.join(' '))}))""",
            list(SERIOUS),
        )
        self.seen.append(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=self.folder / f"{len(self.seen):02d}-{name}.png", full_page=True)
        assert violations == [], f"axe-core on the {name} screen ({self.page.url}): {violations}"


@pytest.fixture
def screens(page: Page, output_path: str) -> Screens:
    return Screens(page, Path(output_path))
