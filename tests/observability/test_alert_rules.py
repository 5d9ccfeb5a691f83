"""The hand-written alert rules: promtool check and test on every file, the conventions of
observability/README.md (labels, annotations, runbooks, a firing and a quiet case per alert),
metric names that the services and the real exporters export, PrometheusRule compatibility, and
the pending-order threshold derived from the orders settings. Each check is also shown failing on
a broken copy."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crdkit import crd_errors, require_crds
from tests.observability import alertkit
from tests.observability.alertkit import REPO, RULE_TESTS, RULES, RUNBOOKS

RULE_FILES = alertkit.rule_files(REPO)
TEST_FILES = alertkit.promtool_test_files(REPO)
ALERTS = alertkit.load_alerts(REPO)


def test_the_files_exist_and_hold_alerts() -> None:
    assert [path.stem for path in alertkit.layer_rule_files(REPO)] == sorted(alertkit.LAYERS)
    assert [path.name for path in RULE_FILES[len(alertkit.LAYERS) :]] == ["slo-rules.lab.yaml", "slo-rules.yaml"]
    assert len(TEST_FILES) == len(RULE_FILES)
    assert len(ALERTS) >= 15


# --- promtool ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda path: path.name)
def test_promtool_check_rules(promtool_binary: str, rule_file: Path) -> None:
    result = alertkit.promtool(promtool_binary, "check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_promtool_test_rules(promtool_binary: str, test_file: Path) -> None:
    result = alertkit.promtool(promtool_binary, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_catches_a_wrong_expectation_and_a_broken_rule(promtool_binary: str, tmp_path: Path) -> None:
    root = alertkit.copy_tree(REPO, tmp_path)
    test_file = root / RULE_TESTS / "data.test.yaml"
    test_file.write_text(test_file.read_text().replace("severity: critical", "severity: warning", 1))
    result = alertkit.promtool(promtool_binary, "test", "rules", test_file)
    assert result.returncode != 0
    assert "PostgresDown fires after a minute without PostgreSQL" in result.stdout + result.stderr

    rule_file = root / RULES / "data.yaml"
    rule_file.write_text(rule_file.read_text().replace("redis_up == 0", "redis_up === 0"))
    result = alertkit.promtool(promtool_binary, "check", "rules", rule_file)
    assert result.returncode != 0
    assert '"RedisDown": could not parse expression' in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "quiet_case"),
    [
        ("          ) > 0.05\n", "          ) > 0.03\n", "HighErrorRatio stays quiet at 4% 5xx"),
        ("          ) > 1\n", "          ) > 0.9\n", "HighLatency stays quiet at p99 0.995s"),
        (
            "(orders_pending_oldest_age_seconds) > 30",
            "(orders_pending_oldest_age_seconds) > 20",
            "PendingOrderTooOld stays quiet when the order over 30s is finished",
        ),
    ],
    ids=["error ratio", "latency", "pending age"],
)
def test_the_quiet_cases_sit_just_under_the_threshold(
    promtool_binary: str, tmp_path: Path, old: str, new: str, quiet_case: str
) -> None:
    """Lower a threshold a little and its quiet case fails: the case is close to the line, not far off."""
    root = alertkit.copy_tree(REPO, tmp_path)
    rule_file = root / RULES / "app.yaml"
    text = rule_file.read_text()
    assert text.count(old) == 1, old
    rule_file.write_text(text.replace(old, new))
    result = alertkit.promtool(promtool_binary, "test", "rules", root / RULE_TESTS / "app.test.yaml")
    assert result.returncode != 0
    assert quiet_case in result.stdout + result.stderr


# --- conventions ---------------------------------------------------------------------------------


def test_every_alert_follows_the_conventions() -> None:
    assert alertkit.check_all(REPO) == []


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def drop_line(path: Path, line: str) -> None:
    replace_in(path, line + "\n", "")


def swap_sections(path: Path, first: str, second: str) -> None:
    text = path.read_text()
    path.write_text(
        text.replace(f"## {first}\n", "\0").replace(f"## {second}\n", f"## {first}\n").replace("\0", f"## {second}\n")
    )


APP = f"{RULES}/app.yaml"
APP_TESTS = f"{RULE_TESTS}/app.test.yaml"
HPA_URL = "https://github.com/shopfloor/shopfloor/blob/main/runbooks/HPAMaxedOut.md"

# (what is broken, how, a phrase the report must contain)
BREAKAGES: list[tuple[str, Callable[[Path], object], str]] = [
    (
        "no severity",
        lambda root: drop_line(root / RULES / "aws.yaml", "          severity: warning"),
        "RDSConnectionsNearLimit (aws.yaml): label severity is None",
    ),
    (
        "an unknown severity",
        lambda root: replace_in(root / RULES / "data.yaml", "severity: critical", "severity: page"),
        "PostgresDown (data.yaml): label severity is 'page'",
    ),
    (
        "no layer",
        lambda root: drop_line(root / RULES / "aws.yaml", "          layer: aws"),
        "RDSConnectionsNearLimit (aws.yaml): label layer is None",
    ),
    (
        "a layer that is not the file's",
        lambda root: replace_in(root / RULES / "aws.yaml", "layer: aws", "layer: data"),
        "RDSConnectionsNearLimit (aws.yaml): label layer is 'data' in the aws file",
    ),
    (
        "no summary",
        lambda root: replace_in(root / RULES / "aws.yaml", "          summary: ", "          note: "),
        "RDSConnectionsNearLimit (aws.yaml): annotation summary is missing or empty",
    ),
    (
        "no description",
        lambda root: replace_in(root / RULES / "aws.yaml", "          description: >-", "          details: >-"),
        "RDSConnectionsNearLimit (aws.yaml): annotation description is missing or empty",
    ),
    (
        "a runbook_url to another page",
        lambda root: replace_in(root / RULES / "kubernetes.yaml", HPA_URL, HPA_URL.replace("HPA", "Hpa")),
        "HPAMaxedOut (kubernetes.yaml): runbook_url is",
    ),
    (
        "a missing runbook",
        lambda root: (root / RUNBOOKS / "RedisDown.md").unlink(),
        "RedisDown (data.yaml): runbooks/RedisDown.md does not exist",
    ),
    (
        "a runbook without one of the four sections",
        lambda root: replace_in(root / RUNBOOKS / "RedisDown.md", "## Impact\n", "Impact:\n"),
        "RedisDown.md: headings are ['# RedisDown', '## Meaning', '## Diagnosis', '## Mitigation']",
    ),
    (
        "a runbook with a fifth section",
        lambda root: replace_in(root / RUNBOOKS / "RedisDown.md", "## Mitigation\n", "## Mitigation\n\n## Notes\n"),
        "'## Mitigation', '## Notes']",
    ),
    (
        "a runbook whose sections are out of order",
        lambda root: swap_sections(root / RUNBOOKS / "RedisDown.md", "Meaning", "Impact"),
        "RedisDown.md: headings are ['# RedisDown', '## Impact', '## Meaning'",
    ),
    (
        "a runbook titled after another alert",
        lambda root: replace_in(root / RUNBOOKS / "RedisDown.md", "# RedisDown\n", "# RedisIsDown\n"),
        "RedisDown.md: headings are ['# RedisIsDown'",
    ),
    (
        "an alert without a firing case",
        lambda root: replace_in(
            root / RULE_TESTS / "app.test.yaml",
            "alertname: ScrapeTargetDown\n        exp_alerts:\n          - exp_labels:",
            "alertname: ScrapeTargetDown\n        exp_alerts: []\n        was:\n          - exp_labels:",
        ),
        "ScrapeTargetDown (app.yaml): no promtool case where it fires",
    ),
    (
        "an alert without a quiet case",
        lambda root: replace_in(
            root / RULE_TESTS / "data.test.yaml",
            "alertname: RedisDown\n        exp_alerts: []",
            "alertname: PostgresDown\n        exp_alerts: []",
        ),
        "RedisDown (data.yaml): no promtool case where it does not fire",
    ),
    (
        "cases in a test file that does not load the alert's rule file",
        lambda root: replace_in(root / RULE_TESTS / "aws.test.yaml", "../rules/aws.yaml", "../rules/data.yaml"),
        "RDSConnectionsNearLimit (aws.yaml): no promtool case where it fires",
    ),
    (
        "a rule file without its test file",
        lambda root: (root / RULE_TESTS / "aws.test.yaml").rename(root / RULE_TESTS / "aws-old.yaml"),
        "aws.yaml has no promtool test file observability/tests/aws.test.yaml",
    ),
    (
        "a rule file for no layer",
        lambda root: (root / RULES / "aws.yaml").rename(root / RULES / "cloud.yaml"),
        "one file per layer is expected",
    ),
    (
        "an alert name that is not CamelCase",
        lambda root: replace_in(root / RULES / "data.yaml", "alert: RedisDown", "alert: redis_down"),
        "redis_down (data.yaml): alert names are CamelCase",
    ),
    (
        "an alert defined twice",
        lambda root: replace_in(root / RULES / "data.yaml", "alert: RedisDown", "alert: PostgresDown"),
        "PostgresDown is defined twice",
    ),
    (
        "a runbook named like an alert that no alert links to",
        lambda root: (root / RUNBOOKS / "DiskFull.md").write_text("# DiskFull\n"),
        "runbooks/DiskFull.md is named like an alert but no alert links to it",
    ),
]


@pytest.mark.parametrize(("broken", "expected"), [(b[1], b[2]) for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_each_convention_check_fails_on_a_broken_copy(
    tmp_path: Path, broken: Callable[[Path], object], expected: str
) -> None:
    root = alertkit.copy_tree(REPO, tmp_path)
    assert alertkit.check_all(root) == []
    broken(root)
    problems = alertkit.check_all(root)
    assert any(expected in problem for problem in problems), problems


def test_headings_in_code_blocks_are_not_sections() -> None:
    text = "# A\n\n## Meaning\n\n```sh\n# local stack\n## not a heading\n```\n\n### free\n\n## Impact\n"
    assert alertkit.headings(text) == ["# A", "## Meaning", "## Impact"]


def test_scenario_runbooks_stay_out_of_the_alert_checks() -> None:
    assert (REPO / RUNBOOKS / "rollback.md").is_file()
    assert alertkit.check_orphan_runbooks(REPO) == []


# --- metric names --------------------------------------------------------------------------------


def test_metric_names_are_read_from_expressions() -> None:
    expression = """
      histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{route!~"/a|/b"}[5m])))
        > 1 and on (job) max_over_time(up{job="x"}[1d]) / ignoring (le) group_left () foo:bar offset 5m
    """
    assert alertkit.metric_names(expression) == {"http_request_duration_seconds_bucket", "up", "foo:bar"}


# Where the services' own collectors are defined (registered on import).
SHOP_METRIC_MODULES = (
    "shopfloor_common.observability",
    "shopfloor_common.client",
    "shopfloor_common.cache",
    "orders.metrics",
    "api_gateway.ratelimit",
)


def shop_metric_names() -> set[str]:
    """Every sample name the services' own collectors export, as Prometheus stores them."""
    from prometheus_client import REGISTRY

    for module in SHOP_METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, ("",))}


def test_app_alerts_use_metrics_the_services_export() -> None:
    exported = shop_metric_names() | {"up"}
    assert {"http_requests_total", "circuit_breaker_open", "orders_pending_oldest_age_seconds"} <= exported
    app_alerts = [alert for alert in ALERTS if alert.rule_file.stem == "app"]
    assert alertkit.check_metrics_exist(app_alerts, exported) == []


def test_a_misspelt_metric_is_reported() -> None:
    alert = next(alert for alert in ALERTS if alert.name == "CircuitBreakerOpen")
    broken = alertkit.Alert(alert.name, alert.rule_file, {**alert.rule, "expr": "max(circuit_breaker_opened) > 0"})
    assert alertkit.check_metrics_exist([broken], shop_metric_names()) == [
        "CircuitBreakerOpen: circuit_breaker_opened is not a metric the targets export"
    ]


def scrape_names(url: str, within: float = 15.0) -> dict[str, float]:
    """Metric name -> the value of its first sample, once the exporter answers."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL we built
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[{\s]", line, maxsplit=1)[0]
            samples.setdefault(name, float(line.rsplit(" ", 1)[1]))
    return samples


@pytest.fixture
def exporter(missing_dependency: Callable[[str, str], None]) -> Iterator[Callable[..., dict[str, float]]]:
    """Start a real exporter on a free loopback port and scrape it once."""
    from shopfloor_common.localserver import free_port

    started: list[subprocess.Popen[bytes]] = []

    def run(binaries: tuple[str, ...], args: Callable[[str], list[str]], env: dict[str, str]) -> dict[str, float]:
        binary = next((path for name in binaries if (path := shutil.which(name))), None)
        if binary is None:
            missing_dependency(
                binaries[0],
                "Install the exporters: `sudo apt-get install --no-install-recommends prometheus-postgres-exporter "
                "prometheus-redis-exporter` (.ci/run does).",
            )
        assert binary is not None
        address = f"127.0.0.1:{free_port()}"
        process = subprocess.Popen(
            [binary, *args(address)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started.append(process)
        return scrape_names(f"http://{address}/metrics")

    yield run
    for process in started:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def test_servers(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The root conftest's TEST_DATABASE_URL and TEST_REDIS_URL (not importable by name in
    importlib mode: taken from the loaded plugin, as tests/conftest.py does)."""
    root_conftest = str(REPO / "conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == root_conftest:
            return str(plugin.TEST_DATABASE_URL), str(plugin.TEST_REDIS_URL)
    raise AssertionError(f"{root_conftest} is not loaded")


def test_data_alerts_use_metrics_the_real_exporters_export(
    exporter: Callable[..., dict[str, float]],
    test_servers: tuple[str, str],
    missing_dependency: Callable[[str, str], None],
) -> None:
    """postgres_exporter and redis_exporter (Debian's builds) against the test PostgreSQL and Redis:
    every metric data.yaml reads is in their output, with the servers seen as up."""
    database_url, redis_url = test_servers

    database = database_url.replace("postgresql+asyncpg://", "postgresql://") + "?sslmode=disable"
    postgres = exporter(
        ("prometheus-postgres-exporter", "postgres_exporter"),
        lambda address: [f"--web.listen-address={address}"],
        {"DATA_SOURCE_NAME": database},
    )
    redis = exporter(
        ("prometheus-redis-exporter", "redis_exporter"),
        lambda address: ["-web.listen-address", address, "-redis.addr", redis_url.rsplit("/", 1)[0]],
        {},
    )
    if postgres.get("pg_up") != 1 or redis.get("redis_up") != 1:
        missing_dependency(
            f"PostgreSQL at {database_url} or Redis at {redis_url}",
            "Start PostgreSQL and Redis on 127.0.0.1 (or set TEST_DATABASE_URL / TEST_REDIS_URL).",
        )
    data_alerts = [alert for alert in ALERTS if alert.rule_file.stem == "data"]
    assert alertkit.check_metrics_exist(data_alerts, set(postgres) | set(redis)) == []


# --- PrometheusRule ------------------------------------------------------------------------------


def as_prometheus_rule(rule_file: Path) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"shopfloor-{rule_file.stem}", "namespace": "monitoring"},
        "spec": yaml.safe_load(rule_file.read_text()),
    }


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda path: path.name)
def test_each_rule_file_is_a_valid_prometheusrule_spec(rule_file: Path) -> None:
    """kube-prometheus-stack loads these files as PrometheusRule specs; the CRD is stricter about
    durations than promtool."""
    require_crds()
    assert crd_errors(as_prometheus_rule(rule_file)) == []


def test_a_duration_prometheus_operator_refuses_is_caught() -> None:
    require_crds()
    document = as_prometheus_rule(REPO / RULES / "data.yaml")
    document["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert any("/spec/groups/0/rules/0/for" in error for error in crd_errors(document))


# --- the reconciler bound behind PendingOrderTooOld ----------------------------------------------


def reconciler_bound(settings: dict[str, float]) -> float:
    """The longest an order stays PENDING while catalog answers (the rule file's comment)."""
    return (
        settings["pending_timeout_seconds"]
        + 2 * settings["reconcile_interval_seconds"]
        + settings["catalog_timeout_seconds"] * settings["catalog_max_attempts"]
    )


def pending_threshold_problems(alert: alertkit.Alert, settings: dict[str, float]) -> list[str]:
    match = re.search(r">\s*([0-9.]+)\s*$", str(alert.rule["expr"]))
    assert match, alert.rule["expr"]
    threshold, bound = float(match.group(1)), reconciler_bound(settings)
    problems = []
    if not bound <= threshold <= 1.5 * bound:
        problems.append(f"threshold {threshold:g}s is not between the bound {bound:g}s and 1.5 times it")
    description = " ".join(str(alert.annotations["description"]).split())
    if f"within {bound:g}s" not in description or f"({threshold:g}s allowed)" not in description:
        problems.append(f"the description does not say 'within {bound:g}s' and '({threshold:g}s allowed)'")
    return problems


def orders_defaults() -> dict[str, float]:
    from orders.settings import OrdersSettings

    names = ("pending_timeout_seconds", "reconcile_interval_seconds", "catalog_timeout_seconds", "catalog_max_attempts")
    return {name: float(OrdersSettings.model_fields[name].default) for name in names}


def test_pending_order_threshold_is_the_reconciler_bound_from_the_orders_settings() -> None:
    alert = next(alert for alert in ALERTS if alert.name == "PendingOrderTooOld")
    assert reconciler_bound(orders_defaults()) == 22
    assert pending_threshold_problems(alert, orders_defaults()) == []


def test_pending_order_threshold_check_fails_when_the_settings_move() -> None:
    alert = next(alert for alert in ALERTS if alert.name == "PendingOrderTooOld")
    slower = {**orders_defaults(), "pending_timeout_seconds": 30.0}
    assert pending_threshold_problems(alert, slower) == [
        "threshold 30s is not between the bound 42s and 1.5 times it",
        "the description does not say 'within 42s' and '(30s allowed)'",
    ]


# --- the PromQL in the runbooks ------------------------------------------------------------------


def runbook_queries(markdown: str) -> list[str]:
    """The expressions of a runbook's ```promql blocks: one per unindented line, indented lines
    continuing the one before."""
    queries: list[str] = []
    for block in re.findall(r"```promql\n(.*?)```", markdown, flags=re.DOTALL):
        for line in block.splitlines():
            if not line.strip():
                continue
            if line[0].isspace() and queries:
                queries[-1] += "\n" + line
            else:
                queries.append(line)
    return queries


def check_runbook_queries(
    promtool_binary: str, runbooks: list[Path], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    rules = [
        {"record": f"runbook:{path.stem}:{number}", "expr": query}
        for path in runbooks
        for number, query in enumerate(runbook_queries(path.read_text()))
    ]
    assert rules, "no PromQL found in the runbooks"
    rule_file = tmp_path / "runbook-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    return alertkit.promtool(promtool_binary, "check", "rules", rule_file)


def test_the_promql_in_the_runbooks_parses(promtool_binary: str, tmp_path: Path) -> None:
    runbooks = [REPO / RUNBOOKS / f"{alert.name}.md" for alert in ALERTS]
    result = check_runbook_queries(promtool_binary, runbooks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_runbook_query_that_does_not_parse_is_caught(promtool_binary: str, tmp_path: Path) -> None:
    broken = tmp_path / "Broken.md"
    broken.write_text("```promql\nsum by (job (rate(up[5m]))\n```\n")
    assert check_runbook_queries(promtool_binary, [broken], tmp_path).returncode != 0
