"""CPU time spent by groups of processes during a measurement, read from /proc (Linux).

Throughput on a shared 2-core machine swings with whatever else runs; the CPU a unit of work costs
(milliseconds of CPU per checkout, per pgbench transaction) swings less (nine runs of the same code
on 2026-12-01: 13.7-21.0 ms per checkout while checkouts/s ranged 37-101), so the bench reports it
beside the rates: it says where a checkout's cost is and how far it is from the database's own.

A group is a function naming its pids at each sample (a service's process group, the PostgreSQL
backends of some databases), so processes that start during the run count from zero and processes
that exit keep what was last sampled of them (at most one interval's worth is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.2


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone, or not ours to read
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process so far, or None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # proc(5): utime and stime are fields 14 and 15; `fields` starts at field 3 (state).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def process_group(pgid: int) -> Callable[[], list[int]]:
    """The processes of one process group (a service started in its own session, and its children)."""

    def members() -> list[int]:
        found = []
        for pid in _pids():
            fields = _stat_fields(pid)
            if fields is not None and int(fields[2]) == pgid:
                found.append(pid)
        return found

    return members


def postgres_backends(database_prefix: str) -> Callable[[], list[int]]:
    """PostgreSQL's backend processes serving databases whose names start with `database_prefix`
    (a backend's title is `postgres: ... USER DATABASE HOST(PORT) STATE`)."""

    def members() -> list[int]:
        found = []
        for pid in _pids():
            with contextlib.suppress(OSError):
                title = (PROC / str(pid) / "cmdline").read_bytes()
                if title.startswith(b"postgres: ") and f" {database_prefix}".encode() in title:
                    found.append(pid)
        return found

    return members


class CpuMeter:
    """Samples the groups every SAMPLE_SECONDS between start() and stop(); stop() answers the CPU
    seconds each group spent meanwhile."""

    def __init__(self, groups: Mapping[str, Callable[[], Iterable[int]]]) -> None:
        self.groups = dict(groups)
        self._baseline: dict[int, float] = {}
        self._last: dict[str, dict[int, float]] = {name: {} for name in self.groups}
        self._task: asyncio.Task[None] | None = None

    def watch(self, name: str, members: Callable[[], Iterable[int]]) -> None:
        """Add a group while running (a process started after start(): it counts from zero)."""
        self.groups[name] = members
        self._last.setdefault(name, {})

    def _sample(self) -> None:
        for name, members in self.groups.items():
            for pid in members():
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    self._last[name][pid] = seconds

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self._sample()

    def start(self) -> None:
        self._sample()
        self._baseline = {pid: s for samples in self._last.values() for pid, s in samples.items()}
        self._task = asyncio.create_task(self._run(), name="cpu-meter")

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        return {
            name: sum(seconds - self._baseline.get(pid, 0.0) for pid, seconds in samples.items())
            for name, samples in self._last.items()
        }
