"""Pure helpers of `filmstudio render`: script formats, progress bars, the SSE reader."""

from __future__ import annotations

import io
from pathlib import Path

from filmstudio.apiclient import iter_sse
from filmstudio.render import Board, bar, script_format


def test_script_format_from_the_extension():
    assert script_format(Path("a/the-lamp.fountain")) == "fountain"
    assert script_format(Path("the-lamp.FOUNTAIN")) == "fountain"
    assert script_format(Path("notes.txt")) == "plain"
    assert script_format(Path("script")) == "plain"


def test_bars():
    assert bar(0, 0, "pending", width=4) == "----"
    assert bar(1, 2, "running", width=4) == "##--"
    assert bar(0, 0, "completed", width=4) == "####"
    assert bar(3, 3, "completed", width=4) == "####"


def test_sse_reader_joins_data_lines_and_skips_comments():
    lines = [
        ": heartbeat",
        "",
        "event: snapshot",
        'data: {"a":',
        "data: 1}",
        "",
        "data: plain",
        "",
        "event: end",
        'data: {"status": "completed"}',
    ]
    assert list(iter_sse(lines)) == [
        ("snapshot", '{"a":\n1}'),
        ("message", "plain"),
        ("end", '{"status": "completed"}'),
    ]


def view(status: str, done: int) -> dict:
    stage = {"stage": "music", "status": status, "done": done, "total": 2}
    return {"status": "running", "progress": done / 4, "stages": [stage]}


def test_board_prints_a_line_per_change_off_a_terminal():
    out = io.StringIO()
    board = Board(out, live=False)
    board.snapshot(view("running", 1))
    board.snapshot(view("running", 1))
    board.tick({"stage": "music", "unit": "scene-1", "status": "completed"})
    board.snapshot(view("completed", 2))
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["music", "overall", "music", "overall"]
    assert lines[2].endswith("completed") and "2/2" in lines[2]


def test_board_redraws_in_place_on_a_terminal():
    out = io.StringIO()
    board = Board(out, live=True)
    board.snapshot(view("running", 1))
    board.tick({"stage": "music", "unit": "scene-1", "status": "completed"})
    assert out.getvalue().count("\x1b[2F") == 1  # one stage line and the summary, redrawn
    assert "music scene-1 completed" in out.getvalue()
