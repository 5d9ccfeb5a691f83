"""The SLO source and what is generated from it: the generated files are up to date and the source
refuses what would generate broken rules. The generated rules are held to the alert conventions and
promtool-tested (observability/tests/slo-rules*.test.yaml) with the hand-written ones, by
test_alert_rules.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from shopfloor.observe.generate import stale_files
from shopfloor.observe.slos import SloError, parse_slos
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
SOURCE = (REPO / "observability" / "slos.yaml").read_text(encoding="utf-8")
SERVICES = {"api-gateway", "catalog", "orders", "frontend"}


def test_the_generated_files_are_up_to_date() -> None:
    assert stale_files(REPO) == [], "run `shopfloor slo generate` and commit observability/generated/"


def test_the_source_parses_with_every_journey_on_a_real_service() -> None:
    source = parse_slos(SOURCE, services=SERVICES)
    assert {journey.name for journey in source.journeys} >= {
        "browse-products",
        "product-page",
        "checkout",
        "order-status",
        "web-pages",
    }


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("threshold_seconds: 0.25}", "threshold_seconds: 0.3}", "0.3 is not a bucket bound"),
        ("path: [api-gateway, catalog]", "path: [api-gateway, catlog]", "no service named 'catlog'"),
        ("objective: 99.9}", "objective: 100}", "less than 100"),
        ("long: 1h, short: 5m}", "long: 5m, short: 1h}", "must be shorter than the long window"),
        ("    path: [api-gateway, catalog]\n", "    paht: [api-gateway, catalog]\n", "paht: Extra inputs"),
        ("- name: product-page", "- name: browse-products", "journeys named twice: browse-products"),
        ("compress: 60", "compress: 3600", "holds fewer than 4 scrapes"),
    ],
)
def test_a_broken_source_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    assert old in SOURCE, f"the fixture no longer matches slos.yaml: {old!r}"
    with pytest.raises(SloError, match=message.replace("(", r"\(")):
        parse_slos(SOURCE.replace(old, new, 1), services=SERVICES)


@pytest.mark.parametrize("form", ["as prometheus_client writes it", "as Prometheus 3 stores it"])
def test_the_latency_sli_reads_whole_bucket_bounds_in_either_form(
    form: str, promtool_binary: str, tmp_path: Path
) -> None:
    """checkout's threshold is 1 s: prometheus_client exposes that bucket as le="1.0", Prometheus 3
    stores it as le="1"; the generated rule must count the good requests in both cases."""
    from prometheus_client.utils import floatToGoString

    source = parse_slos(SOURCE, services=SERVICES)
    checkout = next(j for j in source.journeys if j.latency.threshold_seconds == 1.0)
    request = checkout.requests[0]
    le = floatToGoString(1.0) if form.startswith("as prometheus_client") else "1"  # type: ignore[no-untyped-call]
    labels = f'job="{checkout.service}",method="{request.method}",route="{request.route}"'
    test = {
        "rule_files": [str(REPO / "observability" / "generated" / "slo-rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'http_request_duration_seconds_bucket{{{labels},le="{le}"}}', "values": "0+5x10"},
                    {"series": f"http_request_duration_seconds_count{{{labels}}}", "values": "0+10x10"},
                ],
                "promql_expr_test": [
                    {
                        "expr": f'slo:sli_error:ratio_rate5m{{slo="{checkout.name}-latency"}}',
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": f'slo:sli_error:ratio_rate5m{{job="{checkout.service}",'
                                f'journey="{checkout.name}",sli="latency",slo="{checkout.name}-latency"}}',
                                "value": 0.5,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "bucket-forms.test.yaml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = subprocess.run([promtool_binary, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
