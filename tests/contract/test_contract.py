"""Issue 17: every cross-layer fact, producer against consumers, per AWS environment.

The producer is terraform/modules/contract evaluated by the real terraform binary; the consumers are
the rendered manifests (Helm's engine), the add-on values argocd/addons renders per cluster, the
ClusterSecretStores and the services' own settings. The second half shows each check failing on the
bug issue 17 found (or would let back in), each on a broken copy: the consumer re-rendered with the
old value, or the producer re-evaluated by terraform from a changed infrastructure.yaml.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.delivery.render import ChartSet, RenderedEnvironment, render_environment
from tests.charts.chartkit import REPO, check_service_contract, load_service_app
from tests.crdkit import assert_valid, require_crds
from tests.terraform.terraformkit import TerraformWorkspace

from .contractkit import (
    AWS_ENVIRONMENTS,
    RELOAD_ANNOTATION,
    Contract,
    addon_values,
    check_addons,
    check_data_store_egress,
    check_data_store_services,
    check_database_bootstrap,
    check_edge,
    check_environment,
    check_redis,
    check_secret_store,
    check_secrets,
    check_subnet_plan,
    check_workloads,
    secret_store,
)

Overrides = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def rendered(chart_set: ChartSet) -> Callable[[str], RenderedEnvironment]:
    """Each environment rendered once for the module (the checks never change a render in place)."""
    cache: dict[str, RenderedEnvironment] = {}

    def render(environment: str) -> RenderedEnvironment:
        if environment not in cache:
            cache[environment] = render_environment(chart_set, environment)
        return cache[environment]

    return render


def broken_render(chart_set: ChartSet, environment: str, overrides: Overrides) -> RenderedEnvironment:
    """The environment rendered again with some values put back the way they were (or broken)."""
    return render_environment(chart_set, environment, overrides=overrides)


# ---------------------------------------------------------------------------------------------
# The layers agree


@pytest.mark.parametrize("environment", AWS_ENVIRONMENTS)
def test_the_contract_carves_one_subnet_per_zone_inside_the_vpc(
    contracts: dict[str, Contract], environment: str
) -> None:
    assert check_subnet_plan(contracts[environment]) == []


@pytest.mark.parametrize("environment", AWS_ENVIRONMENTS)
def test_the_rendered_environment_matches_the_contract(
    contracts: dict[str, Contract], rendered: Callable[[str], RenderedEnvironment], environment: str
) -> None:
    assert check_environment(contracts[environment], rendered(environment)) == []


@pytest.mark.parametrize("environment", AWS_ENVIRONMENTS)
def test_the_add_ons_match_the_contract(contracts: dict[str, Contract], environment: str) -> None:
    addons = addon_values(REPO, environment)
    assert "external-secrets" in addons
    assert check_addons(contracts[environment], addons) == []


@pytest.mark.parametrize("environment", AWS_ENVIRONMENTS)
def test_the_secret_store_matches_the_contract(contracts: dict[str, Contract], environment: str) -> None:
    assert check_secret_store(contracts[environment], secret_store(REPO, environment)) == []


def test_the_shipped_environments_use_what_the_checks_cover(contracts: dict[str, Contract]) -> None:
    """The checks above have something to check: managed data stores and IRSA somewhere, K3s and
    in-cluster stores somewhere else (a check that only ever sees one case cannot fail on the other)."""
    assert {c["data_stores"]["redis"]["kind"] for c in contracts.values()} == {"inCluster", "elasticache"}
    assert {c["platform"] for c in contracts.values()} == {"eks", "k3s"}
    assert contracts["prod"]["subnets"]["database"] == ["10.30.64.0/20", "10.30.80.0/20", "10.30.96.0/20"]


def test_the_custom_resources_validate_against_the_pinned_crds(
    rendered: Callable[[str], RenderedEnvironment],
) -> None:
    """Every ExternalSecret the charts render, every ClusterSecretStore and the ClusterIssuer,
    strictly against External Secrets v2.9.0's and cert-manager v1.21.1's CRDs."""
    require_crds()
    documents = [m.body for environment in AWS_ENVIRONMENTS for m in rendered(environment).of_kind("ExternalSecret")]
    documents += [secret_store(REPO, environment) for environment in AWS_ENVIRONMENTS]
    documents += [
        document
        for path in sorted((REPO / "argocd" / "issuers").rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]
    kinds = {document["kind"] for document in documents}
    assert kinds == {"ExternalSecret", "ClusterSecretStore", "ClusterIssuer"}
    assert assert_valid(documents) >= 12


def test_the_services_accept_the_rendered_redis_settings(
    rendered: Callable[[str], RenderedEnvironment], tmp_path: Path
) -> None:
    """The services' own settings classes take what prod's pods get (REDIS_URL as put-secrets.sh
    writes it: rediss:// with the token)."""
    env = rendered("prod")
    for name in ("catalog", "api-gateway"):
        assert check_service_contract(env, load_service_app(name), tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Each bug of issue 17, put back: the check fails, naming it


def test_first_zone_only_database_egress_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    first_zone = [{"ipBlock": {"cidr": "10.30.64.0/20"}}]
    broken = broken_render(chart_set, "prod", {"orders": {"networkPolicy": {"peers": {"postgresql": first_zone}}}})
    lacking = "['10.30.80.0/20', '10.30.96.0/20']"
    assert check_data_store_egress(contracts["prod"], broken) == [
        f"NetworkPolicy/orders-migrate: postgresql egress lacks the database subnets {lacking}",
        f"NetworkPolicy/orders: postgresql egress lacks the database subnets {lacking}",
        f"Job/orders-migrate: uses postgresql but may not reach the database subnets {lacking}",
        f"Deployment/orders: uses postgresql but may not reach the database subnets {lacking}",
    ]


def test_a_zone_the_vpc_does_not_have_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    """staging has two zones; its edge once admitted a third public subnet."""
    edge = [{"ipBlock": {"cidr": f"10.20.{block}.0/22"}} for block in (0, 4, 8)]
    broken = broken_render(chart_set, "staging", {"frontend": {"networkPolicy": {"peers": {"edge": edge}}}})
    assert check_edge(contracts["staging"], broken) == [
        "Deployment/frontend: admits ['10.20.8.0/22'], not a public subnet of the VPC"
    ]


def test_plain_redis_without_auth_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    plain = {"secrets": {"source": "none", "keys": []}, "config": {"REDIS_URL": "redis://redis-service:6379/0"}}
    broken = broken_render(chart_set, "prod", {"api-gateway": plain})
    assert check_redis(contracts["prod"], broken) == [
        "Deployment/api-gateway: REDIS_URL is 'redis://redis-service:6379/0' in plain configuration: elasticache "
        "requires TLS and AUTH (rediss:// with the token, from shopfloor/prod/redis)"
    ]


def test_redis_url_from_the_wrong_secret_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    wrong = {
        "secrets": {
            "externalSecret": {"remoteRefs": {"REDIS_URL": {"key": "shopfloor/prod/redis", "property": "auth-token"}}}
        }
    }
    broken = broken_render(chart_set, "prod", {"api-gateway": wrong})
    assert check_redis(contracts["prod"], broken) == [
        "Deployment/api-gateway: REDIS_URL from ('shopfloor/prod/redis', 'auth-token'), not "
        "('shopfloor/prod/redis', 'url') (rediss:// with the AUTH token)"
    ]


def test_a_bucket_without_the_account_suffix_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    broken = broken_render(chart_set, "staging", {"catalog": {"config": {"S3_BUCKET": "shopfloor-staging-images"}}})
    assert check_workloads(contracts["staging"], broken) == [
        "Deployment/catalog: S3_BUCKET shopfloor-staging-images, Terraform makes shopfloor-staging-images-111122223333"
    ]


def test_a_database_password_from_the_service_secret_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    """Before: orders read DATABASE_PASSWORD from shopfloor/prod/orders, which holds ADMIN_API_KEY only."""
    own = {"DATABASE_PASSWORD": {"key": "shopfloor/prod/orders", "property": "DATABASE_PASSWORD"}}
    broken = broken_render(chart_set, "prod", {"orders": {"secrets": {"externalSecret": {"remoteRefs": own}}}})
    assert check_secrets(contracts["prod"], broken) == [
        "ExternalSecret/orders-secrets: DATABASE_PASSWORD reads shopfloor/prod/orders property DATABASE_PASSWORD, "
        "which it does not hold (ADMIN_API_KEY)",
        "Deployment/orders: DATABASE_PASSWORD from ('shopfloor/prod/orders', 'DATABASE_PASSWORD'), not "
        "('shopfloor/prod/postgresql', 'orders-password') (the password the database was given)",
    ]


def test_an_external_secrets_role_terraform_does_not_make_fails(contracts: dict[str, Contract]) -> None:
    addons = addon_values(REPO, "prod")
    account = addons["external-secrets"]["serviceAccount"]
    account["annotations"]["eks.amazonaws.com/role-arn"] = "arn:aws:iam::111122223333:role/external-secrets-prod"
    assert check_addons(contracts["prod"], addons) == [
        "external-secrets: serviceAccount role arn:aws:iam::111122223333:role/external-secrets-prod, Terraform makes "
        "arn:aws:iam::111122223333:role/shopfloor-prod-external-secrets"
    ]


def test_an_irsa_role_on_k3s_fails(contracts: dict[str, Contract]) -> None:
    """dev runs K3s: no IRSA. The role annotation names a role that does not exist there."""
    addons = addon_values(REPO, "dev")
    addons["external-secrets"]["serviceAccount"]["annotations"] = {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/shopfloor-dev-external-secrets"
    }
    assert check_addons(contracts["dev"], addons) == [
        "external-secrets: serviceAccount role arn:aws:iam::111122223333:role/shopfloor-dev-external-secrets, "
        "Terraform makes none (K3s: no IRSA, the node role)"
    ]


def test_jwt_auth_on_k3s_fails(contracts: dict[str, Contract]) -> None:
    store = secret_store(REPO, "dev")
    store["spec"]["provider"]["aws"]["auth"] = {
        "jwt": {"serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"}}
    }
    assert check_secret_store(contracts["dev"], store) == [
        "the ClusterSecretStore authenticates with ['jwt'] on k3s: no IRSA there, the node role answers through "
        "the default credential chain (no auth block)"
    ]
    eks_store = secret_store(REPO, "prod")
    del eks_store["spec"]["provider"]["aws"]["auth"]
    assert check_secret_store(contracts["prod"], eks_store) == [
        "the ClusterSecretStore authenticates as None, not IRSA of external-secrets"
    ]


def test_the_alb_controller_without_vpc_and_region_fails(contracts: dict[str, Contract]) -> None:
    addons = addon_values(REPO, "staging")
    del addons["aws-load-balancer-controller"]["vpcTags"]
    del addons["aws-load-balancer-controller"]["region"]
    assert check_addons(contracts["staging"], addons) == [
        "aws-load-balancer-controller: region None, want 'eu-west-1'",
        "aws-load-balancer-controller: vpcTags None, want {'Name': 'shopfloor-staging'}",
    ]


def test_a_missing_add_on_fails(contracts: dict[str, Contract]) -> None:
    addons = addon_values(REPO, "dev")
    del addons["cert-manager"], addons["reloader"]
    assert check_addons(contracts["dev"], addons) == [
        "shopfloor-dev: add-ons ['cert-manager', 'reloader'] are not enabled"
    ]


def test_a_rotation_that_rolls_no_pod_fails(
    contracts: dict[str, Contract], rendered: Callable[[str], RenderedEnvironment]
) -> None:
    broken = copy.deepcopy(rendered("prod"))
    deployment = broken.find("Deployment", "catalog")
    assert deployment is not None
    del deployment.body["metadata"]["annotations"][RELOAD_ANNOTATION]
    assert check_workloads(contracts["prod"], broken) == [
        f"Deployment/catalog: a rotation of ['catalog-secrets'] never reaches its pods (no {RELOAD_ANNOTATION})"
    ]


def test_a_node_port_terraform_opens_but_the_chart_does_not_fails(
    contracts: dict[str, Contract], rendered: Callable[[str], RenderedEnvironment]
) -> None:
    contract = {**contracts["dev"], "frontend_node_port_enabled": True}
    assert check_workloads(contract, rendered("dev")) == ["the frontend NodePort is off; Terraform opens 30080"]


def test_a_changed_fact_reaches_the_check_through_terraform(
    scratch_workspace: TerraformWorkspace, rendered: Callable[[str], RenderedEnvironment]
) -> None:
    """The producer end: prod's infrastructure.yaml changed to two zones and evaluated by terraform
    again; the values still written for three zones no longer match."""
    facts = scratch_workspace.infrastructure("prod")
    facts.write_text(facts.read_text().replace("availabilityZones: 3", "availabilityZones: 2"))
    contract = scratch_workspace.contract("prod")
    problems = check_data_store_egress(contract, rendered("prod"))
    assert "NetworkPolicy/catalog: postgresql egress to ['10.30.96.0/20'], not a database subnet" in problems
    assert "NetworkPolicy/orders: postgresql egress to ['10.30.96.0/20'], not a database subnet" in problems


def test_no_database_bootstrap_on_rds_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    broken = broken_render(chart_set, "staging", {"postgresql": {"bootstrap": {"enabled": False}}})
    assert check_database_bootstrap(contracts["staging"], broken) == [
        "nothing creates the services' databases and roles on RDS (shopfloor-staging): no bootstrap Job"
    ]
    wrong = broken_render(
        chart_set, "prod", {"postgresql": {"bootstrap": {"passwordsSecret": "shopfloor/prod/orders"}}}
    )
    assert check_database_bootstrap(contracts["prod"], wrong) == [
        "Job/postgresql-bootstrap: catalog's password from ('shopfloor/prod/orders', 'catalog-password'), "
        "the service reads shopfloor/prod/postgresql",
        "Job/postgresql-bootstrap: orders's password from ('shopfloor/prod/orders', 'orders-password'), "
        "the service reads shopfloor/prod/postgresql",
    ]


def test_a_data_store_alias_to_another_name_fails(contracts: dict[str, Contract], chart_set: ChartSet) -> None:
    """redis-service must alias the private zone's record Terraform keeps pointing at ElastiCache."""
    broken = broken_render(chart_set, "prod", {"redis": {"externalName": "redis.prod.example.internal"}})
    assert check_data_store_services(contracts["prod"], broken) == [
        "Service/redis-service: ExternalName redis.prod.example.internal, "
        "the contract says ExternalName redis.prod.shopfloor.internal"
    ]


FACTS_HEADER = ["fact", "single source", "producer in Terraform", "consumers", "checked by"]


def facts_table_problems(text: str, outputs: set[str], tests_source: str) -> list[str]:
    """What is wrong with the "Cross-layer facts" table of docs/infrastructure.md: a contract output
    no row names as its source, a check a row names that contractkit lacks or that no test runs."""
    from . import contractkit

    section = text.split("## Cross-layer facts", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header, *body = rows
    if [cell.strip() for cell in header] != FACTS_HEADER:
        return [f"the table's columns are {[cell.strip() for cell in header]}, not {FACTS_HEADER}"]
    sources = " ".join(row[1] for row in body)
    problems = [
        f"contract output {name} is no row's source"
        for name in sorted(outputs)
        if f"`{name}`" not in sources and f"({name}" not in sources
    ]
    named = sorted({name for row in body for name in re.findall(r"`(check_\w+)`", row[4])})
    problems += [
        f"{name} is not a check of contractkit" for name in named if not callable(getattr(contractkit, name, None))
    ]
    problems += [f"no test runs {name}" for name in named if f"{name}(" not in tests_source]
    return problems


def test_the_facts_table_follows_the_contract(contracts: dict[str, Contract]) -> None:
    """docs/infrastructure.md's "Cross-layer facts" names every contract output as a source and only
    checks that exist and run; broken copies of it are caught."""
    text = (REPO / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    outputs = set().union(*(contract.keys() for contract in contracts.values()))
    tests_source = Path(__file__).read_text(encoding="utf-8")
    assert facts_table_problems(text, outputs, tests_source) == []

    without_bucket_row = "\n".join(line for line in text.splitlines() if not line.startswith("| images bucket |"))
    assert facts_table_problems(without_bucket_row, outputs, tests_source) == [
        "contract output buckets is no row's source"
    ]
    invented = text.replace("`check_edge` |", "`check_edge`, `check_dns` |", 1)
    assert facts_table_problems(invented, outputs, tests_source) == [
        "check_dns is not a check of contractkit",
        "no test runs check_dns",
    ]
