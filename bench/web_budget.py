"""The web studio's first-load budget, Lighthouse-style, in Debian's chromium (Playwright).

    .venv/bin/python -m bench.web_budget                  # serves web/out itself
    .venv/bin/python -m bench.web_budget --url http://127.0.0.1:8000 --runs 5

For each page, over a few cold loads (a fresh browser context each: nothing cached), it prints
1. the JavaScript the page loads, gzipped (each script's body compressed at level 6, as a gzip
   server or CDN would send it), against 300 KB, beside the bytes the server actually sent (the
   API gzips the export too);
2. the time to interactive: from the navigation's start until the first visible, enabled button
   or link that React has hydrated (it carries React's props), against 2 s; and the Navigation
   Timing `domInteractive` beside it.
It prints figures and verdicts only; nothing asserts on them. Build the export first
(`deploy/local/web.sh`).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from playwright.sync_api import Browser, Response, sync_playwright
from starlette.applications import Starlette

from api.web import WEB_OUT, WebStudio
from tests.support.net import free_port

JS_BUDGET_BYTES = 300 * 1024
TTI_BUDGET_SECONDS = 2.0
CHROMIUM = "/usr/bin/chromium"
PAGES = ("/", "/signin/", "/projects/", "/project/?id=00000000-0000-0000-0000-000000000000")
HYDRATED_CONTROL = """() => {
  const hydrated = (el) => Object.keys(el).some((k) => k.startsWith('__reactProps'));
  const control = [...document.querySelectorAll('button, a[href]')].find(
    (el) => el.offsetParent !== null && !el.disabled && hydrated(el));
  return control ? performance.now() : false;
}"""


@dataclass
class Load:
    js_files: int
    js_raw: int
    js_gzip: int
    js_transferred: int
    interactive_s: float
    dom_interactive_s: float


@dataclass
class PageFigures:
    path: str
    loads: list[Load] = field(default_factory=list)


@contextmanager
def serve_export() -> Iterator[str]:
    """web/out served as the API serves it, on a free port; yields the base URL."""
    if not WEB_OUT.is_dir():
        raise SystemExit(f"{WEB_OUT} is missing: build it with deploy/local/web.sh")
    app = Starlette()
    app.router.default = WebStudio(WEB_OUT, app.router.not_found)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def cold_load(browser: Browser, url: str) -> Load:
    """One load in a fresh context: the scripts it fetched and when it became interactive."""
    context = browser.new_context()
    page = context.new_page()
    scripts: list[Response] = []
    page.on(
        "response",
        lambda response: (
            scripts.append(response) if response.request.resource_type == "script" else None
        ),
    )
    page.goto(url, wait_until="commit")
    interactive_ms = page.wait_for_function(HYDRATED_CONTROL, timeout=30_000).json_value()
    page.wait_for_load_state("networkidle")
    dom_ms = page.evaluate("() => performance.getEntriesByType('navigation')[0].domInteractive")
    loaded = [response for response in scripts if response.ok]
    bodies = [response.body() for response in loaded]
    transferred = sum(response.request.sizes()["responseBodySize"] for response in loaded)
    context.close()
    return Load(
        js_files=len(bodies),
        js_raw=sum(len(body) for body in bodies),
        js_gzip=sum(len(gzip.compress(body, compresslevel=6)) for body in bodies),
        js_transferred=transferred,
        interactive_s=float(interactive_ms) / 1000,
        dom_interactive_s=float(dom_ms) / 1000,
    )


def measure(base_url: str, pages: list[str], runs: int) -> list[PageFigures]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            cold_load(browser, base_url + pages[0])  # warms the server and the disk cache
            figures = []
            for path in pages:
                page = PageFigures(path)
                page.loads = [cold_load(browser, base_url + path) for _ in range(runs)]
                figures.append(page)
            return figures
        finally:
            browser.close()


def report(figures: list[PageFigures]) -> None:
    print(f"{'page':<24} {'JS files':>8} {'JS raw KB':>10} {'JS gzip KB':>11} {'sent KB':>8} "
          f"{'TTI median s':>13} {'TTI max s':>10} {'domInteractive s':>17}  verdict")  # fmt: skip
    for page in figures:
        last = page.loads[-1]
        tti = [load.interactive_s for load in page.loads]
        dom = statistics.median(load.dom_interactive_s for load in page.loads)
        gzip_max = max(load.js_gzip for load in page.loads)
        within = gzip_max <= JS_BUDGET_BYTES and statistics.median(tti) <= TTI_BUDGET_SECONDS
        print(
            f"{page.path[:24]:<24} {last.js_files:>8} {last.js_raw / 1024:>10.1f} "
            f"{gzip_max / 1024:>11.1f} {last.js_transferred / 1024:>8.1f} "
            f"{statistics.median(tti):>13.3f} {max(tti):>10.3f} "
            f"{dom:>17.3f}  {'within budget' if within else 'OVER BUDGET'}"
        )
    print(f"budgets: {JS_BUDGET_BYTES // 1024} KB of JavaScript (gzip), interactive in "
          f"{TTI_BUDGET_SECONDS:.0f} s (median of the cold loads)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running studio (default: serve web/out here)")
    parser.add_argument("--runs", type=int, default=5, help="cold loads per page")
    parser.add_argument("--pages", nargs="+", default=list(PAGES))
    args = parser.parse_args()
    if args.url:
        report(measure(args.url.rstrip("/"), args.pages, args.runs))
        return
    with serve_export() as base_url:
        report(measure(base_url, args.pages, args.runs))


if __name__ == "__main__":
    main()
