"""`shopfloor run` (make run): the whole shop on this machine, until Ctrl-C.

The local stack (stack.py) does the work; this is its interactive face: service output on the
terminal through the console, a banner with the URLs and the admin key once every service is
ready, then supervision: Ctrl-C or SIGTERM stops everything (exit 0); a service that exits on its
own is named with its last log lines, the rest are stopped, and the exit code is 1.

With --observe (make observe) the shop runs inside an ObservedStack (shopfloor/observe/local_stack.py):
Prometheus, Alertmanager and the alert receiver join it, the banner lists their URLs, and they are
supervised like the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shopfloor.local.console import Console
from shopfloor.local.discovery import DiscoveryError, discover_services
from shopfloor.local.stack import LocalStack, StackError, StackOptions, indent

if TYPE_CHECKING:
    from shopfloor.observe.local_stack import ObservedStack, ObserveOptions


def _display_path(path: Path, repo: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(repo))
    return str(path)


def banner(stack: LocalStack, seconds: float, extra_rows: Sequence[tuple[str, str]] = ()) -> str:
    assert stack.edge is not None
    edge_url = f"http://localhost:{stack.edge.port}"  # what a person types, and what the edge answers on
    rows: list[tuple[str, str]] = [("shop", f"{edge_url}/")]
    if any(s.edge_prefix == "/api" for s in stack.services):
        rows += [("API", f"{edge_url}/api/products"), ("API docs", f"{edge_url}/api/docs")]
    for service in stack.services:
        rows.append((service.name, f"{stack.url(service.name)}  (pid {stack.processes[service.name].pid})"))
    rows.append(("data", stack.databases.describe()))
    if stack.options.log_dir is not None:
        rows.append(("logs", f"{_display_path(stack.options.log_dir, stack.options.repo)}/  (query: shopfloor logs)"))
    key = stack.admin_key
    if key.file is None:
        origin = "from ADMIN_API_KEY"
    else:
        origin = ("new, " if key.created else "") + f"kept in {_display_path(key.file, stack.options.repo)}"
    rows.append(("admin key", f"{key.value}  (send it as X-API-Key; {origin})"))
    rows += extra_rows
    width = max(len(label) for label, _ in rows)
    lines = [f"Shopfloor is up in {seconds:.1f}s"]
    lines += [f"    {label.ljust(width)}  {value}" for label, value in rows]
    lines.append("    Ctrl-C stops everything.")
    return "\n".join(lines)


async def run(options: StackOptions, console: Console, observe: ObserveOptions | None = None) -> int:
    started = time.monotonic()
    observed: ObservedStack | None = None
    runner: LocalStack | ObservedStack  # what is started, supervised and stopped
    if observe is None:
        stack = runner = LocalStack(options, sink=console.service_line, say=console.info)
    else:
        from shopfloor.observe.local_stack import ObservedStack

        observed = runner = ObservedStack(options, observe, sink=console.service_line, say=console.info)
        stack = observed.shop
    stop = asyncio.Event()
    reason: list[str] = []

    def request_stop(name: str) -> None:
        reason.append(name)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, signal.Signals(sig).name)
    try:
        try:
            # Names first, so every prefix is padded to the longest from the first line on.
            watchers = ["prometheus", "alertmanager"] if observed is not None else []
            for name in [*(s.name for s in discover_services(options.repo)), "shopfloor", "edge", *watchers]:
                console.add_name(name)
            ready = await runner.start(stop)
        except (StackError, DiscoveryError) as exc:
            console.error(str(exc))
            return 1
        if not ready:
            console.info(f"{reason[0]}: stopped before the shop was up")
            return 0
        extra_rows = observed.banner_rows() if observed is not None else []
        console.info(banner(stack, time.monotonic() - started, extra_rows))
        exited = asyncio.ensure_future(runner.first_exit())
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        stopping.cancel()
        if stopping in done:
            console.info(f"{reason[0]}: stopping every service")
            return 0
        process = exited.result()
        console.error(
            f"{process.name} exited on its own with code {process.returncode}. Its last output:\n"
            + indent(process.tail_text())
        )
        console.info("stopping the other services")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.stop()


def run_stack(options: StackOptions, console: Console, observe: ObserveOptions | None = None) -> int:
    return asyncio.run(run(options, console, observe))
