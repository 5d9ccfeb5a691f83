"""`shopfloor logs`: query the local shop's logs (var/local/logs/<service>.jsonl, written by
shopfloor.local.logfiles while `shopfloor run` runs) with DuckDB.

Every line is read as a JSON object (read_json_objects, so a line with unusual fields or types
cannot break the query; the fields used are extracted by name, as text, and typed with TRY_CAST).
A line that is not a JSON object with a readable `time` is skipped and counted, per file, on
stderr. Services are taken from each record's `service` (the file's name when a record has none),
so the rotated `<service>.1.jsonl` files join their service's lines. Times are UTC, as written.

Filters combine (AND): `--request-id` (one request across every service it crossed), `--service`
(repeatable), `--level` (that level and above), `--status` (404, 5xx; repeatable), `--since` /
`--until` (a duration ago, 10m, or a UTC time), `--grep` (case-insensitive, in the message or its
traceback). Lines come in time order, the newest `--limit` of those that match. `--stats` counts
instead: per service (requests, 4xx, 5xx, warnings, errors, p95 duration) and by service, level
and status.

A service logs a request's access line when the request ends, so in the lines of one request
the deepest service comes first (catalog answered before the gateway that called it finished);
each access line's duration_ms says how long that hop took. Exit code 1 when no line matches.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
DEFAULT_LIMIT = 100

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STATUS = re.compile(r"^([1-5])(\d\d|xx)$")

# The fields a query uses, extracted by name as text. Their order is the list's index in SQL.
_FIELDS = ("time", "level", "service", "message", "request_id", "status", "duration_ms", "exc_info")
_LEVEL_RANK = "CASE level " + " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in LEVELS.items())
_LEVEL_RANK += " " + " ".join(f"WHEN '{alias}' THEN {LEVELS[name]}" for alias, name in LEVEL_ALIASES.items())
_LEVEL_RANK += " ELSE 0 END"


class LogsError(Exception):
    """Bad input or no logs to read; the message says what to do."""


# --- input -----------------------------------------------------------------------------------------


def parse_time(text: str, option: str, now: datetime) -> datetime:
    """A duration ago (30s, 10m, 2h, 1d) or an ISO 8601 time (UTC unless it says otherwise), as a
    naive UTC datetime (what the queries compare with)."""
    match = _DURATION.match(text.strip())
    if match:
        when = now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    else:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise LogsError(
                f"{option}: expected a duration (30s, 10m, 2h, 1d) or a time (2026-11-30T12:00:00, UTC), got {text!r}"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(tzinfo=None)


def parse_level(text: str) -> str:
    level = LEVEL_ALIASES.get(text.upper(), text.upper())
    if level not in LEVELS:
        raise LogsError(f"--level: unknown level {text!r} (one of {', '.join(LEVELS)})")
    return level


def parse_status(text: str) -> tuple[int, int]:
    """`404` -> (404, 404); `5xx` -> (500, 599)."""
    match = _STATUS.match(text.strip().lower())
    if not match:
        raise LogsError(f"--status: expected a status (404) or a class (5xx), got {text!r}")
    if match.group(2) == "xx":
        first = int(match.group(1)) * 100
        return first, first + 99
    code = int(text.strip())
    return code, code


@dataclass(frozen=True)
class LogFilter:
    request_id: str | None = None
    services: tuple[str, ...] = ()
    min_level: str | None = None
    statuses: tuple[tuple[int, int], ...] = ()
    since: datetime | None = None  # naive UTC
    until: datetime | None = None
    grep: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        request_id: str | None = None,
        services: Sequence[str] = (),
        level: str | None = None,
        statuses: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        grep: str | None = None,
        now: datetime | None = None,
    ) -> LogFilter:
        """The filter the command-line options ask for; LogsError names a bad one."""
        now = now or datetime.now(UTC)
        ranges = tuple(parse_status(part) for text in statuses for part in text.split(",") if part.strip())
        start = parse_time(since, "--since", now) if since else None
        end = parse_time(until, "--until", now) if until else None
        if start is not None and end is not None and start > end:
            raise LogsError(f"--since ({since}) is after --until ({until})")
        return cls(
            request_id=request_id or None,
            services=tuple(services),
            min_level=parse_level(level) if level else None,
            statuses=ranges,
            since=start,
            until=end,
            grep=grep or None,
        )

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL condition on a record and its named parameters."""
        clauses = ["TRUE"]
        params: dict[str, Any] = {}
        if self.request_id:
            clauses.append("request_id = $request_id")
            params["request_id"] = self.request_id
        if self.services:
            clauses.append("list_contains($services, service)")
            params["services"] = list(self.services)
        if self.min_level:
            clauses.append("level_rank >= $min_level")
            params["min_level"] = LEVELS[self.min_level]
        if self.statuses:
            ranges = []
            for number, (low, high) in enumerate(self.statuses):
                ranges.append(f"status BETWEEN $status_low_{number} AND $status_high_{number}")
                params[f"status_low_{number}"], params[f"status_high_{number}"] = low, high
            clauses.append("(" + " OR ".join(ranges) + ")")
        if self.since:
            clauses.append("time >= $since")
            params["since"] = self.since
        if self.until:
            clauses.append("time <= $until")
            params["until"] = self.until
        if self.grep:
            clauses.append("(contains(lower(message), $grep) OR contains(lower(coalesce(exc_info, '')), $grep))")
            params["grep"] = self.grep.lower()
        return " AND ".join(clauses), params


# --- the store -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    time: datetime  # naive UTC
    service: str
    level: str | None
    status: int | None
    request_id: str | None
    message: str | None
    exc_info: str | None
    record: str  # the line as written


@dataclass
class Found:
    lines: list[LogLine]
    matched: int  # before --limit
    skipped: dict[str, int]  # lines that are not a JSON object with a time, by file name


@dataclass
class ServiceStats:
    service: str
    lines: int
    requests: int
    client_errors: int
    server_errors: int
    warnings: int
    errors: int
    p95_ms: float | None
    first: datetime
    last: datetime


@dataclass
class Stats:
    services: list[ServiceStats] = field(default_factory=list)
    groups: list[tuple[str, str | None, int | None, int]] = field(default_factory=list)  # service, level, status, n
    skipped: dict[str, int] = field(default_factory=dict)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# GROUPING(filename, service, level, status) of each grouping set of the stats query.
_BY_FILE, _BY_SERVICE, _BY_SERVICE_LEVEL_STATUS = 0b0111, 0b1011, 0b1000


class LogStore:
    """The JSON-lines files of one folder as a DuckDB view, `lines`: one row per line, with the
    fields a query uses (`time` NULL for a line that is not a JSON object with a readable time).

    Each question is one scan of the files, which also counts the lines it skipped: on 100k lines,
    a second scan for the count cost as much as the question itself."""

    def __init__(self, folder: Path) -> None:
        import duckdb  # imported here: `shopfloor --help` must not pay for it

        if not folder.is_dir():
            raise LogsError(f"no log folder at {folder}: start the shop with `make run` first")
        self.files = sorted(folder.glob("*.jsonl"))
        if not self.files:
            raise LogsError(f"no log files (*.jsonl) in {folder}: start the shop with `make run` first")
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")
        files = "[" + ", ".join(_sql_text(str(path)) for path in self.files) + "]"
        paths = "[" + ", ".join(f"'$.{name}'" for name in _FIELDS) + "]"
        # A malformed line comes as a NULL json, so its time is NULL too.
        self.connection.execute(
            f"""
            CREATE TEMP VIEW lines AS
            SELECT *, {_LEVEL_RANK} AS level_rank FROM (
                SELECT
                    filename,
                    TRY_CAST(f[1] AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS time,
                    upper(f[2]) AS level,
                    coalesce(f[3], regexp_extract(filename, '([^/]+?)(\\.[0-9]+)?\\.jsonl$', 1)) AS service,
                    f[4] AS message,
                    f[5] AS request_id,
                    TRY_CAST(f[6] AS INTEGER) AS status,
                    TRY_CAST(f[7] AS DOUBLE) AS duration_ms,
                    f[8] AS exc_info,
                    CAST(json AS VARCHAR) AS record
                FROM (
                    SELECT filename, json, json_extract_string(json, {paths}) AS f
                    FROM read_json_objects({files}, format = 'newline_delimited', ignore_errors = true, filename = true)
                )
            )
            """  # noqa: S608 - values are bound; paths quoted
        )

    @staticmethod
    def _hits(log_filter: LogFilter) -> tuple[str, dict[str, Any]]:
        """`lines` with `hit`: the line is a record and matches the filter."""
        condition, params = log_filter.where()
        hits = f"(SELECT *, coalesce(time IS NOT NULL AND ({condition}), false) AS hit FROM lines)"  # noqa: S608 - values are bound
        return hits, params

    def find(self, log_filter: LogFilter, limit: int = DEFAULT_LIMIT) -> Found:
        """The newest `limit` records that match, oldest first: the newest `limit` of each file,
        merged here."""
        source, params = self._hits(log_filter)
        fields = ("time", "service", "level", "status", "request_id", "message", "exc_info", "record")
        record = "{" + ", ".join(f"'{name}': {name}" for name in fields) + "}"
        rows = self.connection.execute(
            f"""
            SELECT filename,
                   count(*) FILTER (WHERE time IS NULL),
                   count(*) FILTER (WHERE hit),
                   max_by({record}, time, $limit) FILTER (WHERE hit)
            FROM {source} GROUP BY filename
            """,  # noqa: S608 - values are bound; paths quoted
            {**params, "limit": limit},
        ).fetchall()
        newest = sorted(
            (LogLine(**line) for *_, lines in rows for line in lines or ()),
            key=lambda line: (line.time, line.service),
        )
        return Found(
            lines=newest[-limit:],
            matched=sum(matched for _, _, matched, _ in rows),
            skipped=_skipped((name, count) for name, count, _, _ in rows),
        )

    def stats(self, log_filter: LogFilter) -> Stats:
        """Counts of the records that match: per service, and by service, level and status."""
        source, params = self._hits(log_filter)
        rows = self.connection.execute(
            f"""
            SELECT GROUPING(filename, service, level, status), filename, service, level, status,
                   count(*) FILTER (WHERE time IS NULL),
                   count(*) FILTER (WHERE hit),
                   count(status) FILTER (WHERE hit),
                   count(*) FILTER (WHERE hit AND status BETWEEN 400 AND 499),
                   count(*) FILTER (WHERE hit AND status >= 500),
                   count(*) FILTER (WHERE hit AND level_rank = {LEVELS["WARNING"]}),
                   count(*) FILTER (WHERE hit AND level_rank >= {LEVELS["ERROR"]}),
                   quantile_cont(duration_ms, 0.95) FILTER (WHERE hit),
                   min(time) FILTER (WHERE hit),
                   max(time) FILTER (WHERE hit)
            FROM {source}
            GROUP BY GROUPING SETS ((filename), (service), (service, level, status))
            """,  # noqa: S608 - values are bound; paths quoted
            params,
        ).fetchall()
        stats = Stats(skipped=_skipped((row[1], row[5]) for row in rows if row[0] == _BY_FILE))
        for grouping, _, service, level, status, _, lines, *counts in rows:
            if not lines:
                continue
            if grouping == _BY_SERVICE:
                stats.services.append(ServiceStats(service, lines, *counts))
            elif grouping == _BY_SERVICE_LEVEL_STATUS:
                stats.groups.append((service, level, status, lines))
        stats.services.sort(key=lambda s: s.service)
        stats.groups.sort(key=lambda g: (-g[3], g[0], g[1] or "", -1 if g[2] is None else g[2]))
        return stats

    def services(self) -> list[str]:
        rows = self.connection.execute(
            "SELECT DISTINCT service FROM lines WHERE time IS NOT NULL ORDER BY service"
        ).fetchall()
        return [name for (name,) in rows]


def _skipped(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    return {Path(name).name: count for name, count in sorted(counts) if count}


# --- output ----------------------------------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="milliseconds")


def _one_line(line: LogLine) -> str:
    text = (line.message or "").replace("\n", " ⏎ ")
    if line.exc_info:
        last = line.exc_info.strip().splitlines()[-1] if line.exc_info.strip() else ""
        text += f"  [{last}]" if last else ""
    return text


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def format_lines(lines: Sequence[LogLine]) -> str:
    header = ("time (UTC)", "service", "level", "status", "request id", "message")
    rows = [
        (
            _time(line.time),
            line.service,
            line.level or "",
            "" if line.status is None else str(line.status),
            line.request_id or "",
            _one_line(line),
        )
        for line in lines
    ]
    return table(rows, header)


def format_stats(stats: Stats) -> str:
    header = ("service", "lines", "requests", "4xx", "5xx", "warnings", "errors", "p95 ms", "first (UTC)", "last (UTC)")
    rows = [
        (
            s.service,
            str(s.lines),
            str(s.requests),
            str(s.client_errors),
            str(s.server_errors),
            str(s.warnings),
            str(s.errors),
            "" if s.p95_ms is None else f"{s.p95_ms:.1f}",
            _time(s.first),
            _time(s.last),
        )
        for s in stats.services
    ]
    groups = [
        (service, level or "", "" if status is None else str(status), str(count))
        for service, level, status, count in stats.groups
    ]
    return (
        table(rows, header)
        + "\n\nby service, level and status:\n"
        + table(groups, ("service", "level", "status", "lines"))
    )


def stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "services": [
            {
                "service": s.service,
                "lines": s.lines,
                "requests": s.requests,
                "4xx": s.client_errors,
                "5xx": s.server_errors,
                "warnings": s.warnings,
                "errors": s.errors,
                "p95_ms": s.p95_ms,
                "first": s.first.isoformat() + "Z",
                "last": s.last.isoformat() + "Z",
            }
            for s in stats.services
        ],
        "groups": [
            {"service": service, "level": level, "status": status, "lines": count}
            for service, level, status, count in stats.groups
        ],
    }


# --- the command -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogsRequest:
    folder: Path
    log_filter: LogFilter
    limit: int = DEFAULT_LIMIT
    as_json: bool = False
    stats: bool = False
    wait_seconds: float = 0.0


WAIT_POLL_SECONDS = 0.5


def show_logs(request: LogsRequest, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print what `request` asks for; exit code 0, or 1 when nothing matched (within
    `wait_seconds`: until then the files are read again every WAIT_POLL_SECONDS, so a fault just
    injected has time to fail its first request)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if request.limit < 1:
        raise LogsError(f"--limit must be at least 1, got {request.limit}")
    if request.wait_seconds < 0:
        raise LogsError(f"--wait must be 0 or more seconds, got {request.wait_seconds:g}")
    deadline = time.monotonic() + request.wait_seconds
    while True:
        store = LogStore(request.folder)  # again each round: a rotation may have added a file
        if request.stats:
            stats = store.stats(request.log_filter)
            matched = sum(s.lines for s in stats.services)
        else:
            found = store.find(request.log_filter, request.limit)
            matched = found.matched
        if matched or time.monotonic() >= deadline:
            break
        time.sleep(WAIT_POLL_SECONDS)
    if request.stats:
        if request.as_json:
            out.write(orjson.dumps(stats_json(stats)).decode() + "\n")
        elif stats.services:
            out.write(format_stats(stats) + "\n")
        skipped = stats.skipped
    else:
        if request.as_json:
            out.writelines(line.record + "\n" for line in found.lines)
        elif found.lines:
            out.write(format_lines(found.lines) + "\n")
        if found.matched > len(found.lines):
            print(
                f"showing the newest {len(found.lines)} of {found.matched} matching lines (--limit N shows more)",
                file=err,
            )
        skipped = found.skipped
    for name, count in skipped.items():
        print(f"skipped {count} line(s) of {name}: not a JSON object with a time", file=err)
    if matched:
        return 0
    unknown = sorted(set(request.log_filter.services) - set(store.services()))
    if unknown:
        raise LogsError(
            f"--service: no lines from {', '.join(unknown)} in {request.folder} "
            f"(services there: {', '.join(store.services())})"
        )
    print("no lines match" + (f" within {request.wait_seconds:g}s" if request.wait_seconds else ""), file=err)
    return 1
