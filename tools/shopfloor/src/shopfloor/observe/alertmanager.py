"""Alertmanager configurations from the routing source (observability/alertmanager/routing.yaml):
the clusters' (production timings, Slack from a mounted Secret, generated into
observability/generated/alertmanager/) and the local stack's (lab timings, the local receiver,
Slack when SLACK_WEBHOOK_URL is set).

The route tree and the inhibitions are the same everywhere; only the receivers' ends, the
timings and the dashboard link differ. Besides the hand-written inhibitions of the source, one
set is generated from the journeys' paths in slos.yaml: a service that is down (ScrapeTargetDown)
or cut off by a circuit breaker (CircuitBreakerOpen) mutes the slow-burn tickets of the journeys
that go through it, and its own breakers' alerts. Fast burns page and are never muted by those
causes: they are warnings (tickets), and letting them mute a page would turn an outage users feel
into a ticket (observability/alertmanager/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from shopfloor.models import StrictModel
from shopfloor.observe.slos import SloSource, checked_duration

ROUTING_FILE = Path("observability") / "alertmanager" / "routing.yaml"
GENERATED_DIR = Path("observability") / "generated" / "alertmanager"
SECRETS_MOUNT = "/etc/alertmanager/secrets"  # where prometheus-operator mounts alertmanagerSpec.secrets
NULL_RECEIVER = "null"
# Where the alert came from, as far as a reader of the message cares (the rest are in Alertmanager).
WHERE_LABELS = "^(namespace|job|slo|route|upstream|instance)$"

Profile = Literal["production", "lab"]


class RoutingError(Exception):
    """The routing source is not usable; the message names the field."""


class Timing(StrictModel):
    group_wait: str
    group_interval: str
    repeat_interval: str

    _durations = field_validator("group_wait", "group_interval", "repeat_interval")(checked_duration)


class Route(StrictModel):
    receiver: str
    matchers: list[str] = Field(min_length=1)


class InhibitRule(StrictModel):
    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)


class SlackSecret(StrictModel):
    secret: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")


class Cluster(StrictModel):
    grafana_url: str = Field(pattern=r"^https?://[^\s]+[^/\s]$")
    channels: dict[str, str]


class Routing(StrictModel):
    group_by: list[str] = Field(min_length=1)
    receivers: dict[str, str] = Field(min_length=1)
    default_receiver: str
    routes: list[Route] = Field(min_length=1)
    timings: dict[Profile, dict[str, Timing]]
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    slack: SlackSecret
    clusters: dict[str, Cluster] = Field(min_length=1)

    @property
    def notifying(self) -> list[str]:
        """The receivers somebody hears from (all but null), in the source's order."""
        return [name for name in self.receivers if name != NULL_RECEIVER]

    @model_validator(mode="after")
    def _consistent(self) -> Routing:
        problems = []
        known = set(self.receivers)
        for where, name in [("default_receiver", self.default_receiver)] + [
            (f"routes.{index}.receiver", route.receiver) for index, route in enumerate(self.routes)
        ]:
            if name not in known:
                problems.append(f"{where}: no receiver named {name!r} (receivers: {', '.join(self.receivers)})")
        if self.default_receiver == NULL_RECEIVER:
            problems.append("default_receiver: must tell somebody (an alert nobody routed is a mistake to see)")
        for profile in ("production", "lab"):
            timings = self.timings.get(profile)
            if timings is None:
                problems.append(f"timings.{profile}: missing")
                continue
            for name in self.notifying:
                if name not in timings:
                    problems.append(f"timings.{profile}: no timings for receiver {name!r}")
            for name in sorted(set(timings) - known):
                problems.append(f"timings.{profile}: no receiver named {name!r}")
        for cluster, settings in self.clusters.items():
            for name in self.notifying:
                if name not in settings.channels:
                    problems.append(f"clusters.{cluster}.channels: no channel for receiver {name!r}")
            for name in sorted(set(settings.channels) - known):
                problems.append(f"clusters.{cluster}.channels: no receiver named {name!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def parse_routing(text: str, *, origin: str = str(ROUTING_FILE)) -> Routing:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingError(f"{origin}: not valid YAML: {exc}") from None
    try:
        return Routing.model_validate(document)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            lines.append(f"  {where}: {error['msg']}")
        raise RoutingError(f"{origin}:\n" + "\n".join(lines)) from None


def load_routing(repo: Path) -> Routing:
    path = repo / ROUTING_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{path}: {exc.strerror}") from None
    return parse_routing(text)


# --- inhibitions ---------------------------------------------------------------------------------


def path_inhibitions(source: SloSource) -> list[dict[str, Any]]:
    """Per service on a journey's path: its ScrapeTargetDown and the CircuitBreakerOpen of the
    breakers in front of it mute the SLOSlowBurn tickets of the journeys through it, and its
    ScrapeTargetDown mutes those breakers' own alerts (the breaker opened because it is down).

    The burn alerts carry the journey, not the services on its path, and Alertmanager's `equal`
    can only compare one label name on both sides, so the relation is spelled out per service."""
    services = sorted({service for journey in source.journeys for service in journey.path})
    rules: list[dict[str, Any]] = []
    for service in services:
        journeys = "|".join(j.name for j in source.journeys if service in j.path)
        slow_burns = ['alertname="SLOSlowBurn"', f'journey=~"{journeys}"']
        rules += [
            {"source_matchers": ['alertname="ScrapeTargetDown"', f'job="{service}"'], "target_matchers": slow_burns},
            {
                "source_matchers": ['alertname="CircuitBreakerOpen"', f'upstream="{service}"'],
                "target_matchers": slow_burns,
            },
            {
                "source_matchers": ['alertname="ScrapeTargetDown"', f'job="{service}"'],
                "target_matchers": ['alertname="CircuitBreakerOpen"', f'upstream="{service}"'],
                "equal": ["namespace"],
            },
        ]
    return rules


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackEnd:
    """Where and how a Slack receiver posts."""

    url_file: str  # a file holding the webhook URL (api_url_file): the URL never enters the config
    channels: dict[str, str] | None  # receiver -> channel; None: the webhook's own channel
    dashboard_link: str  # a Go template evaluated on one alert: the link to its dashboard
    dashboard_text: str  # what the link says
    title_prefix: str = ""


def grafana_link(grafana_url: str) -> str:
    """The SLO overview for a burn-rate alert, else the dashboard of the alert's job, else
    Grafana's dashboard list (the uids are the generated dashboards' own)."""
    from shopfloor.observe.dashboards import SLO_OVERVIEW_UID, service_uid

    window = "?from=now-1h&to=now"
    return (
        f"{{{{ if .Labels.slo }}}}{grafana_url}/d/{SLO_OVERVIEW_UID}{window}"
        f"{{{{ else if .Labels.job }}}}{grafana_url}/d/{service_uid('{{ .Labels.job }}')}{window}"
        f"{{{{ else }}}}{grafana_url}/dashboards{{{{ end }}}}"
    )


PROMETHEUS_LINK = "{{ .GeneratorURL }}"  # the local stack: Prometheus's graph of the alert's expression


def slack_config(receiver: str, end: SlackEnd) -> dict[str, Any]:
    first = "{{ with index .Alerts 0 }}" + end.dashboard_link + "{{ end }}"
    title = (
        '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
        + end.title_prefix
        + "{{ .CommonLabels.alertname }}"
        + "{{ with .CommonLabels.slo }} {{ . }}{{ else }}{{ with .CommonLabels.job }} {{ . }}{{ end }}{{ end }}"
    )
    text = (
        "{{ range .Alerts }}"
        '{{ if eq .Status "firing" }}:red_circle:{{ else }}:large_green_circle:{{ end }} '
        "*{{ .Annotations.summary }}*\n"
        "{{ .Annotations.description }}\n"
        "Where: {{ range .Labels.SortedPairs }}"
        f'{{{{ if match "{WHERE_LABELS}" .Name }}}}`{{{{ .Name }}}}={{{{ .Value }}}}` {{{{ end }}}}'
        "{{ end }}\n"
        "<{{ .Annotations.runbook_url }}|Runbook> · <" + end.dashboard_link + f"|{end.dashboard_text}>\n"
        "{{ end }}"
    )
    config: dict[str, Any] = {
        "api_url_file": end.url_file,
        "send_resolved": True,
        "title": title,
        "title_link": first,
        "text": text,
        "fallback": title + " {{ .CommonAnnotations.summary }}",
        "color": (
            '{{ if eq .Status "resolved" }}good{{ else }}'
            + ("danger" if receiver != "ticket" else "warning")
            + "{{ end }}"
        ),
        "actions": [
            {"type": "button", "text": "Runbook", "url": "{{ (index .Alerts 0).Annotations.runbook_url }}"},
            {"type": "button", "text": end.dashboard_text, "url": first},
        ],
    }
    if end.channels is not None:
        config = {"channel": end.channels[receiver], **config}
    return config


# --- configurations ------------------------------------------------------------------------------


def render_config(
    routing: Routing,
    source: SloSource,
    profile: Profile,
    *,
    slack: SlackEnd | None = None,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """One Alertmanager configuration (as a document): the routing of the source with `profile`'s
    timings; page and ticket post to Slack (`slack`) and/or a webhook (`webhook_url`)."""
    timings = routing.timings[profile]
    routes = []
    for route in routing.routes:
        entry: dict[str, Any] = {"receiver": route.receiver, "matchers": list(route.matchers)}
        if route.receiver in timings and route.receiver != routing.default_receiver:
            entry.update(timings[route.receiver].model_dump())
        routes.append(entry)
    receivers: list[dict[str, Any]] = []
    for name in routing.receivers:
        receiver: dict[str, Any] = {"name": name}
        if name != NULL_RECEIVER:
            if slack is not None:
                receiver["slack_configs"] = [slack_config(name, slack)]
            if webhook_url is not None:
                receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
        receivers.append(receiver)
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": routing.default_receiver,
            "group_by": list(routing.group_by),
            **timings[routing.default_receiver].model_dump(),
            "routes": routes,
        },
        "inhibit_rules": [rule.model_dump(exclude_defaults=True) for rule in routing.inhibit_rules]
        + path_inhibitions(source),
        "receivers": receivers,
    }


def cluster_slack(routing: Routing, cluster: str, *, url_file: str | None = None) -> SlackEnd:
    settings = routing.clusters[cluster]
    return SlackEnd(
        url_file=url_file or f"{SECRETS_MOUNT}/{routing.slack.secret}/{routing.slack.key}",
        channels=dict(settings.channels),
        dashboard_link=grafana_link(settings.grafana_url),
        dashboard_text="Dashboard",
        title_prefix=f"[{cluster}] ",
    )


def cluster_config(routing: Routing, source: SloSource, cluster: str, *, url_file: str | None = None) -> dict[str, Any]:
    """A cluster's Alertmanager configuration: production timings, Slack only."""
    return render_config(routing, source, "production", slack=cluster_slack(routing, cluster, url_file=url_file))


def local_config(
    routing: Routing, source: SloSource, *, webhook_url: str, slack_url_file: str | None = None
) -> dict[str, Any]:
    """The local stack's configuration: lab timings, the local receiver, and Slack (the webhook's own
    channel) when a file with its URL is given."""
    slack = None
    if slack_url_file is not None:
        slack = SlackEnd(
            url_file=slack_url_file,
            channels=None,
            dashboard_link=PROMETHEUS_LINK,
            dashboard_text="Prometheus",
            title_prefix="[local] ",
        )
    return render_config(routing, source, "lab", slack=slack, webhook_url=webhook_url)


def to_yaml(document: dict[str, Any], header: str = "") -> str:
    from shopfloor.observe.generate import yaml_text  # generate imports this module

    return header + yaml_text(document)


CLUSTER_HEADER = (
    "# Generated by `shopfloor slo generate` from observability/alertmanager/routing.yaml and\n"
    "# observability/slos.yaml: edit those, not this file. The Alertmanager configuration of the {cluster}\n"
    "# cluster for kube-prometheus-stack's alertmanager.config (observability/alertmanager/README.md).\n"
)


def generated_files(repo: Path, source: SloSource) -> dict[Path, str]:
    """observability/generated/alertmanager/<cluster>.yaml for every cluster of the source."""
    try:
        routing = load_routing(repo)
    except RoutingError as exc:
        from shopfloor.observe.slos import SloError

        raise SloError(str(exc)) from None
    return {
        GENERATED_DIR / f"{cluster}.yaml": to_yaml(
            cluster_config(routing, source, cluster), CLUSTER_HEADER.format(cluster=cluster)
        )
        for cluster in routing.clusters
    }
