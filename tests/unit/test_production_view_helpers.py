"""Pure helpers of the production views: stages and progress, byte ranges, the live stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from adapters.kafka import partition_for
from api import models
from api.live import production_events, sse
from api.media_routes import ByteRange, RangeNotSatisfiable, parse_range
from api.production_view import (
    natural_key,
    overall_progress,
    production_view,
    stage_views,
    subtitle_languages,
)
from domain.stages import STAGES
from schemas.work import ProgressTick


def unit(stage: str, name: str, status: str = "running", attempt: int = 1, error: str = "") -> dict:
    return {"stage": stage, "unit": name, "attempt": attempt, "status": status, "error": error}


# Stages and progress


def test_units_sort_naturally():
    assert sorted(["shot-10", "shot-2", "shot-1"], key=natural_key) == [
        "shot-1",
        "shot-2",
        "shot-10",
    ]


def test_stages_in_graph_order_with_their_status():
    units = [
        unit("script_analysis", "script", "completed"),
        unit("image_generation", "shot-2", "running", 2, "boom"),
        unit("image_generation", "shot-1", "completed"),
        unit("voice_synthesis", "line-1", "failed", 3, "no voice"),
    ]
    stages = stage_views(units, "failed")
    assert [s["stage"] for s in stages] == list(STAGES)
    by = {s["stage"]: s for s in stages}
    assert (by["script_analysis"]["status"], by["script_analysis"]["done"]) == ("completed", 1)
    images = by["image_generation"]
    assert (images["status"], images["done"], images["total"]) == ("running", 1, 2)
    assert [u["unit"] for u in images["units"]] == ["shot-1", "shot-2"]
    assert images["units"][1] == {
        "unit": "shot-2",
        "attempt": 2,
        "status": "running",
        "error": "boom",
    }
    assert by["voice_synthesis"]["status"] == "failed"
    assert by["music"] == {
        "stage": "music",
        "status": "pending",
        "done": 0,
        "total": 0,
        "units": [],
    }


def test_a_stage_without_units_is_complete_once_a_later_stage_started():
    units = [unit("composition", "film")]
    assert {s["stage"]: s["status"] for s in stage_views(units, "running")}[
        "lip_sync"
    ] == "completed"
    assert {s["stage"]: s["status"] for s in stage_views([], "completed")}[
        "lip_sync"
    ] == "completed"
    assert {s["stage"]: s["status"] for s in stage_views([], "running")}["lip_sync"] == "pending"


def test_progress_is_the_mean_of_the_stages_fractions():
    stages = len(stage_views([], "requested"))
    assert overall_progress(stage_views([], "requested"), "requested") == 0.0
    units = [
        unit("script_analysis", "script", "completed"),
        unit("image_generation", "shot-1", "completed"),
        unit("image_generation", "shot-2"),
        unit("image_generation", "shot-3"),
    ]
    assert overall_progress(stage_views(units, "running"), "running") == round(
        (1 + 1 / 3) / stages, 4
    )
    assert overall_progress(stage_views(units, "completed"), "completed") == 1.0


def test_progress_never_steps_back_when_a_later_stage_plans_many_units():
    """The CLI's figure used to fall (80% to 74%) once a stage's units were planned."""
    units = [unit("script_analysis", "script", "completed")]
    shots = [f"shot-{n}" for n in range(1, 41)]
    seen = [overall_progress(stage_views(units, "running"), "running")]
    units += [unit("image_generation", shot) for shot in shots]  # 40 units planned at once
    seen.append(overall_progress(stage_views(units, "running"), "running"))
    for n, shot in enumerate(shots):
        units[1 + n] = unit("image_generation", shot, "completed")
        seen.append(overall_progress(stage_views(units, "running"), "running"))
    units += [unit("voice_synthesis", f"line-{n}") for n in range(1, 200)]
    seen.append(overall_progress(stage_views(units, "running"), "running"))
    assert seen == sorted(seen), f"the progress stepped back: {seen}"
    assert seen[-1] > seen[0]


def test_view_links_to_the_media_once_completed():
    row = {
        "production_id": uuid.UUID(int=7),
        "status": "completed",
        "artifacts": {"film": "f" * 64, "storyboard": "b" * 64, "subtitles.hi": "h" * 64},
        "units": [],
    }
    view = production_view(row)
    base = f"/v1/productions/{uuid.UUID(int=7)}"
    assert view["links"] == {
        "film": f"{base}/film",
        "thumbnail": f"{base}/thumbnail.jpg",
        "subtitles": {"hi": {"vtt": f"{base}/subtitles/hi.vtt", "srt": f"{base}/subtitles/hi.srt"}},
    }
    assert "artifacts" not in view and "units" not in view
    assert production_view({**row, "status": "running"})["links"] is None
    assert subtitle_languages({"subtitles.": "x", "subtitles.en": "y", "film": "z"}) == ["en"]


# Byte ranges


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("Bytes = 5 - 5", ByteRange(5, 5)),
        ("bytes=999-999", ByteRange(999, 999)),
    ],
)
def test_ranges_are_clamped_to_the_file(header, expected):
    found = parse_range(header, 1000)
    assert found == expected
    assert found.content_range(1000) == f"bytes {expected.start}-{expected.end}/1000"
    assert found.length == expected.end - expected.start + 1


@pytest.mark.parametrize(
    "header", [None, "", "items=0-5", "bytes=5-2", "bytes=-", "bytes=a-b", "bytes=0-1,5-6", "0-5"]
)
def test_absent_malformed_or_multiple_ranges_mean_the_whole_file(header):
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=0-", 0)]
)
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


# The live stream


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_partition_is_javas_murmur2_partition(key, expected):
    """Java's Utils.murmur2 values (signed); the partition is its positive part modulo."""
    for partitions in (1, 3, 12):
        assert partition_for(key, partitions) == (expected & 0x7FFFFFFF) % partitions


def test_sse_frames_multiline_data():
    assert sse("tick", "a\nb") == "event: tick\ndata: a\ndata: b\n\n"


def snapshot_model(status: str, progress: float = 0.0) -> models.ProductionOut:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return models.ProductionOut(
        production_id=uuid.UUID(int=1),
        project_id=uuid.UUID(int=2),
        revision=1,
        options={},
        credits=5,
        estimated_seconds=10,
        status=status,
        cancel_reason="",
        requested_at=now,
        updated_at=now,
        progress=progress,
    )


class FakeTicks:
    def __init__(self, batches: list[list[ProgressTick]], log: list[str]) -> None:
        self.batches = batches
        self.log = log

    async def poll(self, timeout: float) -> list[ProgressTick]:
        await asyncio.sleep(0)
        return self.batches.pop(0) if self.batches else []

    async def close(self) -> None:
        self.log.append("closed")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def collect(snapshots: list[models.ProductionOut], batches: list, limit: int = 50) -> tuple:
    log: list[str] = []

    async def snapshot() -> models.ProductionOut:
        log.append("snapshot")
        return snapshots.pop(0) if len(snapshots) > 1 else snapshots[0]

    async def open_ticks() -> FakeTicks:
        log.append("opened")
        return FakeTicks(batches, log)

    async def run() -> list[str]:
        out = []
        stream = production_events(snapshot, open_ticks, heartbeat_seconds=3, clock=Clock())
        async for chunk in stream:
            out.append(chunk)
            if len(out) >= limit:
                await stream.aclose()
                break
        return out

    return asyncio.run(run()), log


def test_stream_sends_snapshot_ticks_changes_and_end():
    tick = ProgressTick(
        production_id=uuid.UUID(int=1),
        stage="music",
        unit="scene-1",
        status="started",
        at=datetime.now(UTC),
    )
    snapshots = [
        snapshot_model("running"),
        snapshot_model("running", 0.5),
        snapshot_model("completed", 1.0),
    ]
    chunks, log = collect(snapshots, [[tick]])
    assert log[:2] == ["opened", "snapshot"]  # ticks are followed before the first snapshot
    events = [chunk.split("\n")[0] for chunk in chunks]
    assert events == [
        "event: snapshot",
        "event: tick",
        "event: snapshot",
        "event: snapshot",
        "event: end",
    ]
    assert json.loads(chunks[-1].split("data: ")[1]) == {"status": "completed"}
    assert log[-1] == "closed"


def test_stream_of_a_finished_production_ends_at_once():
    chunks, log = collect([snapshot_model("cancelled")], [])
    assert [c.split("\n")[0] for c in chunks] == ["event: snapshot", "event: end"]
    assert log[-1] == "closed"


def test_stream_heartbeats_while_quiet_and_closes_when_the_client_goes():
    chunks, log = collect([snapshot_model("running")], [], limit=4)
    assert ": heartbeat\n\n" in chunks
    assert log[-1] == "closed"


def test_stream_reports_when_ticks_are_unavailable():
    async def snapshot() -> models.ProductionOut:
        return snapshot_model("running")

    async def broken() -> FakeTicks:
        raise RuntimeError("no kafka")

    async def run() -> list[str]:
        return [chunk async for chunk in production_events(snapshot, broken, 15)]

    chunks = asyncio.run(run())
    assert len(chunks) == 1 and chunks[0].startswith("event: error")
