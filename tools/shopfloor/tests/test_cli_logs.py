"""`shopfloor logs` over log files with known records: filters, order across services and rotated
files, time windows, counts, malformed lines, and bad input refused by name."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from shopfloor.cli import main
from shopfloor.observe.logs import LogFilter, LogStore, parse_status, parse_time

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
REQUEST = "req-checkout-1"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def access(service: str, seconds: float, request_id: str, status: int, path: str, ms: float = 5.0) -> dict[str, Any]:
    return {
        "level": "INFO" if status < 500 else "ERROR",
        "logger": "shopfloor.access",
        "message": f"POST {path} {status}",
        "method": "POST",
        "path": path,
        "route": path,
        "status": status,
        "duration_ms": ms,
        "service": service,
        "request_id": request_id,
        "time": at(seconds),
    }


def write(path: Path, *lines: dict[str, Any] | str) -> None:
    path.write_text("".join((line if isinstance(line, str) else orjson.dumps(line).decode()) + "\n" for line in lines))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Three services and the runner. One checkout (REQUEST) crosses the gateway, orders and
    catalog; catalog's first line of it is in the rotated file. Times are seconds after T0."""
    folder = tmp_path / "logs"
    folder.mkdir()
    write(
        folder / "api-gateway.jsonl",
        access("api-gateway", 10.0, "req-read-1", 200, "/api/products/sku-1", 3.0),
        access("api-gateway", 20.9, REQUEST, 201, "/api/orders", 900.0),
        {"level": "WARNING", "logger": "api_gateway.proxy", "message": "orders answered 503 to POST /orders: slow",
         "service": "api-gateway", "request_id": "req-fail", "time": at(30.0)},
        access("api-gateway", 30.1, "req-fail", 503, "/api/orders", 2000.0),
    )  # fmt: skip
    write(
        folder / "orders.jsonl",
        access("orders", 20.8, REQUEST, 201, "/orders", 850.0),
        {"level": "ERROR", "logger": "orders.service", "message": "reservation failed",
         "exc_info": "Traceback (most recent call last):\n  File \"x.py\", line 1\nTimeoutError: catalog Timed Out",
         "service": "orders", "request_id": "req-fail", "time": at(29.9)},
        "this line is not JSON",
        {"level": "INFO", "message": "no time here", "service": "orders"},
    )  # fmt: skip
    write(
        folder / "catalog.1.jsonl",
        access("catalog", 10.0 - 0.002, "req-read-1", 200, "/products/sku-1", 1.0),
        access("catalog", 20.1, REQUEST, 200, "/products/sku-1", 2.0),
    )
    write(
        folder / "catalog.jsonl",
        access("catalog", 20.5, REQUEST, 200, "/reservations", 4.0),
        access("catalog", 25.0, "req-missing", 404, "/products/nope", 1.0),
    )
    write(
        folder / "shopfloor.jsonl",
        {"time": at(1.0), "level": "INFO", "service": "shopfloor", "message": "catalog ready in 1.0s (pid 7)"},
    )
    return folder


def run_logs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(["logs", *argv])
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines()]


def test_one_request_across_services_in_time_order(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_logs(capsys, "--dir", str(log_dir), "--request-id", REQUEST, "--json")
    assert code == 0
    got = [(r["service"], r["path"]) for r in json_lines(out)]
    assert got == [
        ("catalog", "/products/sku-1"),  # from the rotated file
        ("catalog", "/reservations"),
        ("orders", "/orders"),
        ("api-gateway", "/api/orders"),
    ]
    assert "skipped 2 line(s) of orders.jsonl" in err


def test_json_output_is_each_record_as_written(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_logs(capsys, "--dir", str(log_dir), "--request-id", "req-missing", "--json")
    assert out == (log_dir / "catalog.jsonl").read_text().splitlines()[1] + "\n"


def test_the_table_shows_time_service_level_status_request_and_message(
    log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_logs(capsys, "--dir", str(log_dir), "--service", "orders")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["time", "(UTC)", "service", "level", "status", "request", "id", "message"]
    assert rows[0].split() == ["2026-11-30", "12:00:20.800", "orders", "INFO", "201", REQUEST, "POST", "/orders", "201"]
    # A traceback is shown by its last line; --json has all of it.
    assert rows[1].endswith("reservation failed  [TimeoutError: catalog Timed Out]")
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"services": ["catalog", "orders"]}, 6),
        ({"level": "warning"}, 3),  # the gateway's WARNING and 503, orders' ERROR
        ({"level": "error"}, 2),
        ({"statuses": ["5xx"]}, 1),
        ({"statuses": ["404"]}, 1),
        ({"statuses": ["404", "201"]}, 3),
        ({"statuses": ["2xx"], "services": ["catalog"]}, 3),
        ({"grep": "TIMED OUT"}, 1),  # in the traceback, any case
        ({"grep": "answered 503"}, 1),
        ({"since": "2026-11-30T12:00:20.5", "until": "2026-11-30T12:00:25"}, 4),  # both ends included
        ({"since": "2026-11-30T13:00:20.5+01:00", "until": "2026-11-30T12:00:25Z"}, 4),  # offsets honoured
    ],
)
def test_filters_select_the_records_they_name(log_dir: Path, options: dict[str, Any], expected: int) -> None:
    found = LogStore(log_dir).find(LogFilter.from_options(**options), limit=100)
    assert found.matched == len(found.lines) == expected, [(line.service, line.message) for line in found.lines]


def test_level_counts_the_level_and_above(log_dir: Path) -> None:
    found = LogStore(log_dir).find(LogFilter.from_options(level="warning"))
    assert sorted({line.level or "" for line in found.lines}) == ["ERROR", "WARNING"]
    assert {line.service for line in found.lines} == {"api-gateway", "orders"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("404", (404, 404)), ("5xx", (500, 599)), ("2XX", (200, 299)), (" 503 ", (503, 503))],
)
def test_a_status_is_a_code_or_a_class(text: str, expected: tuple[int, int]) -> None:
    assert parse_status(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", T0 - timedelta(seconds=90)),
        ("10m", T0 - timedelta(minutes=10)),
        ("1.5h", T0 - timedelta(minutes=90)),
        ("2d", T0 - timedelta(days=2)),
        ("2026-11-30T11:00", datetime(2026, 11, 30, 11, 0)),
        ("2026-11-30T11:00:00-02:00", datetime(2026, 11, 30, 13, 0)),
    ],
)
def test_a_time_is_a_duration_ago_or_a_utc_time(text: str, expected: datetime) -> None:
    assert parse_time(text, "--since", T0) == expected.replace(tzinfo=None)


def test_a_duration_counts_back_from_now(log_dir: Path) -> None:
    store = LogStore(log_dir)
    recent = LogFilter.from_options(since="10s", now=T0 + timedelta(seconds=31))
    assert [line.request_id for line in store.find(recent).lines] == ["req-missing", "req-fail", "req-fail", "req-fail"]
    none_yet = LogFilter.from_options(until="1h", now=T0 + timedelta(seconds=31))
    assert store.find(none_yet).matched == 0


def test_the_limit_keeps_the_newest_lines_in_time_order(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_logs(capsys, "--dir", str(log_dir), "--limit", "2", "--json")
    assert code == 0
    assert [r["time"] for r in json_lines(out)] == [at(30.0), at(30.1)]
    assert "showing the newest 2 of 11 matching lines" in err


def test_stats_count_by_service_level_and_status(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_logs(capsys, "--dir", str(log_dir), "--stats", "--json")
    assert code == 0
    stats = orjson.loads(out)
    by_service = {s["service"]: s for s in stats["services"]}
    assert set(by_service) == {"api-gateway", "catalog", "orders", "shopfloor"}
    gateway = by_service["api-gateway"]
    assert (gateway["lines"], gateway["requests"], gateway["4xx"], gateway["5xx"]) == (4, 3, 0, 1)
    assert (gateway["warnings"], gateway["errors"]) == (1, 1)
    assert by_service["catalog"]["lines"] == 4
    assert by_service["catalog"]["4xx"] == 1
    assert by_service["orders"]["errors"] == 1
    assert by_service["orders"]["requests"] == 1
    assert {"service": "catalog", "level": "INFO", "status": 200, "lines": 3} in stats["groups"]
    # Every count is of the lines the filters keep.
    code, out, _ = run_logs(capsys, "--dir", str(log_dir), "--stats", "--json", "--status", "2xx")
    gateway = next(s for s in orjson.loads(out)["services"] if s["service"] == "api-gateway")
    assert (gateway["lines"], gateway["requests"], gateway["5xx"], gateway["errors"]) == (2, 2, 0, 0)
    code, out, _ = run_logs(capsys, "--dir", str(log_dir), "--stats", "--since", "2026-11-30T12:00:29")
    assert code == 0
    assert [line.split()[0] for line in out.split("\n\n")[0].splitlines()[1:]] == ["api-gateway", "orders"]


def test_nothing_matching_exits_1(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_logs(capsys, "--dir", str(log_dir), "--request-id", "never-sent")
    assert (code, out) == (1, "")
    assert "no lines match" in err


def test_wait_reads_again_until_a_line_matches(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A lab's logs step right after the fault: the first failed request comes a moment later."""
    failure = access("orders", 40.0, "req-late", 503, "/orders")

    def fail_later() -> None:
        time.sleep(1.0)
        with (log_dir / "orders.jsonl").open("a") as out:
            out.write(orjson.dumps(failure).decode() + "\n")

    writer = threading.Thread(target=fail_later)
    began = time.monotonic()
    writer.start()
    code, out, _ = run_logs(capsys, "--dir", str(log_dir), "--request-id", "req-late", "--wait", "20", "--json")
    writer.join()
    assert code == 0
    assert [r["request_id"] for r in json_lines(out)] == ["req-late"]
    assert 1.0 <= time.monotonic() - began < 10


def test_wait_gives_up_after_its_seconds(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    code, out, err = run_logs(capsys, "--dir", str(log_dir), "--request-id", "never-sent", "--stats", "--wait", "1.5")
    assert (code, out) == (1, "")
    assert "no lines match within 1.5s" in err
    assert 1.5 <= time.monotonic() - began < 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "ten minutes"], "--since: expected a duration (30s, 10m, 2h, 1d)"),
        (["--until", "5y"], "--until: expected a duration"),
        (["--since", "1m", "--until", "1h"], "--since (1m) is after --until (1h)"),
        (["--level", "loud"], "--level: unknown level 'loud' (one of DEBUG, INFO, WARNING, ERROR, CRITICAL)"),
        (["--status", "5x"], "--status: expected a status (404) or a class (5xx), got '5x'"),
        (["--status", "600"], "--status: expected a status (404) or a class (5xx), got '600'"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--wait", "-1"], "--wait must be 0 or more seconds, got -1"),
        (["--service", "cataloq"], "--service: no lines from cataloq in"),
    ],
)
def test_bad_input_is_refused_by_name(
    log_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_logs(capsys, "--dir", str(log_dir), *argv)
    assert code == 2
    assert out == ""
    assert f"shopfloor logs: {message}" in err


def test_no_logs_yet_says_how_to_get_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_logs(capsys, "--dir", str(tmp_path / "logs"))
    assert code == 2
    assert f"no log folder at {tmp_path / 'logs'}: start the shop with `make run` first" in err
    (tmp_path / "logs").mkdir()
    code, _, err = run_logs(capsys, "--dir", str(tmp_path / "logs"))
    assert code == 2
    assert "no log files (*.jsonl)" in err
    assert "`make run`" in err


def test_the_default_folder_is_the_repos_var_local_logs(
    tmp_path: Path, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / "var" / "local").mkdir(parents=True)
    (repo / "var" / "local" / "logs").symlink_to(log_dir)
    with pytest.raises(SystemExit) as caught:
        main(["--repo", str(repo), "logs", "--request-id", "req-read-1", "--json"])
    assert caught.value.code == 0
    assert [r["service"] for r in json_lines(capsys.readouterr().out)] == ["catalog", "api-gateway"]


def test_a_file_of_odd_lines_does_not_break_the_query(tmp_path: Path) -> None:
    """Types that differ between files (status as text, level as a number), nested values and
    unknown fields are read; lines without a readable time are counted, not fatal."""
    folder = tmp_path / "logs"
    folder.mkdir()
    write(
        folder / "odd.jsonl",
        {"time": at(1), "service": "odd", "level": 5, "status": "503", "message": {"nested": [1, 2]}},
        {"time": "yesterday", "service": "odd", "message": "unreadable time"},
        "",
        "[1, 2, 3]",
        '{"time": "' + at(2) + '", "message": "no service: named after its file"}',
    )
    store = LogStore(folder)
    lines = store.find(LogFilter())
    assert [(line.service, line.status) for line in lines.lines] == [("odd", 503), ("odd", None)]
    assert lines.lines[0].message == '{"nested":[1,2]}'
    assert lines.skipped == {"odd.jsonl": 2}
    assert store.find(LogFilter.from_options(statuses=["5xx"])).matched == 1
