"""Bad values are refused before anything reaches a cluster, with a message that names the value:
by each chart's values.schema.json, and by the charts' own checks where one value must agree
with another (the grace period with the shutdown it has to cover)."""

from __future__ import annotations

from typing import Any

import pytest

from shopfloor.delivery.render import (
    ChartSet,
    RenderError,
    environment_releases,
    environment_values,
    load_values,
    merge_values,
    release,
    render_release,
)
from tests.charts.chartkit import DATA_CHARTS, ENVIRONMENTS, REPO

# release (of the local environment), values that break it, the words the refusal must contain
# (the value's path or name).
SCHEMA_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("catalog", {"replicas": 1}, "at '/replicas': minimum: got 1, want 2"),
    ("frontend", {"image": {"tag": "latest"}}, "at '/image/tag'"),
    ("frontend", {"image": {"digest": "sha256:abc"}}, "at '/image/digest'"),
    ("api-gateway", {"replica": 2}, "additional properties 'replica' not allowed"),
    ("orders", {"ingress": {"className": "nginx"}}, "at '/ingress/className'"),
    ("orders", {"ingress": {"tls": {"enable": True}}}, "at '/ingress/tls': additional properties 'enable' not allowed"),
    ("catalog", {"autoscaling": {"minReplicas": 1}}, "at '/autoscaling/minReplicas'"),
    ("catalog", {"config": {"log_level": "DEBUG"}}, "invalid propertyName 'log_level'"),
    ("catalog", {"securityContext": {"runAsUser": 0}}, "at '/securityContext/runAsUser'"),
    ("catalog", {"probes": {"readinessPath": "readyz"}}, "at '/probes/readinessPath'"),
    ("catalog", {"secrets": {"source": "vault"}}, "at '/secrets/source'"),
    ("api-gateway", {"resources": {"limits": {"cpu": "lots"}}}, "at '/resources/limits/cpu'"),
    ("postgresql", {"port": 5433}, "at '/port'"),
    ("postgresql", {"databases": []}, "at '/databases'"),
    ("redis", {"mode": "cluster"}, "at '/mode'"),
]

# Refusals of the charts' templates: values the schema allows one by one, but not together.
TEMPLATE_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("catalog", {"terminationGracePeriodSeconds": 40}, "terminationGracePeriodSeconds (40) must exceed"),
    ("orders", {"shutdown": {"drainSeconds": 10}}, "shutdown.drainSeconds (10) must exceed"),
    ("api-gateway", {"config": {"PORT": "9000"}}, "config.PORT: set by the chart"),
    ("catalog", {"secrets": {"keys": ["ADMIN_API_KEY"]}}, "database.passwordKey DATABASE_PASSWORD must be one of"),
    ("catalog", {"secrets": {"source": "externalSecret"}}, "secrets.externalSecret.remoteKey: required"),
    ("catalog", {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}, "autoscaling.minReplicas (5)"),
    ("frontend", {"migrations": {"enabled": True}}, "migrations.enabled needs database.enabled"),
    ("frontend", {"ingress": {"tls": {"enabled": True}}}, "ingress.tls.secretName: required"),
    ("postgresql", {"mode": "externalName"}, "externalName: required"),
    ("redis", {"mode": "externalName"}, "externalName: required"),
]


def _render(chart_set: ChartSet, name: str, override: dict[str, Any]) -> None:
    render_release(chart_set, release(REPO, "local", name), overrides=override)


@pytest.mark.parametrize(("chart", "override", "message"), SCHEMA_REFUSALS + TEMPLATE_REFUSALS)
def test_bad_value_is_refused_naming_it(
    chart_set: ChartSet, chart: str, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as refusal:
        _render(chart_set, chart, override)
    assert message in str(refusal.value)
    assert str(refusal.value).startswith(f"local/{chart}:")


@pytest.mark.parametrize(("chart", "override", "message"), SCHEMA_REFUSALS[:3])
def test_schema_alone_refuses_it_too(chart_set: ChartSet, chart: str, override: dict[str, Any], message: str) -> None:
    """The same check `helm install` and Argo CD run before templating anything."""
    import helm_python

    values = merge_values(environment_values(REPO, "local", chart), override)
    with pytest.raises(helm_python.HelmValuesError) as refusal:
        chart_set.chart(release(REPO, "local", chart).chart).validate_schema(values)
    assert message.split(":")[0] in str(refusal.value)


def test_the_defaults_and_every_environment_pass_the_schema(chart_set: ChartSet) -> None:
    for chart in DATA_CHARTS:
        chart_set.chart(chart).validate_schema({})
    for environment in ENVIRONMENTS:
        for rel in environment_releases(REPO, environment):
            chart_set.chart(rel.chart).validate_schema(load_values(rel.values_files))
            if rel.is_service:
                # A service's defaults alone (no environment) are complete too.
                chart_set.chart(rel.chart).validate_schema(load_values(rel.values_files[:1]))
