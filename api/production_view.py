"""A production as a creator sees it: stages in graph order, units, overall progress, media links.

Pure functions over the read model's rows (`ReadModels.production_detail`), shared by
`GET /v1/productions/{id}` and its Server-Sent Events stream.
"""

from __future__ import annotations

import re
from typing import Any

from domain.stages import STAGE_NEEDS, STAGES

SUBTITLES_PREFIX = "subtitles."
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting "shot-2" before "shot-10"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part
    )


def _downstream(stage: str) -> set[str]:
    """Every stage that needs `stage`, directly or through others."""
    found: set[str] = set()
    frontier = [stage]
    while frontier:
        current = frontier.pop()
        for name, needs in STAGE_NEEDS.items():
            if current in needs and name not in found:
                found.add(name)
                frontier.append(name)
    return found


DOWNSTREAM = {stage: _downstream(stage) for stage in STAGES}


def stage_status(unit_statuses: list[str], started_after: bool, finished_ok: bool) -> str:
    """pending, running, completed or failed, from the stage's units.

    A stage without units is completed when a stage after it has started or the production
    completed (a stage may start with no units: lip sync where nobody speaks), else pending.
    """
    if not unit_statuses:
        return "completed" if started_after or finished_ok else "pending"
    if "failed" in unit_statuses:
        return "failed"
    if all(status == "completed" for status in unit_statuses):
        return "completed"
    return "running"


def stage_views(units: list[dict[str, Any]], production_status: str) -> list[dict[str, Any]]:
    """One entry per stage of the graph, in graph order, with its units."""
    by_stage: dict[str, list[dict[str, Any]]] = {stage: [] for stage in STAGES}
    for unit in units:
        by_stage.setdefault(unit["stage"], []).append(unit)
    started = {stage for stage, rows in by_stage.items() if rows}
    views = []
    for stage in STAGES:
        rows = sorted(by_stage[stage], key=lambda row: natural_key(row["unit"]))
        status = stage_status(
            [row["status"] for row in rows],
            started_after=bool(DOWNSTREAM[stage] & started),
            finished_ok=production_status == "completed",
        )
        views.append(
            {
                "stage": stage,
                "status": status,
                "done": sum(row["status"] == "completed" for row in rows),
                "total": len(rows),
                "units": [
                    {
                        "unit": row["unit"],
                        "attempt": row["attempt"],
                        "status": row["status"],
                        "error": row["error"],
                    }
                    for row in rows
                ],
            }
        )
    return views


def stage_fraction(stage: dict[str, Any]) -> float:
    """How far one stage is: 1 once completed, else its units done / its units planned."""
    if stage["status"] == "completed":
        return 1.0
    return 0.0 if stage["total"] == 0 else stage["done"] / stage["total"]


def overall_progress(stages: list[dict[str, Any]], production_status: str) -> float:
    """The mean of the stages' fractions: each stage weighs the same whatever its unit count, so
    planning a later stage's units never makes the figure step back (a stage plans all its
    units at once, and units done are never undone)."""
    if production_status == "completed":
        return 1.0
    if not stages:
        return 0.0
    return round(min(sum(stage_fraction(s) for s in stages) / len(stages), 1.0), 4)


def subtitle_languages(artifacts: dict[str, str]) -> list[str]:
    """The languages a completed production has subtitles in."""
    return sorted(
        name.removeprefix(SUBTITLES_PREFIX)
        for name in artifacts
        if name.startswith(SUBTITLES_PREFIX) and len(name) > len(SUBTITLES_PREFIX)
    )


def media_links(production_id: str, artifacts: dict[str, str]) -> dict[str, Any]:
    """The API paths of a completed production's film, thumbnail and subtitles."""
    base = f"/v1/productions/{production_id}"
    return {
        "film": f"{base}/film",
        "thumbnail": f"{base}/thumbnail.jpg",
        "subtitles": {
            lang: {"vtt": f"{base}/subtitles/{lang}.vtt", "srt": f"{base}/subtitles/{lang}.srt"}
            for lang in subtitle_languages(artifacts)
        },
    }


def production_view(row: dict[str, Any]) -> dict[str, Any]:
    """The `ProductionOut` body from a `production_detail` row."""
    view = {key: value for key, value in row.items() if key not in ("units", "artifacts")}
    status = row["status"]
    stages = stage_views(row.get("units") or [], status)
    artifacts = row.get("artifacts") or {}
    view["stages"] = stages
    view["progress"] = overall_progress(stages, status)
    view["links"] = (
        media_links(str(row["production_id"]), artifacts)
        if status == "completed" and "film" in artifacts
        else None
    )
    return view
