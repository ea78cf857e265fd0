"""`filmstudio render SCRIPT`: render a script into a film on the running studio, as a creator.

Logs in the local creator (granting credits as the admin when the balance is short), creates a
project, uploads the script, requests a production, follows its live progress stage by stage, and
downloads the film (and its subtitles) beside `-o`.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
import httpx

from adapters.settings import Settings, get_settings
from domain.project import ASPECT_RATIOS, LANGUAGES, MAX_TITLE_LENGTH
from domain.stages import STAGES
from filmstudio.apiclient import api_url, checked, detail, grant_credits, iter_sse, local_creator

BAR_WIDTH = 24
RECONNECT_SECONDS = 2.0
MAX_RECONNECTS = 30
STREAM_TIMEOUT = httpx.Timeout(30.0, read=90.0)  # heartbeats come every 15 s
DOWNLOAD_CHUNK = 256 * 1024
READ_RETRY_SECONDS = 30.0


def script_format(path: Path) -> str:
    """The API's script format for a file: Fountain by its extension, else plain text."""
    return "fountain" if path.suffix.lower() == ".fountain" else "plain"


def bar(done: int, total: int, status: str, width: int = BAR_WIDTH) -> str:
    """A text progress bar of a stage."""
    if status == "completed":
        filled = width
    else:
        filled = 0 if total == 0 else min(width, done * width // total)
    return "#" * filled + "-" * (width - filled)


def stage_line(stage: dict[str, Any]) -> str:
    counts = f"{stage['done']}/{stage['total']}" if stage["total"] else "-"
    return (
        f"  {stage['stage']:<17} [{bar(stage['done'], stage['total'], stage['status'])}] "
        f"{counts:>7}  {stage['status']}"
    )


class Board:
    """The stages' progress bars: redrawn in place on a terminal, else a line per change."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self.stages: list[dict[str, Any]] = [
            {"stage": s, "status": "pending", "done": 0, "total": 0} for s in STAGES
        ]
        self.progress = 0.0
        self.status = "requested"
        self.last = ""
        self.drawn = 0
        self.printed: dict[str, str] = {}

    def snapshot(self, view: dict[str, Any]) -> None:
        self.stages = view.get("stages") or self.stages
        self.progress = float(view.get("progress", 0.0))
        self.status = view.get("status", self.status)
        self.draw()

    def tick(self, tick: dict[str, Any]) -> None:
        what = " ".join(part for part in (tick.get("stage"), tick.get("unit")) if part)
        self.last = f"{what} {tick.get('status', '')}".strip()
        if tick.get("detail"):
            self.last += f" ({tick['detail'][:80]})"
        if self.live:
            self.draw()

    def draw(self) -> None:
        summary = f"  overall {self.progress:6.1%}  {self.status}"
        if self.live:
            lines = [stage_line(s) for s in self.stages]
            lines.append(f"{summary}  {self.last}"[:120])
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self.drawn = len(lines)
        else:
            for stage in self.stages:
                line = stage_line(stage)
                if self.printed.get(stage["stage"]) != line:
                    self.printed[stage["stage"]] = line
                    self.out.write(line + "\n")
            if self.printed.get("") != summary:
                self.printed[""] = summary
                self.out.write(summary + "\n")
        self.out.flush()


def follow(
    client: httpx.Client,
    headers: dict[str, str],
    production_id: str,
    position: int,
    board: Board,
    login: Callable[[], dict[str, str]],
) -> dict[str, Any]:
    """Follow the production's event stream to its end (reconnecting); its last snapshot.

    `position` is the request's: the stream starts once the read model shows the production.
    An expired token is renewed with `login` (`headers` is updated in place).
    """
    last: dict[str, Any] = {}
    failures = 0
    while True:
        try:
            with client.stream(
                "GET",
                f"/v1/productions/{production_id}/events",
                headers=headers,
                params={"min_position": position},
                timeout=STREAM_TIMEOUT,
            ) as response:
                if response.status_code == 401 and failures < MAX_RECONNECTS:
                    headers.update(login())
                    failures += 1
                    continue
                if response.status_code >= 400 and response.status_code != 503:
                    response.read()
                    raise click.ClickException(
                        f"following the production: {response.status_code} {detail(response)}"
                    )
                lines = response.iter_lines() if response.status_code < 400 else iter(())
                for event, data in iter_sse(lines):
                    failures = 0
                    if event == "snapshot":
                        last = json.loads(data)
                        board.snapshot(last)
                    elif event == "tick":
                        board.tick(json.loads(data))
                    elif event == "end":
                        return last
                    elif event == "error":
                        break
        except httpx.TransportError:
            pass
        failures += 1
        if failures > MAX_RECONNECTS:
            raise click.ClickException("lost the production's progress stream; is the API up?")
        time.sleep(RECONNECT_SECONDS)


def download(client: httpx.Client, headers: dict[str, str], path: str, target: Path) -> int:
    """Stream one media file to `target` (written whole, then renamed); its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    try:
        with client.stream("GET", path, headers=headers, timeout=STREAM_TIMEOUT) as response:
            if response.status_code >= 400:
                response.read()
                raise click.ClickException(f"GET {path}: {response.status_code} {detail(response)}")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    out.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def read(client: httpx.Client, path: str, **kwargs: Any) -> dict[str, Any]:
    """A query, retried while the read model catches up (503 with Retry-After)."""
    deadline = time.monotonic() + READ_RETRY_SECONDS
    while True:
        response = client.get(path, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return checked(response)
        time.sleep(float(response.headers.get("Retry-After", "1")))


def _ensure_credits(
    client: httpx.Client,
    settings: Settings,
    headers: dict[str, str],
    user_id: str,
    project_id: str,
    quality: str,
    position: int,
) -> None:
    """Grant the local creator what the estimate needs beyond the balance, as the admin."""
    seen = {"min_position": position}  # read the script just uploaded
    needed = read(
        client,
        f"/v1/projects/{project_id}/estimate",
        headers=headers,
        params={"quality": quality, **seen},
    )["credits"]
    balance = read(client, "/v1/credits", headers=headers, params=seen)["balance"]
    if balance < needed:
        grant_credits(client, settings, user_id, needed - balance, "filmstudio render")
        click.echo(f"granted {needed - balance} credits to the local creator")


@click.command("render")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="default: SCRIPT.mp4"
)
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    help="the script's language (default: the studio reads it from the script's words)",
)
@click.option("--aspect", type=click.Choice(ASPECT_RATIOS), default="16:9", show_default=True)
@click.option(
    "--quality", type=click.Choice(["draft", "final"]), default="draft", show_default=True
)
@click.option("--title", help="default: from the script's file name")
@click.option("--burn-subtitles", is_flag=True, help="draw the subtitles into the picture")
@click.option(
    "--subtitles",
    "subtitle_languages",
    multiple=True,
    type=click.Choice(LANGUAGES),
    help="also subtitle in this language (translated: final quality); repeatable",
)
@click.option("--style", help="an installed image style (LoRA) of the final quality")
@click.option(
    "--voice",
    "voices",
    multiple=True,
    metavar="CHARACTER=VOICE",
    help="cast a voice, e.g. MEERA=clone:<sample id>/0 or NARRATOR=espeak:hi/0; repeatable",
)
@click.option("--api", "api", help="the studio API's base URL (default: the local one)")
def render(
    script: Path,
    output: Path | None,
    language: str | None,
    aspect: str,
    quality: str,
    title: str | None,
    burn_subtitles: bool,
    subtitle_languages: tuple[str, ...],
    style: str | None,
    voices: tuple[str, ...],
    api: str | None,
) -> None:
    """Render SCRIPT (.fountain or plain text) into a film on the running studio."""
    cast = dict(v.split("=", 1) for v in voices if "=" in v)
    if len(cast) != len(voices):
        raise click.BadParameter("a voice is cast as CHARACTER=VOICE", param_hint="--voice")
    settings = get_settings()
    output = output or Path(script.stem + ".mp4")
    title = title or script.stem.replace("-", " ").replace("_", " ").strip().title() or "Untitled"
    base_url = api or api_url(settings)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        try:
            client.get("/healthz").raise_for_status()
        except httpx.HTTPError:
            raise click.ClickException(
                f"the studio API at {base_url} does not answer; start it with `filmstudio up`"
            ) from None
        user_id, headers = local_creator(client, settings)
        project_id = checked(
            client.post(
                "/v1/projects",
                headers=headers,
                json={
                    "title": title[:MAX_TITLE_LENGTH],
                    **({"language": language} if language else {}),
                    "aspect_ratio": aspect,
                },
            )
        )["project_id"]
        revised = checked(
            client.put(
                f"/v1/projects/{project_id}/script",
                headers=headers,
                json={"format": script_format(script), "text": script.read_text()},
            )
        )
        _ensure_credits(
            client, settings, headers, user_id, project_id, quality, revised["position"]
        )
        accepted = checked(
            client.post(
                f"/v1/projects/{project_id}/productions",
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                json={
                    "quality": quality,
                    **({"language": language} if language else {}),
                    "languages": list(
                        dict.fromkeys([*([language] if language else []), *subtitle_languages])
                    ),
                    "aspect_ratio": aspect,
                    "burn_subtitles": burn_subtitles,
                    "voices": cast,
                    **({"style": style} if style else {}),
                },
            )
        )
        production_id = accepted["production_id"]
        click.echo(
            f"production {production_id} of {title!r} "
            f"({accepted['reserved_credits']} credits reserved)"
        )
        board = Board(sys.stdout, live=sys.stdout.isatty())
        try:
            final = follow(
                client,
                headers,
                production_id,
                accepted["position"],
                board,
                lambda: local_creator(client, settings)[1],
            )
        except KeyboardInterrupt:
            raise click.ClickException(
                f"stopped following; production {production_id} goes on in the studio"
            ) from None
        status = final.get("status")
        if status == "failed":
            raise click.ClickException(f"the production failed: {final.get('failure') or '?'}")
        if status != "completed" or not final.get("links"):
            reason = final.get("cancel_reason") or status
            raise click.ClickException(f"the production did not complete: {reason}")
        links = final["links"]
        size = download(client, headers, links["film"], output)
        click.echo(
            f"film: {output} ({size / 1e6:.1f} MB, {final.get('duration_seconds') or 0:.1f} s)"
        )
        for lang, formats in links["subtitles"].items():
            for kind, path in formats.items():
                target = output.with_name(f"{output.stem}.{lang}.{kind}")
                download(client, headers, path, target)
                click.echo(f"subtitles: {target}")
