"""The SLO source and what is generated from it: the generated files are up to date and the source
refuses what would generate broken rules. The generated rules are held to the alert conventions and
promtool-tested (observability/tests/slo-rules*.test.yaml) with the hand-written ones, by
test_alert_rules.py."""

from __future__ import annotations

from pathlib import Path

import pytest

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
