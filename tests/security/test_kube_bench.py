"""Spec 8.1 (docs/requirements.md#spec-8-1), the cluster side of kube-bench: each AWS environment's
security Application renders one kube-bench CronJob running the CIS benchmark of the platform the
environment is built on (environments/<env>/infrastructure.yaml, the fact Terraform reads too),
with the targets that benchmark has and `--json`, the one document `shopfloor security report`
reads; the benchmark is the one the report's sample results come from, and every failure
docs/security.md accepts on purpose names a benchmark some environment runs. Rendered with Helm's
engine as Argo CD would (tests/gitops/argocdkit.py); no benchmark runs here (no cluster)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from tests.gitops.argocdkit import render_chart
from tests.security.securitykit import REPO

ENVIRONMENTS = ("dev", "staging", "prod")
SAMPLES = REPO / "tools" / "shopfloor" / "tests" / "data"
# A benchmark's name says its platform: eks-<v> (EKS), k3s-cis-<v> (K3s), cis-<v> (kubeadm, kind).
FAMILY = {"eks": re.compile(r"eks-\d"), "k3s": re.compile(r"k3s-cis-\d"), "kind": re.compile(r"cis-\d")}
# kube-bench's targets per benchmark family (its cfg/<benchmark>/config.yaml): EKS has no control
# plane to read, K3s runs master, etcd and node in one process.
TARGETS = {
    "eks": {"node", "policies", "controlplane", "managedservices"},
    "k3s": {"master", "node", "etcd", "policies"},
}


def platform_of(environment: str) -> str:
    facts = yaml.safe_load((REPO / "environments" / environment / "infrastructure.yaml").read_text())
    return str(facts["platform"])


def security_values(environment: str) -> dict[str, Any]:
    app = yaml.safe_load((REPO / "argocd" / "clusters" / environment / "security.yaml").read_text())
    return dict(app["spec"]["source"]["helm"]["valuesObject"])


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [m.body for m in render_chart(REPO, "argocd/security", values, release="security", namespace="shopfloor")]


def sample_benchmarks() -> dict[str, set[str]]:
    """Platform -> the benchmark versions of the sample reports `shopfloor security report` is tested on."""
    found: dict[str, set[str]] = {}
    for path in SAMPLES.glob("kube-bench-*.json"):
        data = json.loads(path.read_text())
        controls = data.get("Controls", [data])
        for control in controls:
            for platform, family in FAMILY.items():
                if family.match(control["version"]):
                    found.setdefault(platform, set()).add(control["version"])
                    break
    return found


def kube_bench_problems(environment: str, rendered: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the environment's kube-bench CronJob, one sentence each."""
    platform = platform_of(environment)
    jobs = [b for b in rendered if b["kind"] == "CronJob" and b["metadata"]["name"].startswith("kube-bench")]
    if len(jobs) != 1:
        return [f"{environment}: {len(jobs)} kube-bench CronJobs, not one"]
    [container] = jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = list(container["command"])
    options = dict(zip(command[2::2], command[3::2], strict=False)) if command[:2] == ["kube-bench", "run"] else {}
    benchmark, targets = options.get("--benchmark", ""), set(options.get("--targets", "").split(","))
    problems = []
    if not FAMILY[platform].match(benchmark):
        problems.append(f"{environment}: runs on {platform} but kube-bench runs benchmark {benchmark!r}")
    if benchmark not in sample_benchmarks().get(platform, set()):
        problems.append(f"{environment}: benchmark {benchmark!r} is not the one the report is tested on")
    if not targets <= TARGETS.get(platform, targets) or "policies" not in targets:
        problems.append(f"{environment}: targets {sorted(targets)} are not {platform}'s (with policies)")
    if "--json" not in command:
        problems.append(f"{environment}: no --json: `shopfloor security report` reads one JSON document")
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_benchmarks_its_own_platform_in_the_reports_format(environment: str) -> None:
    assert kube_bench_problems(environment, render(security_values(environment))) == []


def test_a_benchmark_of_another_platform_and_a_missing_json_are_caught() -> None:
    values = security_values("dev")
    wrong = copy.deepcopy(values)
    wrong["platform"] = "eks"  # dev is K3s: the EKS node checks would read paths K3s does not have
    assert kube_bench_problems("dev", render(wrong)) == [
        "dev: runs on k3s but kube-bench runs benchmark 'eks-1.7.0'",
        "dev: benchmark 'eks-1.7.0' is not the one the report is tested on",
    ]
    no_policies = copy.deepcopy(values)
    no_policies.setdefault("kubeBench", {})["benchmarks"] = {"k3s": {"benchmark": "k3s-cis-1.8", "targets": ["node"]}}
    assert kube_bench_problems("dev", render(no_policies)) == ["dev: targets ['node'] are not k3s's (with policies)"]
    rendered = render(values)
    job = next(b for b in rendered if b["kind"] == "CronJob")
    job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"].remove("--json")
    assert kube_bench_problems("dev", rendered) == [
        "dev: no --json: `shopfloor security report` reads one JSON document"
    ]


def test_every_accepted_failure_names_a_benchmark_an_environment_runs() -> None:
    run = set()
    for environment in ENVIRONMENTS:
        for body in render(security_values(environment)):
            if body["kind"] == "CronJob":
                command = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
                run.add(command[command.index("--benchmark") + 1])
    section = (REPO / "docs" / "security.md").read_text().split("## kube-bench failures left on purpose")[1]
    rows = [line for line in section.split("\n## ")[0].splitlines() if re.match(r"\|\s*`\d", line)]
    assert rows, "docs/security.md lists no accepted kube-bench failure"
    for row in rows:
        benchmarks = {name.strip() for name in row.split("|")[2].split(",")}
        assert benchmarks <= run, (
            f"{row.split('|')[1].strip()} names {sorted(benchmarks - run)}, which no environment runs"
        )
