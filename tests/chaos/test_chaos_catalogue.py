"""The fault catalogue (chaos/faults.yaml): the real one loads, every check of the model and of the
references is shown failing on a broken copy, and docs/chaos.md's table is the one the catalogue
generates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shopfloor.chaos.catalogue import (
    CatalogueError,
    check_references,
    load_catalogue,
    parse_catalogue,
    read_catalogue,
)
from shopfloor.chaos.catalogue_table import DOC_FILE, catalogue_table, replace_table
from shopfloor.cli import main
from tests.chaos.meshkit import REPO

TEXT = (REPO / "chaos" / "faults.yaml").read_text(encoding="utf-8")


def test_the_real_catalogue_loads_with_every_reference_resolved() -> None:
    catalogue = load_catalogue(REPO)
    assert len(catalogue.faults) >= 14
    assert {fault.layer for fault in catalogue.faults} == {"app", "kubernetes", "aws"}


# --- the model: each rule refused on a broken copy --------------------------------------------------


def broken(old: str, new: str, count: int = 1) -> str:
    assert TEXT.count(old) >= count, old
    return TEXT.replace(old, new, count)


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    return [str(problem) for problem in caught.value.problems]


def test_an_unknown_field_is_refused_naming_the_fault() -> None:
    assert problems_of(broken("    title: catalog's process (pod) is killed\n", "    titel: x\n    title: y\n")) == [
        "faults[catalog-kill].titel: Extra inputs are not permitted"
    ]


def test_each_local_kind_has_its_own_parameters() -> None:
    assert problems_of(broken("mode: blackhole}", "mode: blackhole, latency_ms: 10}")) == [
        "faults[db-blackhole].local: latency_ms is for mode latency, not blackhole"
    ]
    assert problems_of(broken("fault: errors, ratio: 0.3}", "fault: errors, share: 0.3}")) == [
        "faults[catalog-errors].local: the errors fault takes no share (it takes: ratio, routes, seed, status)"
    ]
    assert problems_of(
        broken("{kind: signal, service: catalog, signal: KILL}", "{kind: signal, service: catalog, signal: HUP}")
    ) == ["faults[catalog-kill].local.signal: Input should be 'KILL' or 'STOP'"]
    assert problems_of(
        broken("{kind: lock, database: catalog, table: products, hot: true}", "{kind: lock, database: catalog}")
    ) == ["faults[db-row-lock].local: name the locked row with exactly one of hot: true or sku"]
    assert problems_of(broken("local: {kind: stop, service: catalog}", "local: {kind: halt, service: catalog}")) == [
        "faults[catalog-down].local: Input tag 'halt' found using 'kind' does not match any of the expected tags: "
        "'signal', 'stop', 'switch', 'proxy', 'lock', 'env', 'release', 'stress'"
    ]


def test_local_null_needs_a_reason() -> None:
    text = re.sub(r"    local_why_not: Shifting one process's clock .*\n", "", TEXT)
    assert text != TEXT
    assert problems_of(text) == [
        "faults[node-clock-skew]: local: null needs local_why_not (why the local stack cannot inject it)"
    ]


def test_ids_are_kebab_case_and_unique() -> None:
    assert problems_of(broken("  - id: catalog-kill\n", "  - id: Catalog_Kill\n")) == [
        "faults[Catalog_Kill].id: an id is lower-case words joined by '-', got 'Catalog_Kill'"
    ]
    assert problems_of(broken("  - id: orders-freeze\n", "  - id: catalog-kill\n")) == [
        "faults: ids used twice: catalog-kill"
    ]


def test_at_least_fourteen_faults_over_three_layers() -> None:
    document = yaml.safe_load(TEXT)
    without_aws = {"faults": [fault for fault in document["faults"] if fault["layer"] != "aws"]}
    assert problems_of(yaml.safe_dump(without_aws)) == [
        "faults: no fault in the layer(s) aws: all of app, kubernetes, aws are needed"
    ]
    few = {"faults": document["faults"][:10] + document["faults"][-3:]}
    assert problems_of(yaml.safe_dump(few)) == ["faults: 13 faults: the catalogue holds at least 14"]


def test_each_fault_names_one_way_to_inject_it_off_the_laptop() -> None:
    assert problems_of(broken("    aws: rds-failover.json\n", "    cluster: rds-failover.yaml\n")) == [
        "faults[rds-failover]: an aws-layer fault names its FIS template in `aws`, and no cluster object"
    ]
    assert problems_of(broken("    cluster: null\n    cluster_procedure: rollback\n", "")) == [
        "faults[bad-release]: name exactly one of cluster (a Chaos Mesh object) or cluster_procedure (a runbook)"
    ]
    assert problems_of(broken("    duration: 20s\n", "    duration: 20 seconds\n")) == [
        "faults[catalog-kill].duration: not a duration like 30s, 2m or 1h: '20 seconds'"
    ]


# --- the references: each check shown failing on a broken copy of the repository -------------------


def repo_copy(tmp_path: Path, text: str = TEXT) -> Path:
    """A repository with the real apps, chaos objects and observability, and the catalogue `text`;
    no runbooks and no alert rules of its own unless a test adds them."""
    repo = tmp_path / "repo"
    (repo / "chaos").mkdir(parents=True)
    (repo / "chaos" / "faults.yaml").write_text(text)
    for folder in ("mesh", "aws"):
        (repo / "chaos" / folder).symlink_to(REPO / "chaos" / folder)
    (repo / "apps").symlink_to(REPO / "apps")
    (repo / "observability").mkdir()
    (repo / "observability" / "slos.yaml").symlink_to(REPO / "observability" / "slos.yaml")
    (repo / "observability" / "generated").symlink_to(REPO / "observability" / "generated")
    return repo


def reference_problems(tmp_path: Path, text: str) -> list[str]:
    """The problems of a broken copy that the real catalogue does not have."""
    real = {str(problem) for problem in check_references(repo_copy(tmp_path / "real"), read_catalogue(REPO))}
    repo = repo_copy(tmp_path / "broken", text)
    return [str(p) for p in check_references(repo, parse_catalogue(text)) if str(p) not in real]


def test_a_missing_object_and_template_are_reported(tmp_path: Path) -> None:
    text = broken("    cluster: orders-time-skew.yaml\n", "    cluster: orders-clock.yaml\n")
    text = text.replace("    aws: node-termination.json\n", "    aws: node-kill.json\n")
    assert reference_problems(tmp_path, text) == [
        "faults[node-clock-skew].cluster: no file chaos/mesh/orders-clock.yaml",
        "faults[node-termination].aws: no file chaos/aws/node-kill.json",
    ]


def test_an_unknown_journey_service_and_runbook_are_reported(tmp_path: Path) -> None:
    text = broken("      degraded: [checkout, order-status]\n", "      degraded: [checkout, order-tracking]\n")
    text = text.replace("{kind: signal, service: orders, signal: STOP}", "{kind: signal, service: order, signal: STOP}")
    text = text.replace("    cluster_procedure: rollback\n", "    cluster_procedure: roll-back\n")
    problems = reference_problems(tmp_path, text)
    assert problems[0].startswith(
        "faults[orders-freeze].expect.degraded: no journey 'order-tracking' in observability/slos.yaml"
    )
    assert problems[1].startswith("faults[orders-freeze].local.service: no service 'order' under apps/")
    assert problems[2:] == ["faults[bad-release].cluster_procedure: no runbook runbooks/roll-back.md"]


def test_an_unknown_alert_and_a_label_no_rule_carries_are_reported(tmp_path: Path) -> None:
    text = broken(
        "        - {alertname: SLOFastBurn, slo: checkout-latency}\n",
        "        - {alertname: SLOFastBurn, slo: checkout-latencies}\n",
    )
    text = text.replace(
        "        - {alertname: SLOFastBurn, slo: product-page-latency}\n", "        - {alertname: SloFastBurn}\n"
    )
    problems = reference_problems(tmp_path, text)
    assert len(problems) == 2, problems
    assert re.fullmatch(
        r"faults\[db-row-lock\]\.expect\.alerts\[0\]: no SLOFastBurn rule can carry slo=checkout-latencies "
        r"\(the rules set slo=browse-products-availability, .*\)",
        problems[0],
    )
    assert problems[1] == (
        "faults[catalog-cpu-starvation].expect.alerts[0]: no alert SloFastBurn in observability/rules/*.yaml "
        "or observability/generated/slo-rules.yaml"
    )


# --- docs/chaos.md and the command that writes it ---------------------------------------------------


def test_the_docs_table_is_the_generated_one() -> None:
    document = (REPO / DOC_FILE).read_text(encoding="utf-8")
    assert replace_table(document, catalogue_table(REPO, read_catalogue(REPO))) == document
    # The table opens the document: right after its title and one paragraph.
    assert document.index("<!-- chaos-catalogue:begin") < document.index("\n## ")


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return int(exited.value.code or 0)


def test_catalogue_check_fails_on_a_stale_table_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_copy(tmp_path, broken("    recovery_bound: 90s\n", "    recovery_bound: 2m\n"))
    (repo / "docs").mkdir()
    (repo / DOC_FILE).write_text((REPO / DOC_FILE).read_text())
    assert run_cli("--repo", str(repo), "chaos", "catalogue", "--check") == 1
    assert "out of date: run `shopfloor chaos catalogue --write`" in capsys.readouterr().out
    assert run_cli("--repo", str(repo), "chaos", "catalogue", "--write") == 0
    assert run_cli("--repo", str(repo), "chaos", "catalogue", "--check") == 0
    assert "| `rds-failover` | aws |" in (repo / DOC_FILE).read_text()
    assert "| 2m |" in (repo / DOC_FILE).read_text()


def test_a_broken_catalogue_is_a_clear_cli_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repo_copy(tmp_path, broken("    duration: 20s\n", "    duration: soon\n"))
    assert run_cli("--repo", str(repo), "chaos", "catalogue") == 2
    assert "faults[catalog-kill].duration: not a duration like 30s, 2m or 1h: 'soon'" in capsys.readouterr().err


def test_validate_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repo_copy(tmp_path, broken("    cluster: orders-time-skew.yaml\n", "    cluster: orders-clock.yaml\n"))
    assert run_cli("--repo", str(repo), "chaos", "validate") == 1
    out = capsys.readouterr().out
    assert "faults[node-clock-skew].cluster: no file chaos/mesh/orders-clock.yaml" in out
    assert "faults[catalog-kill].runbook: no runbook runbooks/SLOFastBurn.md" in out
