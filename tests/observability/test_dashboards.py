"""The generated Grafana dashboards: they validate against Grafana's own dashboard schema (and a
broken one does not), every query parses (real promtool), every metric a dashboard names is one
that exists (a service dashboard: what the service's code exports; the SLO overview: the
generated recording rules; the platform dashboard: the listed kube-state-metrics, cAdvisor and
node_exporter series), the panels follow the code and the SLO source, and the committed schema is
the one derived from the pinned npm packages (real npm, where it exists).

Up to date: tests/observability/test_slo_source.py runs `shopfloor slo generate --check`, which
covers observability/generated/dashboards/ too.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from prometheus_client.parser import text_string_to_metric_families

from shopfloor.cli import main
from shopfloor.local.discovery import discover_services
from shopfloor.observe import dashboards
from shopfloor.observe.dashboard_schema import (
    SCHEMA_DIR,
    DashboardSchemaError,
    dashboard_errors,
    derive_schema,
    load_schema,
)
from shopfloor.observe.dashboards import (
    PLATFORM_METRICS,
    PLATFORM_SOURCES,
    PLATFORM_UID,
    SLO_OVERVIEW_UID,
    DashboardError,
    DashboardQuery,
    PanelSpec,
    Query,
    RowSpec,
    Selector,
    dashboard_queries,
    render,
    service_dashboards,
    service_uid,
    slo_overview,
)
from shopfloor.observe.promql import metric_names
from shopfloor.observe.service_metrics import exported_metrics, runtime_series
from shopfloor.observe.slo_rules import RUNBOOK_BASE, rule_groups
from shopfloor.observe.slos import parse_slos
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
GENERATED = REPO / "observability" / "generated" / "dashboards"
SOURCE = (REPO / "observability" / "slos.yaml").read_text(encoding="utf-8")
SERVICES = {spec.name for spec in discover_services(REPO)}
PLATFORM = dashboards.platform_dashboard()


def generated() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(GENERATED.glob("*.json"))}


def targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in document["panels"] for target in panel.get("targets", [])]


def panels(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in document["panels"] if panel["type"] != "row"}


def row_titles(document: dict[str, Any]) -> list[str]:
    return [panel["title"] for panel in document["panels"] if panel["type"] == "row"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema(REPO)


# --- the schema -------------------------------------------------------------------------------


def test_one_dashboard_per_service_plus_the_slo_overview_and_the_platform() -> None:
    found = generated()
    assert set(found) == {SLO_OVERVIEW_UID, PLATFORM_UID} | {service_uid(s) for s in SERVICES}
    for uid, document in found.items():
        assert document["uid"] == uid
        assert [v["name"] for v in document["templating"]["list"]] == ["datasource", "namespace"]


@pytest.mark.parametrize("uid", sorted(generated()))
def test_every_generated_dashboard_validates_against_grafanas_schema(uid: str, schema: dict[str, Any]) -> None:
    assert dashboard_errors(generated()[uid], schema) == []


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: d["panels"][1].__setitem__("titel", d["panels"][1].pop("title")), "'titel' was unexpected"),
        (lambda d: d["panels"][1]["gridPos"].__setitem__("w", "12"), "'12' is not of type 'number'"),
        (lambda d: d.__setitem__("refersh", d.pop("refresh")), "'refersh' was unexpected"),
        (lambda d: d["templating"]["list"][1].__setitem__("type", "qurey"), "'qurey' is not one of"),
        (lambda d: d["links"][0].pop("title"), "'title' is a required property"),
        (lambda d: d["panels"][0].__setitem__("collapsed", "no"), "'no' is not of type 'boolean'"),
        (lambda d: d.__setitem__("schemaVersion", None), "None is not of type 'number'"),
    ],
    ids=["misspelt-panel-field", "wrong-type", "misspelt-dashboard-field", "unknown-variable-type",
         "link-without-title", "row-field-wrong-type", "null"],
)  # fmt: skip
def test_a_broken_dashboard_is_refused_naming_what_is_wrong(
    break_it: Callable[[dict[str, Any]], object], message: str, schema: dict[str, Any]
) -> None:
    document = copy.deepcopy(generated()[service_uid("catalog")])
    break_it(document)
    errors = dashboard_errors(document, schema)
    assert any(message in error for error in errors), errors


def test_the_sdk_output_is_refused_until_its_nulls_and_interval_fields_are_dropped(schema: dict[str, Any]) -> None:
    """TOOLS.md: the SDK writes unset fields as null; it also gives every variable the interval
    variable's auto* fields. render() drops both, keeping the null a threshold's base step needs."""
    raw = json.loads(
        json.dumps(
            gd.Dashboard("raw").uid("raw").with_variable(gd.QueryVariable("v").query("up")).build(), cls=JSONEncoder
        )
    )
    errors = dashboard_errors(raw, schema)
    assert any("auto" in e for e in errors), errors
    rendered = render(dashboards.platform_dashboard())
    assert dashboard_errors(rendered, schema) == []
    steps = [
        p["fieldConfig"]["defaults"]["thresholds"]["steps"] for p in panels(rendered).values() if p["type"] == "stat"
    ]
    assert steps
    assert all(s[0]["value"] is None for s in steps)


# --- the queries ------------------------------------------------------------------------------


def promtool_check(promtool: str, queries: list[DashboardQuery], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Every query as a recording rule in a throwaway rule file: `promtool check rules` parses each."""
    rules = [{"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("profile", ["production", "lab"])
def test_every_panel_query_parses_with_promtool(profile: Any, promtool_binary: str, tmp_path: Path) -> None:
    queries = dashboard_queries(REPO, profile)
    result = promtool_check(promtool_binary, queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_promtool_refuses_a_broken_query(promtool_binary: str, tmp_path: Path) -> None:
    good = dashboard_queries(REPO, "production")[:3]
    broken = DashboardQuery("d", "p", "A", "sum(rate(http_requests_total[5m])", False, None, None)
    result = promtool_check(promtool_binary, [*good, broken], tmp_path)
    assert result.returncode != 0
    assert "dashboard:query_3" in result.stdout + result.stderr


def test_every_metric_a_dashboard_names_exists() -> None:
    """Read from the committed files, independently of the generator's own refusals."""
    exported = exported_metrics(REPO)
    records = {
        rule["record"]
        for profile in ("production", "lab")
        for group in rule_groups(parse_slos(SOURCE, services=SERVICES), profile)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    allowed = {SLO_OVERVIEW_UID: records, PLATFORM_UID: set(PLATFORM_METRICS)}
    allowed |= {service_uid(name): set(metrics.series) for name, metrics in exported.items()}
    for uid, document in generated().items():
        named = {name for target in targets(document) for name in metric_names(target["expr"])}
        assert named, uid
        assert named <= allowed[uid], f"{uid} queries what nothing exports: {sorted(named - allowed[uid])}"


def test_the_generator_refuses_a_misspelt_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    def cache_typo(sel: Selector) -> RowSpec:
        return RowSpec("Cache", (PanelSpec("Hits", (Query(f"sum(rate({sel('cache_request_total')}[5m]))"),)),))

    monkeypatch.setattr(dashboards, "SERVICE_ROWS", (dashboards.SERVICE_ROWS[0], cache_typo))
    with pytest.raises(DashboardError, match="no service under apps/ exports cache_request_total"):
        service_dashboards(exported_metrics(REPO))


def test_the_generator_refuses_a_platform_series_it_does_not_list(monkeypatch: pytest.MonkeyPatch) -> None:
    typo = RowSpec("Pods", (PanelSpec("Phases", (Query("sum(kube_pod_status_phaze)"),)),))
    monkeypatch.setattr(dashboards, "platform_dashboard", lambda: replace(PLATFORM, rows=(typo,)))
    with pytest.raises(
        DashboardError, match="shopfloor-platform queries series nothing here records: kube_pod_status_phaze"
    ):
        dashboards.dashboard_specs(REPO, parse_slos(SOURCE, services=SERVICES), "production")


def test_a_metric_name_is_what_promql_selects_not_a_function_label_or_keyword() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job="x", le=~"1|1\\\\.0"}[$__rate_interval])))\n'
        "or on (route) group_left () b:c:ratio_rate5m offset 5m / 1e3 * count(d) without (e) and vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b:c:ratio_rate5m", "d"}


def test_dashboard_queries_fill_in_the_local_stack() -> None:
    queries = dashboard_queries(REPO, "lab")
    lab_records = {
        r["record"]
        for group in rule_groups(parse_slos(SOURCE, services=SERVICES), "lab")["groups"]
        for r in group["rules"]
        if "record" in r
    }
    assert len({(q.dashboard, q.panel, q.ref_id) for q in queries}) == len(queries)
    assert all("$" not in q.expr for q in queries)
    for query in queries:
        if query.dashboard == SLO_OVERVIEW_UID:
            assert metric_names(query.expr) <= lab_records, query
        elif query.dashboard == PLATFORM_UID:
            assert query.platform_only, query
            assert any(source in query.platform_only for source in PLATFORM_SOURCES)
        else:
            assert query.platform_only is None, query
            assert 'namespace="shopfloor"' in query.expr, query
            assert "[" not in query.expr or "[1m]" in query.expr, query
    assert [q.panel for q in queries if q.needs] == ["Reconciler work by outcome"]


def test_dashboard_queries_refuses_a_variable_it_cannot_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    row = RowSpec("Pods", (PanelSpec("Phases", (Query('sum(kube_pod_status_phase{cluster="$cluster"})'),)),))
    monkeypatch.setattr(dashboards, "platform_dashboard", lambda: replace(PLATFORM, rows=(row,)))
    with pytest.raises(DashboardError, match=r"no local value for the variable \$cluster"):
        dashboard_queries(REPO, "lab")


# --- the panels follow the code and the SLO source --------------------------------------------


def test_each_service_gets_the_rows_its_code_exports_metrics_for() -> None:
    found = generated()
    common = ["Requests (RED), probes and scrapes left out", "Saturation"]
    assert row_titles(found[service_uid("frontend")]) == common
    assert row_titles(found[service_uid("catalog")]) == [*common, "Cache", "Product reads"]
    assert row_titles(found[service_uid("api-gateway")]) == [
        *common,
        "Dependencies: calls to other services",
        "Rate limit",
    ]
    assert row_titles(found[service_uid("orders")]) == [
        *common,
        "Dependencies: calls to other services",
        "Orders and the reconciler",
    ]
    orders = panels(found[service_uid("orders")])
    lag = {t["expr"] for t in orders["Reconciler lag: oldest PENDING order"]["targets"]}
    assert lag == {'max(orders_pending_oldest_age_seconds{namespace="$namespace", job="orders"})'}


def write_service(repo: Path, name: str, port: int, code: str) -> None:
    package = repo / "apps" / name / "src" / name
    package.mkdir(parents=True)
    (repo / "apps" / name / "pyproject.toml").write_text(f"[tool.shopfloor]\nport = {port}\n", encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "app.py").write_text(code, encoding="utf-8")


def test_a_service_that_starts_calling_another_gets_the_dependency_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / "libs" / "shopfloor-common" / "src", tmp_path / "libs" / "shopfloor-common" / "src")
    write_service(tmp_path, "alpha", 9001, "from shopfloor_common.app import create_service_app\n")
    write_service(
        tmp_path,
        "beta",
        9002,
        "from shopfloor_common import client\nfrom prometheus_client import Gauge\nQUEUE = Gauge('beta_queue', 'q')\n",
    )
    exported = exported_metrics(tmp_path)
    assert "upstream_requests_total" not in exported["alpha"].series
    assert {"upstream_requests_total", "circuit_breaker_open", "beta_queue"} <= exported["beta"].series
    # beta imports only the client: the HTTP middleware's metrics come with shopfloor_common.app
    assert "http_requests_total" in exported["alpha"].series
    # Only the rows these two services can fit: the generator refuses a row that fits no service.
    monkeypatch.setattr(dashboards, "SERVICE_ROWS", (dashboards._red, dashboards._dependencies))
    titles = {d.uid: [row.title for row in d.rows] for d in service_dashboards(exported)}
    assert "Dependencies: calls to other services" not in titles[service_uid("alpha")]
    assert "Dependencies: calls to other services" in titles[service_uid("beta")]


async def test_the_runtime_series_the_saturation_row_reads_are_on_a_services_metrics_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from frontend.app import create_app
    from frontend.settings import FrontendSettings

    monkeypatch.delenv("PUBLIC_API_URL", raising=False)
    app = create_app(FrontendSettings())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as http,
    ):
        body = (await http.get("/metrics")).text
    served = {sample.name for family in text_string_to_metric_families(body) for sample in family.samples}
    saturation = render(service_dashboards(exported_metrics(REPO))[0])  # any service: the row is the same
    read = {
        name
        for panel in saturation["panels"]
        if panel["type"] != "row"
        for target in panel.get("targets", [])
        for name in metric_names(target["expr"])
        if name in runtime_series() or name == "http_requests_in_flight"
    }
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "http_requests_in_flight"} <= read
    assert read <= served


def test_the_slo_overview_has_a_row_per_journey_of_the_source_linked_to_runbooks_and_services() -> None:
    extra = (
        "\n  - name: admin-stock\n    description: Staff change stock.\n    service: api-gateway\n"
        '    requests: [{method: PATCH, route: "/api/products/{sku}"}]\n    path: [api-gateway, catalog]\n'
        "    availability: {objective: 99.5}\n    latency: {objective: 95.0, threshold_seconds: 0.5}\n"
    )
    source = parse_slos(SOURCE + extra, services=SERVICES)
    document = render(slo_overview(source, "production"))
    journey_rows = row_titles(document)[1:]
    assert [title.split(" ")[0] for title in journey_rows] == [j.name for j in source.journeys]
    by_title = panels(document)
    availability = by_title["admin-stock: availability"]
    assert [t["expr"] for t in availability["targets"]] == [
        '1 - slo:sli_error:ratio_rate5m{slo="admin-stock-availability"}',
        '1 - slo:sli_error:ratio_rate30d{slo="admin-stock-availability"}',
        'slo:objective:ratio{slo="admin-stock-availability"}',
    ]
    assert availability["fieldConfig"]["defaults"]["thresholds"]["steps"][1] == {"value": 0.995, "color": "green"}
    burn = by_title["admin-stock: latency burn rate"]
    windows = [t["legendFormat"] for t in burn["targets"]]
    assert windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert all(t["expr"].endswith(" / 0.05") for t in burn["targets"])
    urls = [link["url"] for link in availability["links"]]
    assert urls[:2] == [f"{RUNBOOK_BASE}/SLOFastBurn.md", f"{RUNBOOK_BASE}/SLOSlowBurn.md"]
    assert [u.partition("?")[0] for u in urls[2:]] == [
        f"/d/{service_uid('api-gateway')}",
        f"/d/{service_uid('catalog')}",
    ]
    budget = by_title["admin-stock: error budget left"]
    assert budget["targets"][0]["expr"] == 'slo:error_budget_remaining:ratio{journey="admin-stock"}'


# --- the schema's provenance ------------------------------------------------------------------


def npm_pin_problems(folder: Path) -> list[str]:
    """What is wrong with the npm pins in `folder`: a version range, a package without an integrity
    hash, or any address (a lock's `resolved` names the registry a package came from)."""
    package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((folder / "package-lock.json").read_text(encoding="utf-8"))
    installed = {path: meta for path, meta in lock["packages"].items() if path}
    problems = [
        f"package.json: {n} {v} is a range" for n, v in package["devDependencies"].items() if not v[0].isdigit()
    ]
    problems += [
        f"{path}: no sha512 integrity" for path, m in installed.items() if "sha512-" not in m.get("integrity", "")
    ]
    # No address at all but the authors' funding pages.
    problems += [
        f"{path}: {key} holds an address"
        for path, meta in lock["packages"].items()
        for key, value in meta.items()
        if key != "funding" and "://" in json.dumps(value)
    ]
    problems += [
        f"{name} holds an address" for name in ("package.json", ".npmrc") if "://" in (folder / name).read_text()
    ]
    if "omit-lockfile-registry-resolved=true" not in (folder / ".npmrc").read_text(encoding="utf-8"):
        problems.append(".npmrc: omit-lockfile-registry-resolved=true is missing")
    return problems if installed else ["package-lock.json: no packages"]


def test_the_npm_pins_keep_integrity_hashes_and_no_registry_address(tmp_path: Path) -> None:
    assert npm_pin_problems(REPO / SCHEMA_DIR) == []
    shutil.copytree(REPO / SCHEMA_DIR, tmp_path / "pins")
    lock_path = tmp_path / "pins" / "package-lock.json"
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    lock["packages"]["node_modules/typescript"]["resolved"] = "https://packages.invalid/typescript.tgz"
    lock_path.write_text(json.dumps(lock), encoding="utf-8")
    assert npm_pin_problems(tmp_path / "pins") == ["node_modules/typescript: resolved holds an address"]


@pytest.fixture(scope="module")
def derived_schema(missing_dependency: Callable[[str, str], None]) -> dict[str, Any]:
    """Derived from the locked packages with real npm (installed under var/, reused while the lock
    stays the same)."""
    try:
        return derive_schema(REPO, REPO / "var" / "grafana-schema")
    except DashboardSchemaError as exc:
        if shutil.which("npm") is None:
            missing_dependency("npm", str(exc))
        raise


def test_the_committed_schema_is_the_one_derived_from_grafanas_types(derived_schema: dict[str, Any]) -> None:
    assert load_schema(REPO) == derived_schema
    assert derived_schema["$ref"] == "#/definitions/Dashboard"
    assert derived_schema["definitions"]["Panel"]["additionalProperties"] is False


def test_an_edited_schema_fails_the_check(derived_schema: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / SCHEMA_DIR).mkdir(parents=True)
    for name in ("package.json", "package-lock.json", ".npmrc", "dashboard.schema.json"):
        shutil.copyfile(REPO / SCHEMA_DIR / name, tmp_path / SCHEMA_DIR / name)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "grafana-schema").symlink_to(REPO / "var" / "grafana-schema")  # the same install
    with pytest.raises(SystemExit) as same:
        main(["--repo", str(tmp_path), "slo", "dashboard-schema", "--check"])
    assert same.value.code == 0
    edited = copy.deepcopy(derived_schema)
    edited["definitions"]["Panel"]["additionalProperties"] = True
    (tmp_path / SCHEMA_DIR / "dashboard.schema.json").write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(SystemExit) as drifted:
        main(["--repo", str(tmp_path), "slo", "dashboard-schema", "--check"])
    assert drifted.value.code == 1
