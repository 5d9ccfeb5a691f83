"""The shop with its watchers: the local stack plus a real Prometheus and Alertmanager and the
local alert receiver, as `shopfloor run --observe` (make observe) runs them and as the chaos
runs, labs and tests start them from code.

    async with ObservedStack(StackOptions(repo=repo, state_dir=tmp, free_ports=True, edge_port=0),
                             ObserveOptions(prometheus_port=0, alertmanager_port=0)) as observed:
        await observed.wait_for_targets()
        fault = time.monotonic()
        await observed.shop.stop_service("catalog", sig=signal.SIGKILL)
        alert = await observed.wait_for_alert({"alertname": "SLOFastBurn", "slo": "checkout-availability"},
                                               after=fault, timeout_seconds=30)
        alert.monotonic - fault   # seconds from the fault to the delivery

Prometheus scrapes every service with the cluster's labels (job, service, namespace) and loads the
same rule files (observability/rules/*.yaml and the lab profile of the SLO rules), evaluated every
`lab.scrape_interval`; Alertmanager routes with observability/alertmanager/routing.yaml's lab
timings to the receiver (var/local/observe/alerts.jsonl) and, when a Slack webhook URL is given,
to Slack. Generated configuration and data live in <state>/observe/.

Bring-up: check the binaries and ports -> write the configurations -> the receiver, Alertmanager,
Prometheus (each until ready) -> the shop (LocalStack). Prometheus is up before the services, so
their first seconds are scraped; a failure stops what was started and names what failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from shopfloor.lifecycle import StartStop
from shopfloor.local.processes import LineSink, ManagedProcess, NotReady, first_to_exit, wait_ready
from shopfloor.local.stack import LocalStack, StackError, StackOptions, indent, select_services
from shopfloor.observe.alertmanager import RoutingError, load_routing, local_config, to_yaml
from shopfloor.observe.prometheus import (
    NAMESPACE,
    PrometheusClient,
    ScrapeTarget,
    prometheus_config,
    rule_files,
)
from shopfloor.observe.receiver import DEFAULT_ALERTS_FILE, AlertEvent, AlertReceiver
from shopfloor.observe.slos import SloError, load_slos
from shopfloor_common.localserver import LOCAL_HOST, free_port

DEFAULT_PROMETHEUS_PORT = 9090
DEFAULT_ALERTMANAGER_PORT = 9093
APT_PACKAGES = "prometheus prometheus-alertmanager"
# The first notification of an alert Prometheus found late would otherwise wait a minute.
RESEND_DELAY = "2s"
# The lab SLO window is 30d / 60 = 12h: a day keeps the error budget's whole window and no more.
RETENTION = "1d"


class ObserveError(StackError):
    """Prometheus, Alertmanager or their configuration cannot start; the message says what to do."""


@dataclass
class ObserveOptions:
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT  # 0: a free port
    alertmanager_port: int = DEFAULT_ALERTMANAGER_PORT  # 0: a free port
    state_dir: Path | None = None  # default: <the stack's state_dir>/observe
    slack_webhook_url: str | None = None  # also deliver to Slack (the webhook's own channel)
    retention: str = RETENTION
    prometheus_bin: str | None = None  # default: `prometheus` on PATH
    alertmanager_bin: str | None = None  # default: `prometheus-alertmanager` (Debian) or `alertmanager` on PATH
    # How the caller names the port settings, for the message when a port is taken.
    port_hints: Mapping[str, str] = field(
        default_factory=lambda: {"prometheus": "--prometheus-port", "alertmanager": "--alertmanager-port"}
    )


def find_binary(explicit: str | None, names: Sequence[str], what: str) -> str:
    for name in [explicit] if explicit else names:
        found = shutil.which(name)
        if found:
            return found
    wanted = explicit or " or ".join(f"`{n}`" for n in names)
    raise ObserveError(
        f"{what} is not installed ({wanted} is not on PATH). Install Debian's packages: "
        f"apt-get install --no-install-recommends {APT_PACKAGES} (`make observe` does it when run as root)"
    )


def claim_port(port: int, what: str, hint: str) -> int:
    """`port` when nothing listens on it (a free one for 0), else ObserveError naming the setting."""
    if port == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Prometheus binds: TIME_WAIT is no obstacle
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ObserveError(
                f"{what} cannot listen on {LOCAL_HOST}:{port}: the port is busy (another {what}? Debian's "
                f"{what.lower()} service starts on it after install). Pass {hint} PORT, or stop what holds it."
            ) from None
    return port


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it may hold, or point at, a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


async def _alerts_path(prometheus_url: str) -> str:
    """/alerts (upstream builds: the React UI), else /classic/alerts (Debian's build)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for path in ("/alerts", "/classic/alerts"):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(prometheus_url + path) as response:
                    if response.status == 200:
                        return path
    return "/alerts"


class ObservedStack(StartStop):
    """The local stack with Prometheus, Alertmanager and the alert receiver; owns them all until
    `stop`. `shop` is the LocalStack (stop_service, restart_service, url, edge_url)."""

    def __init__(
        self,
        stack_options: StackOptions,
        options: ObserveOptions | None = None,
        *,
        sink: LineSink | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options or ObserveOptions()
        self.stack_options = stack_options
        self.sink = sink
        self.say = say or (lambda _message: None)
        self.directory = (self.options.state_dir or stack_options.state_dir / "observe").resolve()
        self.shop = LocalStack(stack_options, sink=sink, say=say)
        self.receiver = AlertReceiver(self.directory / DEFAULT_ALERTS_FILE.name)
        self.prometheus: ManagedProcess | None = None
        self.alertmanager: ManagedProcess | None = None
        self.prometheus_port = self.options.prometheus_port
        self.alertmanager_port = self.options.alertmanager_port
        self.scrape_interval = ""
        self.alerts_path = "/alerts"

    # --- addresses -------------------------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.alertmanager_port}"

    @property
    def alerts_page(self) -> str:
        """Prometheus's page of the alerting rules and what fires (found at start: Debian's package
        serves the classic UI only, under /classic/)."""
        return f"{self.prometheus_url}{self.alerts_path}"

    @property
    def alerts_file(self) -> Path:
        return self.receiver.log_file

    @property
    def slack(self) -> bool:
        return bool(self.options.slack_webhook_url)

    def banner_rows(self) -> list[tuple[str, str]]:
        """What `shopfloor run --observe` adds to its banner: where to look, and the commands."""
        alerts_file = self.alerts_file
        with contextlib.suppress(ValueError):
            alerts_file = alerts_file.relative_to(self.stack_options.repo)
        listing = ".venv/bin/shopfloor alerts" + (
            "" if alerts_file == DEFAULT_ALERTS_FILE else f" --file {alerts_file}"
        )
        delivered = f"the local receiver -> {alerts_file}  ({listing} lists them)"
        if self.slack:
            delivered = "Slack (SLACK_WEBHOOK_URL) and " + delivered
        held = ".venv/bin/shopfloor alerts --active"
        if self.alertmanager_port != DEFAULT_ALERTMANAGER_PORT:
            held += f" --alertmanager {self.alertmanager_url}"
        report = ".venv/bin/shopfloor slo report"
        if self.prometheus_port != DEFAULT_PROMETHEUS_PORT:
            report += f" --prometheus {self.prometheus_url}"
        return [
            ("Prometheus", f"{self.alerts_page}  (graph: {self.prometheus_url}/)"),
            ("Alertmanager", f"{self.alertmanager_url}  (API; {held} lists what it holds)"),
            ("alerts to", delivered),
            ("SLO report", f"{report}  (a table, and PNGs in var/slo-report/)"),
        ]

    # --- bring-up --------------------------------------------------------------------------------

    async def start(self, stop_requested: asyncio.Event | None = None) -> bool:
        """Bring the watchers and then the shop up. True once all are ready; False when
        `stop_requested` was set first. Raises StackError (ObserveError) naming what failed."""
        prometheus_bin = find_binary(self.options.prometheus_bin, ["prometheus"], "Prometheus")
        alertmanager_bin = find_binary(
            self.options.alertmanager_bin, ["prometheus-alertmanager", "alertmanager"], "Alertmanager"
        )
        hints = self.options.port_hints
        self.prometheus_port = claim_port(self.options.prometheus_port, "Prometheus", hints["prometheus"])
        self.alertmanager_port = claim_port(self.options.alertmanager_port, "Alertmanager", hints["alertmanager"])
        repo = self.stack_options.repo
        try:
            source = load_slos(repo)
            routing = load_routing(repo)
        except (SloError, RoutingError) as exc:
            raise ObserveError(str(exc)) from None
        self.scrape_interval = source.lab.scrape_interval
        # The shop's ports are fixed now, so Prometheus knows its targets before they start.
        services = select_services(repo, self.stack_options)
        self.shop.options = replace(
            self.stack_options, port_overrides={s.name: s.port for s in services}, free_ports=False
        )
        try:
            await self.receiver.start()
            slack_file = None
            if self.options.slack_webhook_url:
                slack_file = self.directory / "slack-webhook-url"
                write_private(slack_file, self.options.slack_webhook_url)
            alertmanager_yml = self.directory / "alertmanager.yml"
            write_private(
                alertmanager_yml,
                to_yaml(
                    local_config(
                        routing,
                        source,
                        webhook_url=self.receiver.url,
                        slack_url_file=str(slack_file) if slack_file else None,
                    ),
                    "# Written by shopfloor (observe) from observability/alertmanager/routing.yaml at every start.\n",
                ),
            )
            prometheus_yml = self.directory / "prometheus.yml"
            targets = [ScrapeTarget(s.name, f"{LOCAL_HOST}:{s.port}") for s in services]
            prometheus_yml.write_text(
                to_yaml(
                    prometheus_config(
                        targets,
                        rules=rule_files(repo),
                        alertmanager=f"{LOCAL_HOST}:{self.alertmanager_port}",
                        interval=source.lab.scrape_interval,
                    ),
                    "# Written by shopfloor (observe) at every start: the services of this run, the repo's rules.\n",
                ),
                encoding="utf-8",
            )
            self.alertmanager = await self._start_server(
                "alertmanager",
                [
                    alertmanager_bin,
                    f"--config.file={alertmanager_yml}",
                    f"--storage.path={self.directory / 'alertmanager'}",
                    f"--web.listen-address={LOCAL_HOST}:{self.alertmanager_port}",
                    f"--web.external-url={self.alertmanager_url}/",
                    "--cluster.listen-address=",  # no gossip on 0.0.0.0:9094: one Alertmanager
                    "--log.level=warn",
                ],
                self.alertmanager_url,
            )
            self.prometheus = await self._start_server(
                "prometheus",
                [
                    prometheus_bin,
                    f"--config.file={prometheus_yml}",
                    f"--storage.tsdb.path={self.directory / 'prometheus'}",
                    f"--storage.tsdb.retention.time={self.options.retention}",
                    f"--web.listen-address={LOCAL_HOST}:{self.prometheus_port}",
                    f"--web.external-url={self.prometheus_url}/",
                    f"--rules.alert.resend-delay={RESEND_DELAY}",
                    "--log.level=warn",
                ],
                self.prometheus_url,
            )
            self.alerts_path = await _alerts_path(self.prometheus_url)
            self.say(f"Prometheus on {self.prometheus_url}, Alertmanager on {self.alertmanager_url}")
            return await self.shop.start(stop_requested)
        except BaseException:
            await self.stop()
            raise

    async def _start_server(self, name: str, argv: list[str], url: str) -> ManagedProcess:
        process = ManagedProcess(name, argv, cwd=self.directory, sink=self.sink)
        self.directory.mkdir(parents=True, exist_ok=True)
        await process.start()
        if name == "prometheus":
            self.prometheus = process
        else:
            self.alertmanager = process
        try:
            await wait_ready(process, f"{url}/-/ready", timeout_seconds=30)
        except NotReady as exc:
            raise ObserveError(
                f"{name} did not start: {exc}. Its last output:\n" + indent(process.tail_text() or "(no output)")
            ) from None
        return process

    async def stop(self) -> None:
        await self.shop.stop()
        watchers = [p for p in (self.prometheus, self.alertmanager) if p is not None and p.returncode is None]
        await asyncio.gather(*(p.stop(timeout_seconds=10) for p in watchers))
        await self.receiver.stop()

    async def first_exit(self) -> ManagedProcess:
        """The first of the services, Prometheus and Alertmanager to exit on its own."""
        return await first_to_exit(
            [*self.shop.processes.values(), *(p for p in (self.prometheus, self.alertmanager) if p)]
        )

    # --- watching --------------------------------------------------------------------------------

    def client(self) -> PrometheusClient:
        """A client of this Prometheus (close it, or use `async with`)."""
        return PrometheusClient(self.prometheus_url)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query of this Prometheus: [{"metric": {...}, "value": [time, "value"]}]."""
        async with self.client() as client:
            return await client.query(expr)

    async def wait_for_targets(self, *, timeout_seconds: float = 30.0) -> None:
        """Until Prometheus has scraped every service of the shop successfully (up == 1)."""
        wanted = {s.name for s in self.shop.services}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        up: set[str] = set()
        async with self.client() as client:
            while loop.time() < deadline:
                result = await client.query(f'up{{namespace="{NAMESPACE}"}} == 1')
                up = {sample["metric"].get("job", "") for sample in result}
                if wanted <= up:
                    return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"Prometheus has not scraped {sorted(wanted - up)} within {timeout_seconds:g}s")

    async def wait_for_alert(
        self,
        labels: Mapping[str, str],
        *,
        status: str = "firing",
        after: float | None = None,
        timeout_seconds: float = 60.0,
    ) -> AlertEvent:
        """The first alert with `labels` and `status` the receiver got after the monotonic time
        `after`; its `monotonic` says when it arrived (time.monotonic())."""
        return await self.receiver.wait_for(labels, status=status, after=after, timeout_seconds=timeout_seconds)
