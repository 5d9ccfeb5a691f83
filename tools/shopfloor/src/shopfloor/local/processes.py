"""Child processes that cannot outlive the tool that started them, with their output streamed.

Each child gets its own session (so a terminal's Ctrl-C reaches only `shopfloor`, which then
stops the children in order) and, on Linux, PR_SET_PDEATHSIG, so the kernel kills it if
`shopfloor` itself dies without cleaning up (kill -9, a crashed terminal). Stopping a child
sends SIGTERM to its whole process group, waits, then sends SIGKILL.

PR_SET_PDEATHSIG fires when the *thread* that forked the child exits: children are started from
the event loop's thread, which lives as long as the tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import aiohttp

LineSink = Callable[[str, str], None]
"""Receives (process name, one output line without its newline)."""

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def _die_with_parent_hook(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the kernel SIGKILL the child when its parent dies."""
    libc = _LIBC
    if libc is None:
        return None

    def hook() -> None:
        # Runs in the child between fork and exec: no allocation-heavy work, no locks.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class ManagedProcess:
    """One child process: started in its own session, output pumped line by line to a sink and
    kept in a short tail for error reports, stopped by process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        sink: LineSink | None = None,
        tail_lines: int = 40,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.sink = sink
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(os.getpid()),
            limit=1024 * 1024,  # a long JSON log line (a traceback) must not break the pump
        )
        self._pump = asyncio.create_task(self._pump_output(), name=f"pump-{self.name}")

    async def _pump_output(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        stream = self._process.stdout
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: take what is buffered
                raw = await stream.read(64 * 1024)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.tail.append(line)
            if self.sink is not None:
                self.sink(self.name, line)

    async def wait(self) -> int:
        """The exit code, once the process has exited and all its output was read."""
        assert self._process is not None, "not started"
        code = await self._process.wait()
        if self._pump is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), 2)
        return code

    def send_signal(self, sig: int) -> None:
        """Signal the process group, so anything the child started goes too."""
        if self._process is None or self._process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)

    async def stop(self, timeout_seconds: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout_seconds`, then SIGKILL. Returns the exit code."""
        if self._process is None:
            return 0
        if self._process.returncode is None:
            self.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout_seconds)
            except TimeoutError:
                if self.sink is not None:
                    self.sink(self.name, f"(did not stop within {timeout_seconds:g}s of SIGTERM: sending SIGKILL)")
                self.send_signal(signal.SIGKILL)
        # Whatever the child left in its group dies with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        return await self.wait()

    def tail_text(self, lines: int = 20) -> str:
        return "\n".join(list(self.tail)[-lines:])


async def run_to_completion(process: ManagedProcess, timeout_seconds: float) -> int:
    """Start `process` and wait for it to exit; a process that outlives the timeout is killed
    and reported as exit code 124 (what coreutils `timeout` uses)."""
    await process.start()
    try:
        return await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        await process.stop(timeout_seconds=2)
        process.tail.append(f"(killed: still running after {timeout_seconds:g}s)")
        return 124


async def first_to_exit(processes: Sequence[ManagedProcess]) -> ManagedProcess:
    """The first of `processes` to exit on its own (the others keep running)."""
    waiters = {asyncio.ensure_future(p.wait()): p for p in processes}
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return waiters[next(iter(done))]
    finally:
        for waiter in waiters:
            waiter.cancel()


class NotReady(Exception):
    """A service did not become ready; the message says why."""


async def wait_ready(
    process: ManagedProcess,
    url: str,
    *,
    timeout_seconds: float = 30.0,
    interval_seconds: float = 0.1,
) -> float:
    """Poll `url` (a /readyz) until it answers 200. Returns the seconds it took.

    Raises NotReady when the process exits first or the timeout passes, saying which."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    last_answer = "no answer yet"
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            if process.returncode is not None:
                raise NotReady(f"exited with code {process.returncode} before it was ready")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return loop.time() - started
                    body = (await response.text())[:300]
                    last_answer = f"{response.status} {body}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_answer = f"{type(exc).__name__}: {exc}"[:300]
            if loop.time() - started > timeout_seconds:
                raise NotReady(f"not ready after {timeout_seconds:g}s; last answer from {url}: {last_answer}")
            await asyncio.sleep(interval_seconds)
