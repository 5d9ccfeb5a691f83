"""The generated SLO rules select series the services really export: a latency SLI reads the
bucket of the shared request-duration histogram whose `le` is spelled as prometheus_client
writes it. A selector spelled otherwise (le="1" for the 1.0 s bucket) matches nothing, and the
SLI, its budget and its alerts stay silently empty."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from shopfloor.repo import find_repo_root
from shopfloor_common.observability import HTTP_DURATION

REPO = find_repo_root(Path(__file__).parent)
GENERATED = REPO / "observability" / "generated"


def exported_bucket_bounds() -> set[str]:
    """The `le` values of http_request_duration_seconds as a service's /metrics shows them."""
    HTTP_DURATION.labels(method="GET", route="/test-slo-rules-match-exports").observe(0.01)
    registry = CollectorRegistry()
    registry.register(HTTP_DURATION)
    text = generate_latest(registry).decode()
    return set(re.findall(r'http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"', text))


def selected_bucket_bounds(rule_file: Path) -> set[str]:
    return set(re.findall(r'http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"', rule_file.read_text()))


def test_every_bucket_a_latency_sli_selects_is_exported() -> None:
    exported = exported_bucket_bounds()
    for name in ("slo-rules.yaml", "slo-rules.lab.yaml"):
        selected = selected_bucket_bounds(GENERATED / name)
        assert selected, f"{name} selects no bucket: the latency SLIs are gone"
        assert selected <= exported, f"{name} selects buckets no service exports: {sorted(selected - exported)}"


def test_the_check_knows_a_misspelled_bound() -> None:
    """The integer spelling of a bound is not what the services write (what the rules once used)."""
    exported = exported_bucket_bounds()
    assert "1.0" in exported
    assert "1" not in exported
