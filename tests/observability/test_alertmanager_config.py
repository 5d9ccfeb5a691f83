"""The Alertmanager routing (observability/alertmanager/routing.yaml) as the clusters and the local
stack get it: amtool accepts every configuration, routes each severity to its receiver, and a real
Alertmanager (Debian's prometheus-alertmanager) posts the Slack message a person reads (to a mock
of Slack's webhook on loopback: Slack itself cannot be reached here) and holds the inhibitions.

The Slack and inhibition tests run the cluster's receivers with the lab timings (group_wait 1 s)
instead of the production ones (10 s, 1 min): the message and the inhibitions do not depend on
the timings, and nobody should wait a minute for a test.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from shopfloor.local.processes import ManagedProcess, wait_ready
from shopfloor.observe.alertmanager import (
    GENERATED_DIR,
    RoutingError,
    cluster_slack,
    load_routing,
    local_config,
    parse_routing,
    render_config,
    to_yaml,
)
from shopfloor.observe.alerts import active
from shopfloor.observe.slos import load_slos
from shopfloor.repo import find_repo_root
from shopfloor_common.localserver import free_port

REPO = find_repo_root(Path(__file__).parent)
ROUTING_TEXT = (REPO / "observability" / "alertmanager" / "routing.yaml").read_text(encoding="utf-8")
CLUSTERS = ("dev", "staging", "prod")
RUNBOOKS = "https://github.com/shopfloor/shopfloor/blob/main/runbooks"


def configurations(tmp_path: Path) -> dict[str, Path]:
    """Every configuration there is: the committed cluster ones and a local one (receiver and Slack)."""
    files = {cluster: REPO / GENERATED_DIR / f"{cluster}.yaml" for cluster in CLUSTERS}
    local = tmp_path / "local.yaml"
    local.write_text(
        to_yaml(
            local_config(
                load_routing(REPO),
                load_slos(REPO),
                webhook_url="http://127.0.0.1:9/alerts",
                slack_url_file=str(tmp_path / "slack-url"),
            )
        )
    )
    files["local"] = local
    return files


def check_config(amtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)


def routed_to(amtool: str, path: Path, labels: dict[str, str]) -> str:
    """The receiver(s) Alertmanager's routing tree picks for an alert with `labels`."""
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={path}", *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_committed_cluster_configs_are_the_clusters_of_the_source() -> None:
    routing = parse_routing(ROUTING_TEXT)
    assert set(routing.clusters) == set(CLUSTERS)
    assert sorted(p.name for p in (REPO / GENERATED_DIR).glob("*.yaml")) == sorted(f"{c}.yaml" for c in CLUSTERS)


def test_amtool_accepts_every_configuration(amtool: str, tmp_path: Path) -> None:
    for name, path in configurations(tmp_path).items():
        result = check_config(amtool, path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout


def test_amtool_refuses_a_broken_configuration(amtool: str, tmp_path: Path) -> None:
    """The check above can fail: a matcher Alertmanager cannot parse is refused, naming it."""
    broken = tmp_path / "broken.yaml"
    text = (REPO / GENERATED_DIR / "prod.yaml").read_text().replace('severity="critical"', 'severity="critical', 1)
    broken.write_text(text)
    result = check_config(amtool, broken)
    assert result.returncode != 0
    assert "critical" in result.stdout + result.stderr


def test_no_configuration_holds_a_webhook_url(tmp_path: Path) -> None:
    """Slack's URL comes from a file (a mounted Secret in clusters, a 0600 file locally), never inline."""
    for name, path in configurations(tmp_path).items():
        text = path.read_text()
        assert "api_url:" not in text, name
        assert "hooks.slack.com" not in text, name
    prod = (REPO / GENERATED_DIR / "prod.yaml").read_text()
    assert "api_url_file: /etc/alertmanager/secrets/alertmanager-slack/webhook-url" in prod


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            {"alertname": "SLOFastBurn", "severity": "critical", "slo": "checkout-availability", "job": "api-gateway"},
            "page",
        ),
        (
            {"alertname": "SLOSlowBurn", "severity": "warning", "slo": "checkout-availability", "job": "api-gateway"},
            "ticket",
        ),
        ({"alertname": "ScrapeTargetDown", "severity": "warning", "job": "catalog"}, "ticket"),
        ({"alertname": "PendingOrderTooOld", "severity": "critical", "job": "orders"}, "page"),
        ({"alertname": "SomethingToKnow", "severity": "info"}, "null"),
        ({"alertname": "Watchdog", "severity": "none"}, "null"),
        ({"alertname": "NoSeverityGiven"}, "ticket"),
    ],
)
def test_each_severity_reaches_its_receiver(amtool: str, tmp_path: Path, labels: dict[str, str], receiver: str) -> None:
    for name, path in configurations(tmp_path).items():
        assert routed_to(amtool, path, labels) == receiver, name


def test_a_routing_that_pages_on_warnings_is_caught(amtool: str, tmp_path: Path) -> None:
    """The routing test fails when the tree is wrong: warnings paging a person is found."""
    warnings = "{receiver: ticket, matchers: ['severity=\"warning\"']}"
    assert warnings in ROUTING_TEXT
    wrong = parse_routing(ROUTING_TEXT.replace(warnings, warnings.replace("ticket", "page")))
    path = tmp_path / "wrong.yaml"
    path.write_text(to_yaml(render_config(wrong, load_slos(REPO), "production", webhook_url="http://127.0.0.1:9/")))
    assert routed_to(amtool, path, {"alertname": "SLOSlowBurn", "severity": "warning"}) == "page"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("{receiver: page, matchers", "{receiver: pager, matchers", "routes.1.receiver: no receiver named 'pager'"),
        ("default_receiver: ticket", 'default_receiver: "null"', "default_receiver: must tell somebody"),
        (
            "    page: {group_wait: 1s, group_interval: 2s, repeat_interval: 5m}\n",
            "",
            "timings.lab: no timings for receiver 'page'",
        ),
        (
            'channels: {page: "#shopfloor-oncall", ticket: "#shopfloor-alerts"}',
            'channels: {page: "#shopfloor-oncall"}',
            "clusters.prod.channels: no channel for receiver 'ticket'",
        ),
        ("group_wait: 10s", "group_wait: soon", "not a duration"),
        (
            "grafana_url: http://localhost:3000",
            "grafana_url: localhost:3000",
            "clusters.dev.grafana_url: String should",
        ),
        ("  key: webhook-url", "  key: webhook-url\n  url: https://hooks.example.com/x", "slack.url: Extra inputs"),
    ],
)
def test_a_broken_routing_source_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    assert old in ROUTING_TEXT, f"the fixture no longer matches routing.yaml: {old!r}"
    with pytest.raises(RoutingError, match=message.replace("(", r"\(")):
        parse_routing(ROUTING_TEXT.replace(old, new, 1))


# --- a real Alertmanager -------------------------------------------------------------------------


class SlackMock:
    """What Slack's incoming webhook would receive: every POST body, as JSON."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"

    async def _post(self, request: web.Request) -> web.Response:
        self.messages.append(await request.json())
        self.arrived.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/services/T000/B000/XXXX", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, title_part: str, timeout: float = 15) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            while True:
                for message in self.messages:
                    if title_part in message["attachments"][0]["title"]:
                        return message
                self.arrived.clear()
                await self.arrived.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            titles = [m["attachments"][0]["title"] for m in self.messages]
            raise AssertionError(
                f"no Slack message titled ...{title_part}... within {timeout}s; got {titles}"
            ) from None


class RunningAlertmanager:
    def __init__(self, url: str, slack: SlackMock) -> None:
        self.url = url
        self.slack = slack

    async def post(self, *alerts: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/api/v2/alerts", json=list(alerts)) as response,
        ):
            assert response.status == 200, await response.text()

    async def held(self) -> dict[str, dict[str, Any]]:
        """The alerts Alertmanager holds, by alertname/slo-or-job."""
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/api/v2/alerts") as response:
            alerts = await response.json()
        return {key(a["labels"]): a for a in alerts}


def key(labels: dict[str, str]) -> str:
    return f"{labels['alertname']}/{labels.get('journey') or labels.get('upstream') or labels.get('job')}"


def alert(**labels: str) -> dict[str, Any]:
    name = labels["alertname"]
    return {
        "labels": labels,
        "annotations": {
            "summary": f"{name} summary for {labels.get('slo') or labels.get('job')}",
            "description": f"{name}: what is wrong, with the value.",
            "runbook_url": f"{RUNBOOKS}/{name}.md",
        },
        "generatorURL": "http://127.0.0.1:9090/graph",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def alertmanager(
    alertmanager_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningAlertmanager]:
    """Alertmanager with the prod cluster's receivers (lab timings), Slack's URL read from a file
    as from the mounted Secret, and Slack mocked on loopback."""
    folder = tmp_path_factory.mktemp("alertmanager")
    slack = SlackMock()
    await slack.start()
    url_file = folder / "webhook-url"
    url_file.write_text(slack.url)
    routing = load_routing(REPO)
    config = render_config(
        routing, load_slos(REPO), "lab", slack=cluster_slack(routing, "prod", url_file=str(url_file))
    )
    (folder / "alertmanager.yml").write_text(to_yaml(config))
    port = free_port()
    process = ManagedProcess(
        "alertmanager",
        [
            alertmanager_binary,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        cwd=folder,
    )
    await process.start()
    try:
        await wait_ready(process, f"http://127.0.0.1:{port}/-/ready", timeout_seconds=20)
        yield RunningAlertmanager(f"http://127.0.0.1:{port}", slack)
    finally:
        await process.stop(timeout_seconds=5)
        await slack.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_page_reaches_slack_with_summary_runbook_and_dashboard(alertmanager: RunningAlertmanager) -> None:
    await alertmanager.post(
        alert(
            alertname="SLOFastBurn",
            severity="critical",
            slo="checkout-availability",
            journey="checkout",
            job="api-gateway",
            long_window="1h",
        )
    )
    message = await alertmanager.slack.wait_for("SLOFastBurn checkout-availability")
    attachment = message["attachments"][0]
    assert message["channel"] == "#shopfloor-oncall"
    assert attachment["title"] == "[FIRING:1] [prod] SLOFastBurn checkout-availability"
    dashboard = "http://localhost:3000/d/shopfloor-slo-overview?from=now-1h&to=now"  # a burn alert: the SLOs
    assert attachment["title_link"] == dashboard
    assert attachment["color"] == "danger"
    text = attachment["text"]
    assert "*SLOFastBurn summary for checkout-availability*" in text
    assert "SLOFastBurn: what is wrong, with the value." in text
    assert f"<{RUNBOOKS}/SLOFastBurn.md|Runbook>" in text
    assert f"<{dashboard}|Dashboard>" in text
    assert "`job=api-gateway` `slo=checkout-availability`" in text
    buttons = {action["text"]: action["url"] for action in attachment["actions"]}
    assert buttons == {"Runbook": f"{RUNBOOKS}/SLOFastBurn.md", "Dashboard": dashboard}
    print("\nSlack payload of a page:\n" + json.dumps(message, indent=2))


@pytest.mark.asyncio(loop_scope="module")
async def test_a_ticket_goes_to_the_ticket_channel(alertmanager: RunningAlertmanager) -> None:
    await alertmanager.post(alert(alertname="HighLatency", severity="warning", job="catalog", route="/products"))
    message = await alertmanager.slack.wait_for("HighLatency catalog")
    assert message["channel"] == "#shopfloor-alerts"
    assert message["attachments"][0]["color"] == "warning"
    assert "http://localhost:3000/d/shopfloor-service-catalog?" in message["attachments"][0]["text"]


@pytest.mark.asyncio(loop_scope="module")
async def test_the_inhibitions_hold(alertmanager: RunningAlertmanager) -> None:
    checkout = {"slo": "checkout-availability", "journey": "checkout", "job": "api-gateway"}
    await alertmanager.post(
        # A fast burn mutes the slow burn of the same SLO ...
        alert(alertname="SLOFastBurn", severity="critical", **checkout),
        alert(alertname="SLOSlowBurn", severity="warning", **checkout),
        # ... and not another SLO's.
        alert(
            alertname="SLOSlowBurn",
            severity="warning",
            slo="web-pages-availability",
            journey="web-pages",
            job="frontend",
        ),
        # catalog down mutes the slow burns of journeys through catalog and the breakers in front of it,
        alert(alertname="ScrapeTargetDown", severity="warning", job="catalog", namespace="shopfloor"),
        alert(
            alertname="SLOSlowBurn",
            severity="warning",
            slo="product-page-latency",
            journey="product-page",
            job="api-gateway",
        ),
        alert(
            alertname="CircuitBreakerOpen",
            severity="warning",
            job="api-gateway",
            upstream="catalog",
            namespace="shopfloor",
        ),
        # never a page: users are failing, whatever the cause.
        alert(
            alertname="SLOFastBurn",
            severity="critical",
            slo="product-page-availability",
            journey="product-page",
            job="api-gateway",
        ),
        # A breaker in front of orders (up) stays.
        alert(
            alertname="CircuitBreakerOpen",
            severity="warning",
            job="api-gateway",
            upstream="orders",
            namespace="shopfloor",
        ),
    )

    async def states() -> dict[str, str]:
        held = await alertmanager.held()
        return {name: a["status"]["state"] for name, a in held.items()}

    expected = {
        "SLOFastBurn/checkout": "active",
        "SLOSlowBurn/checkout": "suppressed",
        "SLOSlowBurn/web-pages": "active",
        "ScrapeTargetDown/catalog": "active",
        "SLOSlowBurn/product-page": "suppressed",
        "CircuitBreakerOpen/catalog": "suppressed",
        "SLOFastBurn/product-page": "active",
        "CircuitBreakerOpen/orders": "active",
    }
    # Inhibitions are computed when the alerts arrive; give Alertmanager a moment on a busy machine.
    for _ in range(50):
        got = {k: v for k, v in (await states()).items() if k in expected}
        if got == expected:
            break
        await asyncio.sleep(0.1)
    assert got == expected
    listing = await asyncio.to_thread(active, alertmanager.url, as_json=False)
    assert "suppressed (inhibited)" in listing
    assert "SLOSlowBurn" in listing
