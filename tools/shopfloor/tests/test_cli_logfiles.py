"""The local stack's log files (shopfloor.local.logfiles): every line JSON, service lines kept as
they are, other lines wrapped with a guessed level, files capped, and fast enough to sit in front
of the console."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from shopfloor.local.console import Console
from shopfloor.local.logfiles import LevelGuess, LogFiles

SERVICE_LINE = orjson.dumps(
    {
        "level": "INFO",
        "logger": "shopfloor.access",
        "message": "GET /products/sku-1 200",
        "method": "GET",
        "path": "/products/sku-1",
        "route": "/products/{sku}",
        "status": 200,
        "duration_ms": 1.23,
        "service": "catalog",
        "request_id": "0123456789abcdef0123456789abcdef",
        "time": "2026-11-30T15:42:03.317358+00:00",
    }
).decode()

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/catalog/db.py", line 12, in connect',
    "    raise ValueError('first')",
    "ValueError: first",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/catalog/__main__.py", line 3, in <module>',
    "RuntimeError: the database is gone",
]


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_service_json_line_is_written_as_it_is(tmp_path: Path) -> None:
    files = LogFiles(tmp_path)
    files("catalog", SERVICE_LINE)
    files.close()
    assert (tmp_path / "catalog.jsonl").read_text() == SERVICE_LINE + "\n"


def test_other_lines_are_wrapped_as_records_with_a_guessed_level(tmp_path: Path) -> None:
    files = LogFiles(tmp_path)
    for line in ["INFO:     Started server process [7]", *TRACEBACK, "WARNING: low disk", "shutting down"]:
        files("catalog", line)
    files.close()
    written = records(tmp_path / "catalog.jsonl")
    assert [record["message"] for record in written] == [
        "INFO:     Started server process [7]",
        *TRACEBACK,
        "WARNING: low disk",
        "shutting down",
    ]
    assert {record["service"] for record in written} == {"catalog"}
    # The whole chained traceback is ERROR, up to and including the exception that ends it.
    assert [record["level"] for record in written] == ["INFO"] + ["ERROR"] * len(TRACEBACK) + ["WARNING", "INFO"]
    times = [datetime.fromisoformat(record["time"]) for record in written]
    assert {t.utcoffset() for t in times} == {timedelta(0)}, "UTC, as the services write"
    assert times == sorted(set(times))


def test_lines_stamped_within_one_clock_tick_keep_their_order(tmp_path: Path) -> None:
    """A traceback's lines arrive together; the query orders by time, so each must get a later
    time than the one before, even from a clock that has not moved (or went back)."""
    tick = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    files = LogFiles(tmp_path, clock=lambda: tick)
    for line in TRACEBACK:
        files("catalog", line)
    files.close()
    times = [datetime.fromisoformat(record["time"]) for record in records(tmp_path / "catalog.jsonl")]
    assert times == [tick + timedelta(microseconds=n) for n in range(len(TRACEBACK))]


def test_json_that_is_not_a_record_gets_time_and_service_or_is_wrapped(tmp_path: Path) -> None:
    files = LogFiles(tmp_path)
    files("alpha", '{"level": "INFO", "message": "listening", "port": 8081}')
    files("alpha", '{"message": "cut off')
    files("alpha", "[1, 2]")
    files.close()
    completed, broken, array = records(tmp_path / "alpha.jsonl")
    assert completed["service"] == "alpha"
    assert completed["port"] == 8081
    assert completed["message"] == "listening"
    assert datetime.fromisoformat(completed["time"])
    assert broken["message"] == '{"message": "cut off'
    assert broken["level"] == "INFO"
    assert array["message"] == "[1, 2]"


def test_the_level_guess_ends_a_traceback_at_its_exception_line() -> None:
    guess = LevelGuess()
    assert [guess(line) for line in TRACEBACK[:4]] == ["ERROR"] * 4
    assert guess("GET /products 200") == "INFO"
    assert guess("error: something") == "ERROR"
    assert guess("warn: something") == "WARNING"


def test_the_console_gets_every_line_unchanged(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    files = LogFiles(tmp_path, then=lambda name, line: seen.append((name, line)))
    files("catalog", SERVICE_LINE)
    files("edge", "GET /api: answering 503 'starting'")
    files.close()
    assert seen == [("catalog", SERVICE_LINE), ("edge", "GET /api: answering 503 'starting'")]


def test_files_are_capped_keeping_the_newest_lines(tmp_path: Path) -> None:
    cap = 4096
    files = LogFiles(tmp_path, max_bytes=cap)
    for number in range(200):  # about 40 times the cap
        files("orders", f"line {number:04d}")
    files.close()
    current, previous = tmp_path / "orders.jsonl", tmp_path / "orders.1.jsonl"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.1.jsonl", "orders.jsonl"]
    assert current.stat().st_size <= cap
    assert previous.stat().st_size <= cap
    kept = [record["message"] for record in records(previous) + records(current)]
    assert kept[-1] == "line 0199"
    assert kept == [f"line {n:04d}" for n in range(200 - len(kept), 200)], "the newest lines, in order"
    assert len(kept) * 60 > cap, "more than one file's worth is kept"


def test_a_new_run_appends_and_counts_what_the_file_already_holds(tmp_path: Path) -> None:
    cap = 4096
    first = LogFiles(tmp_path, max_bytes=cap)
    first("orders", SERVICE_LINE)
    first.close()
    first("orders", SERVICE_LINE)  # a late line after close opens the file again
    first.close()
    second = LogFiles(tmp_path, max_bytes=cap)
    second("orders", SERVICE_LINE)
    assert (tmp_path / "orders.jsonl").read_text() == (SERVICE_LINE + "\n") * 3
    for _ in range(cap // len(SERVICE_LINE)):  # under the cap alone; over it with the three before
        second("orders", SERVICE_LINE)
    second.close()
    rotated = tmp_path / "orders.1.jsonl"
    assert rotated.exists(), "the lines written before this writer opened the file count towards the cap"
    assert rotated.stat().st_size <= cap


def test_an_unwritable_folder_is_reported_once_and_the_console_keeps_going(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the folder should be")
    errors: list[str] = []
    seen: list[str] = []
    files = LogFiles(blocker, then=lambda _name, line: seen.append(line), on_error=errors.append)
    files("catalog", SERVICE_LINE)
    files("catalog", SERVICE_LINE)
    assert seen == [SERVICE_LINE, SERVICE_LINE]
    assert len(errors) == 1
    assert str(blocker / "catalog.jsonl") in errors[0]


def test_a_cap_that_is_not_positive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        LogFiles(tmp_path, max_bytes=0)


def _lines_per_second(sink: Any, line: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        sink("catalog", line)
    return count / (time.perf_counter() - started)


def test_the_writer_keeps_up_with_the_console(tmp_path: Path) -> None:
    """The writer sits in the event loop in front of the console: it must cost no more per line
    than the console itself (measured side by side, best of three rounds against noise)."""
    with (tmp_path / "console.txt").open("w") as stream:
        console = Console(["catalog"], stream=stream, color=False)
        writer = LogFiles(tmp_path / "logs", max_bytes=1 << 30)
        both = LogFiles(tmp_path / "both", then=console.service_line, max_bytes=1 << 30)
        rates: dict[str, float] = {"console": 0.0, "writer": 0.0, "writer + console": 0.0}
        for _ in range(3):
            for name, sink in (("console", console.service_line), ("writer", writer), ("writer + console", both)):
                rates[name] = max(rates[name], _lines_per_second(sink, SERVICE_LINE, 10_000))
        writer.close()
        both.close()
    print("\nlines/s: " + ", ".join(f"{name} {rate:,.0f}" for name, rate in rates.items()))
    assert rates["writer"] >= rates["console"], rates
    assert rates["writer + console"] >= rates["console"] / 2.5, rates
