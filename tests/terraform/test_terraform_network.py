"""The subnets carry the tags the AWS Load Balancer Controller discovers them by: without
`kubernetes.io/role/elb` on the public subnets the controller cannot place the internet-facing ALB
of the Ingress ("couldn't auto-discover subnets"), and without `kubernetes.io/role/internal-elb` on
the private ones no internal load balancer. The network module calls the registry VPC module, which
cannot be initialised offline, so `terraform test` cannot plan it: the tags are checked on the
parsed HCL of the call, the one place they are set (docs/infrastructure.md)."""

from __future__ import annotations

from pathlib import Path

from tests.terraform.terraformkit import MODULES, named, parse

# What the AWS Load Balancer Controller's subnet auto-discovery looks for, by subnet tier.
LOAD_BALANCER_TAGS = {
    "public_subnet_tags": {"kubernetes.io/role/elb": "1"},
    "private_subnet_tags": {"kubernetes.io/role/internal-elb": "1"},
}


def check_load_balancer_subnet_tags(module: Path) -> list[str]:
    """Problems of the VPC call's subnet tags, one sentence each."""
    vpc = named(parse(module), "module").get("vpc")
    if vpc is None:
        return [f"{module.name}: no module vpc"]
    problems = []
    for argument, wanted in LOAD_BALANCER_TAGS.items():
        tags = vpc.get(argument) or {}
        for key, value in wanted.items():
            if str(tags.get(key)) != value:
                problems.append(
                    f"{module.name}: module vpc {argument} lacks {key} = {value!r} (has {tags or 'none'}): "
                    "the AWS Load Balancer Controller cannot discover these subnets"
                )
    return problems


def test_the_subnets_are_tagged_for_the_load_balancer_controller() -> None:
    problems = check_load_balancer_subnet_tags(MODULES / "network")
    assert problems == [], "\n".join(problems)


def test_missing_load_balancer_tags_are_caught(tmp_path: Path) -> None:
    # A module of its own (not a copy of network/), so this test holds whatever network/ says.
    broken = tmp_path / "network"
    broken.mkdir()
    (broken / "main.tf").write_text(
        'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n'
        '  public_subnet_tags = {\n    Tier = "public"\n  }\n'
        '  private_subnet_tags = {\n    "kubernetes.io/role/internal-elb" = "1"\n  }\n}\n'
    )
    assert check_load_balancer_subnet_tags(broken) == [
        "network: module vpc public_subnet_tags lacks kubernetes.io/role/elb = '1' (has {'Tier': 'public'}): "
        "the AWS Load Balancer Controller cannot discover these subnets"
    ]
    (broken / "main.tf").write_text('module "other" {\n  source = "./x"\n}\n')
    assert check_load_balancer_subnet_tags(broken) == ["network: no module vpc"]
