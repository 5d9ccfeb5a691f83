"""The local stack's central logs: every output line of every child, as JSON lines, one file per
service in a folder (`shopfloor run` uses var/local/logs/), for `shopfloor logs` to query.

A line that is a JSON object with `time` and `service` (what every service's log record has) is
written as it is; an object without them gets them added (arrival time, the process's name); any
other line (a traceback from a crash, a line a library prints before logging is set up) becomes a
record {time, level, service, message} with a guessed level, so every line of every file is JSON.

Bounded: when a file would grow past `max_bytes` it becomes `<service>.1.jsonl` (replacing the one
before) and a new file starts, so each service keeps between `max_bytes` and twice that of its
newest lines, however long the shop runs. The size is counted on write, not asked of the disk.

Writes go straight to the file (unbuffered, one write(2) per line): a line is in the file as soon
as the child printed it, and nothing is lost if `shopfloor` is killed. Measured side by side on
this 2-core machine (tests/test_cli_logfiles.py::test_the_writer_keeps_up_with_the_console, which
fails if the writer is ever the slower): the writer alone sustains 2.5 to 4 times the lines per
second of the console alone (381k vs 97k lines/s in one run; 118k vs 48k in one at load average
10), and the two together keep 0.6 to 0.7 of the console's rate. At a few microseconds per line,
the file holds the event loop far less than the terminal the line is printed to anyway.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from shopfloor.local.processes import LineSink

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
SUFFIX = ".jsonl"

_LEVEL_PREFIX = re.compile(r"^(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b:?", re.IGNORECASE)
_TRACEBACK_START = "Traceback (most recent call last):"
# Lines between two tracebacks of one chained exception; they belong to the traceback.
_TRACEBACK_LINKS = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)


class LevelGuess:
    """Guesses the level of one process's plain lines: ERROR for a traceback (all of its lines, up
    to the exception that ends it, and the links of a chained one), the level a line starts with
    ("WARNING: ..." as uvicorn prints before logging is set up), else INFO."""

    def __init__(self) -> None:
        self.in_frames = False  # between "Traceback ..." and the exception line
        self.after_exception = False  # a chained traceback may follow

    def __call__(self, line: str) -> str:
        if line.startswith(_TRACEBACK_START):
            self.in_frames, self.after_exception = True, False
            return "ERROR"
        if self.in_frames:
            if not line[:1].isspace() and line:
                self.in_frames, self.after_exception = False, True  # "ValueError: ...": the last line
            return "ERROR"
        if self.after_exception and (not line.strip() or line.startswith(_TRACEBACK_LINKS)):
            return "ERROR"
        self.after_exception = False
        match = _LEVEL_PREFIX.match(line)
        if match:
            level = match.group(1).upper()
            return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)
        return "INFO"


class _File:
    """One process's file: its handle, its size so far, and its own level guess and clock."""

    def __init__(self, name: str, path: Path, clock: Callable[[], datetime]) -> None:
        self.name = name
        self.path = path
        self.clock = clock
        self.handle: IO[bytes] | None = None
        self.size = 0
        self.guess = LevelGuess()
        self.last_stamp: datetime | None = None
        self.failed = False

    def stamp(self) -> str:
        """Now, but always after the time given to this file's previous line: the lines of one
        traceback arrive within microseconds, and the query orders by time."""
        now = self.clock()
        if self.last_stamp is not None and now <= self.last_stamp:
            now = self.last_stamp + timedelta(microseconds=1)
        self.last_stamp = now
        return now.isoformat(timespec="microseconds")

    def record(self, line: str) -> bytes:
        """The JSON line written for `line` (without its newline)."""
        if line.startswith("{"):
            try:
                parsed: Any = orjson.loads(line)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                if "time" in parsed and "service" in parsed:
                    return line.encode()
                return orjson.dumps({"time": self.stamp(), "service": self.name, **parsed})
        return orjson.dumps({"time": self.stamp(), "level": self.guess(line), "service": self.name, "message": line})

    def open(self) -> IO[bytes]:
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open across lines
            self.size = self.handle.tell()
        return self.handle

    def rotate(self) -> None:
        self.close()
        os.replace(self.path, self.path.with_name(self.path.name.removesuffix(SUFFIX) + ".1" + SUFFIX))

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class LogFiles:
    """A line sink that writes each process's lines to `<folder>/<name>.jsonl`, then hands them to
    `then` (the console) unchanged. A file that cannot be written is reported once to `on_error`
    and then left alone: a full disk must not stop the shop."""

    def __init__(
        self,
        folder: Path,
        *,
        then: LineSink | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.folder = folder
        self.then = then
        self.max_bytes = max_bytes
        self.on_error = on_error or (lambda _message: None)
        self.clock = clock
        self._files: dict[str, _File] = {}

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{SUFFIX}"

    def __call__(self, name: str, line: str) -> None:
        file = self._files.get(name)
        if file is None:
            file = self._files[name] = _File(name, self.path(name), self.clock)
        if not file.failed:
            self._write(file, file.record(line))
        if self.then is not None:
            self.then(name, line)

    def _write(self, file: _File, data: bytes) -> None:
        data += b"\n"
        try:
            handle = file.open()
            if file.size and file.size + len(data) > self.max_bytes:
                file.rotate()
                handle = file.open()
            handle.write(data)
            file.size += len(data)
        except OSError as exc:
            file.failed = True
            file.close()
            self.on_error(f"stopped writing {file.path}: {exc.strerror or exc}")

    def close(self) -> None:
        """Close every file; a later line opens its file again."""
        for file in self._files.values():
            file.close()
