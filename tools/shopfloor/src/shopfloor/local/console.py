"""What `shopfloor run` prints: service output prefixed by a padded (and, on a terminal,
coloured) service name, and the runner's own messages.

The services log JSON lines, which are right for machines and hard on people, so a JSON line is
shown as `LEVEL message key=value ...` (use --raw-logs for the lines as they are).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson

_COLORS = ("36", "35", "33", "32", "34", "96", "95", "93")  # cyan, magenta, yellow, green, blue, bright ...
_LEVEL_COLORS = {"WARNING": "33", "ERROR": "31", "CRITICAL": "31"}
_HIDDEN_FIELDS = frozenset({"time", "level", "message", "service", "logger", "exc_info", "taskName", "color_message"})


def _use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def humanize(line: str) -> str:
    """A JSON log record as `LEVEL message key=value`; any other line unchanged."""
    if not line.startswith("{"):
        return line
    try:
        record: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(record, dict) or "message" not in record:
        return line
    level = str(record.get("level", "")).upper()
    extras = " ".join(f"{key}={_short(value)}" for key, value in record.items() if key not in _HIDDEN_FIELDS)
    text = f"{level:<7} {record['message']}" + (f"  {extras}" if extras else "")
    traceback = record.get("exc_info")
    if traceback:
        text += "\n" + str(traceback)
    return text


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= 120 else text[:117] + "..."


class Console:
    def __init__(
        self,
        names: Iterable[str],
        *,
        stream: TextIO | None = None,
        color: bool | None = None,
        raw: bool = False,
    ) -> None:
        self.stream = stream or sys.stdout
        self.color = _use_color(self.stream) if color is None else color
        self.raw = raw
        self._width = 0
        self._colors: dict[str, str] = {}
        for name in names:
            self.add_name(name)

    def add_name(self, name: str) -> None:
        self._width = max(self._width, len(name))
        self._colors.setdefault(name, _COLORS[len(self._colors) % len(_COLORS)])

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def prefix(self, name: str) -> str:
        return self._paint(name.ljust(self._width), self._colors.get(name, "0")) + " | "

    def service_line(self, name: str, line: str) -> None:
        text = line if self.raw else humanize(line)
        if self.color and not self.raw:
            level = text.split(" ", 1)[0]
            if level in _LEVEL_COLORS:
                text = self._paint(text, _LEVEL_COLORS[level])
        prefix = self.prefix(name)
        self.write("\n".join(prefix + part for part in text.split("\n")))

    def info(self, message: str) -> None:
        self.write(self._paint("==> ", "1") + message)

    def error(self, message: str) -> None:
        self.write(self._paint("✗ ", "31;1") + message)

    def write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away (| head) or the stream closed
            pass
