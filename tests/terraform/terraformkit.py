"""Checks on the Terraform code as parsed by python-hcl2: each returns a list of problems, one
sentence each, empty when all is well. The tests run them over terraform/ and over deliberately
broken copies, to prove each one can fail.

These checks are about what a reviewer would otherwise have to remember: layout, documentation,
pins, and no account, region or secret written into the code. What terraform itself must judge
(a module's planned values) runs the real binary: `init_copy` and `run_terraform` below.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
# One root every environment applies; an environment is only its values and its state key.
STACK = TERRAFORM / "stack"
ENVIRONMENTS = TERRAFORM / "environments"
ENVIRONMENT_FILES = ("terraform.tfvars", "backend.hcl")
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
ENVIRONMENT_NAMES = ("dev", "staging", "prod")
DEFAULT_TAGS = {"Project", "Environment", "ManagedBy"}

ACCOUNT_ID = re.compile(r"(?<![\d.])\d{12}(?![\d.])")
# Every commercial, GovCloud and China region name has this shape (us-east-1, ap-southeast-2,
# us-gov-west-1, cn-north-1); the rule is that none is written in terraform/ at all: the region
# enters only as var.region, set by TF_VAR_region or -var at plan time.
REGION = re.compile(
    r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-(?:gov-|iso-)?"
    r"(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-\d(?!\d)"
)
# Attributes that hold a secret by name (auth_token, password, secret_string), not ones that merely
# mention it (http_tokens, master_user_secret_kms_key_id).
SECRET_ATTRIBUTE = re.compile(r"(?:^|_)(?:password|passwd|secret|token|secret_string|private_key)$", re.IGNORECASE)

Parsed = dict[str, list[Any]]


def parse(directory: Path) -> Parsed:
    """Every .tf file of one Terraform root or module, merged by top-level block type."""
    merged: Parsed = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            document = hcl2.load(
                handle,
                serialization_options=hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False),
            )
        for block_type, blocks in document.items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def named(parsed: Parsed, block_type: str) -> dict[str, dict[str, Any]]:
    """Blocks with one label (variable, output, module) by label."""
    return {label: body for block in parsed.get(block_type, []) for label, body in block.items()}


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def check_layout(module: Path) -> list[str]:
    return [f"{module.name}: {name} is missing" for name in MODULE_FILES if not (module / name).is_file()]


def check_variables(directory: Path, parsed: Parsed) -> list[str]:
    problems = []
    for name, body in named(parsed, "variable").items():
        if "type" not in body:
            problems.append(f"{directory.name}: variable {name} has no type")
        if not str(body.get("description", "")).strip():
            problems.append(f"{directory.name}: variable {name} has no description")
    return problems


def check_outputs(directory: Path, parsed: Parsed) -> list[str]:
    return [
        f"{directory.name}: output {name} has no description"
        for name, body in named(parsed, "output").items()
        if not str(body.get("description", "")).strip()
    ]


def check_pinned(directory: Path, parsed: Parsed) -> list[str]:
    """required_version set; every provider has a version; every registry module has a version."""
    problems = []
    settings = parsed.get("terraform", [])
    if not any(block.get("required_version") for block in settings):
        problems.append(f"{directory.name}: no terraform required_version")
    providers = {
        name: body
        for block in settings
        for required in block.get("required_providers", [])
        for name, body in required.items()
    }
    if not providers:
        problems.append(f"{directory.name}: no required_providers")
    for name, body in providers.items():
        if not isinstance(body, dict) or not str(body.get("version", "")).strip():
            problems.append(f"{directory.name}: provider {name} has no version constraint")
    used = {block_type.split("_")[0] for block in parsed.get("resource", []) for block_type in block}
    used |= {block_type.split("_")[0] for block in parsed.get("data", []) for block_type in block}
    for provider in sorted(used - set(providers) - {"terraform"}):
        problems.append(f"{directory.name}: provider {provider} is used but not in required_providers")
    for name, body in named(parsed, "module").items():
        source = str(body.get("source", ""))
        if not source.startswith(("./", "../")) and not str(body.get("version", "")).strip():
            problems.append(f"{directory.name}: module {name} ({source}) has no version")
    return problems


def walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted.path, leaf) for every attribute in a parsed block, however deeply nested."""
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in walk(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [pair for item in value for pair in walk(item, path)]
    return [(path, value)]


def check_secrets(directory: Path, parsed: Parsed) -> list[str]:
    """A password/secret/token attribute must come from a variable, resource or data source."""
    problems = []
    for block_type in ("resource", "data", "module", "provider", "locals"):
        for path, value in walk(parsed.get(block_type, [])):
            attribute = path.rsplit(".", 1)[-1]
            if SECRET_ATTRIBUTE.search(attribute) and isinstance(value, str) and not is_expression(value):
                problems.append(f"{directory.name}: {block_type} {path} is a literal string")
    return problems


def check_hard_coded(directory: Path) -> list[str]:
    """No account id and no region anywhere in the code, its tfvars or its templates."""
    problems = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in {".tf", ".tfvars", ".tftpl", ".hcl"}:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path.relative_to(directory.parent)}:{number}"
            if ACCOUNT_ID.search(line):
                problems.append(f"{where}: looks like an AWS account id")
            if REGION.search(line):
                problems.append(f"{where}: names a region (use var.region)")
    return problems


def check_readme(module: Path, parsed: Parsed) -> list[str]:
    """The README's inputs and outputs tables name every variable and output."""
    readme = module / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    return [
        f"{module.name}: README.md does not list {kind} {name}"
        for kind in ("variable", "output")
        for name in named(parsed, kind)
        if f"| `{name}` |" not in text
    ]


def check_module(module: Path) -> list[str]:
    parsed = parse(module)
    return [
        *check_layout(module),
        *check_readme(module, parsed),
        *check_variables(module, parsed),
        *check_outputs(module, parsed),
        *check_pinned(module, parsed),
        *check_secrets(module, parsed),
        *check_hard_coded(module),
    ]


def check_stack(stack: Path) -> list[str]:
    """Pins, documentation and secrets as for modules, plus state locking, tags and the region variable."""
    parsed = parse(stack)
    problems = [
        *check_variables(stack, parsed),
        *check_outputs(stack, parsed),
        *check_pinned(stack, parsed),
        *check_secrets(stack, parsed),
        *check_hard_coded(stack),
    ]
    backends = [body for block in parsed.get("terraform", []) for body in block.get("backend", [])]
    s3 = [backend["s3"] for backend in backends if "s3" in backend]
    if not s3:
        problems.append(f'{stack.name}: no backend "s3"')
    else:
        if not (s3[0].get("use_lockfile") is True or s3[0].get("dynamodb_table")):
            problems.append(f"{stack.name}: the S3 backend has no locking (use_lockfile or dynamodb_table)")
        if "key" in s3[0]:
            problems.append(f"{stack.name}: the S3 backend names a state key (each environment's backend.hcl does)")
    aws = [body["aws"] for body in parsed.get("provider", []) if "aws" in body]
    if not aws:
        problems.append(f'{stack.name}: no provider "aws"')
    for provider in aws:
        if provider.get("region") != "${var.region}":
            problems.append(f"{stack.name}: provider aws region is not var.region")
        tags = {key for default in provider.get("default_tags", []) for key in default.get("tags", {})}
        if missing := DEFAULT_TAGS - tags:
            problems.append(f"{stack.name}: provider aws default_tags lack {sorted(missing)}")
    return problems


def check_environment(environment: Path, stack: Parsed) -> list[str]:
    """An environment is a tfvars file setting the stack's variables and a backend.hcl with its own
    state key: nothing else, so it cannot wire anything differently."""
    name = environment.name
    problems = [f"{name}: {file} is missing" for file in ENVIRONMENT_FILES if not (environment / file).is_file()]
    if problems:
        return problems
    problems += [f"{name}: {path.name} does not belong here" for path in sorted(environment.iterdir())
                 if path.name not in ENVIRONMENT_FILES]  # fmt: skip
    problems += check_hard_coded(environment)
    values = tfvars(environment)
    variables = named(stack, "variable")
    if values.get("environment") != name:
        problems.append(f"{name}: terraform.tfvars sets environment = {values.get('environment')!r}")
    if "region" in values:
        problems.append(f"{name}: terraform.tfvars sets the region (it comes from TF_VAR_region)")
    for unknown in sorted(set(values) - set(variables)):
        problems.append(f"{name}: terraform.tfvars sets {unknown}, which the stack does not declare")
    required = {variable for variable, body in variables.items() if "default" not in body} - {"region"}
    for missing in sorted(required - set(values)):
        problems.append(f"{name}: terraform.tfvars does not set the required {missing}")
    key = load_hcl(environment / "backend.hcl").get("key")
    if key != f"shopfloor/{name}/terraform.tfstate":
        problems.append(f"{name}: backend.hcl key is {key!r}, not 'shopfloor/{name}/terraform.tfstate'")
    return problems


def check_platform_switch(environment: Path, parsed: Parsed) -> list[str]:
    """The eks and k3s modules are both wired, each counted on var.platform alone."""
    locals_ = {key: value for block in parsed.get("locals", []) for key, value in block.items()}

    def resolved(expression: str) -> str:
        return re.sub(r"local\.(\w+)", lambda match: str(locals_.get(match.group(1), match.group(0))), expression)

    modules = named(parsed, "module")
    variable = named(parsed, "variable").get("platform")
    problems = []
    if variable is None or not variable.get("validation"):
        problems.append(f"{environment.name}: no validated variable platform")
    for cluster in ("eks", "k3s"):
        count = resolved(str(modules.get(cluster, {}).get("count", "")))
        if f'var.platform == "{cluster}"' not in count.replace("\\", ""):
            problems.append(f"{environment.name}: module {cluster} is not counted on var.platform == {cluster!r}")
        if re.search(r"var\.(?!platform\b)", count):
            problems.append(f"{environment.name}: module {cluster}'s count depends on more than var.platform")
    return problems


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        values: dict[str, Any] = hcl2.load(
            handle, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
        )
    # python-hcl2 reports comments under "__comments__": not a value anyone set.
    return {key: value for key, value in values.items() if not key.startswith("__")}


def tfvars(environment: Path) -> dict[str, Any]:
    return load_hcl(environment / "terraform.tfvars")


CHECKOV_SKIP = re.compile(r"#\s*checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")


def check_skip_reasons(root: Path) -> list[str]:
    """Every inline checkov skip says why, in a sentence."""
    problems = []
    for path in sorted(root.rglob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if (match := CHECKOV_SKIP.search(line)) and len((match.group("reason") or "").split()) < 8:
                problems.append(f"{path.relative_to(root)}:{number}: {match.group('check')} skipped without a reason")
    return problems


# Running terraform: the binary from the PATH, the providers from a filesystem mirror when the
# machine has one (these machines reach no provider registry), else from the registry.
TERRAFORM_INSTALL_HINT = (
    "Install Terraform 1.11 and put `terraform` on the PATH; providers come from the registry, or from "
    "a filesystem mirror found below / or named by TF_PROVIDER_MIRROR."
)
# Not searched for a mirror: kernel file systems, and scratch space where another run's provider
# cache may lie.
NOT_SEARCHED_FOR_MIRRORS = frozenset({"proc", "sys", "dev", "run", "tmp"})


def terraform_binary() -> str | None:
    return shutil.which("terraform")


@functools.cache
def provider_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws (`<mirror>/<registry host>/hashicorp/aws/...`):
    $TF_PROVIDER_MIRROR, else the first one at most four levels below / (as `find / -maxdepth 4`
    finds it), else None."""
    if named := os.environ.get("TF_PROVIDER_MIRROR"):
        return Path(named)
    for top in sorted(Path("/").iterdir()):
        if top.name in NOT_SEARCHED_FOR_MIRRORS or top.is_symlink() or not top.is_dir():
            continue
        for pattern in ("*/*/hashicorp/aws", "*/*/*/hashicorp/aws"):
            for provider in sorted(top.glob(pattern)):
                return provider.parents[2]
    return None


def terraform_environment(workdir: Path) -> dict[str, str]:
    """The environment terraform runs in: no prompts, no update check, and a CLI config (written
    into `workdir`) installing providers from the mirror when there is one."""
    environment = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    mirror = provider_mirror()
    if mirror is not None:
        config = workdir / "terraform.tfrc"
        config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
        environment["TF_CLI_CONFIG_FILE"] = str(config)
    elif not Path(environment.get("TF_CLI_CONFIG_FILE", "")).is_file():
        environment.pop("TF_CLI_CONFIG_FILE", None)  # a setting naming no file only adds a warning
    return environment


def run_terraform(directory: Path, environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    binary = terraform_binary()
    if binary is None:
        raise FileNotFoundError(f"terraform is not on the PATH. {TERRAFORM_INSTALL_HINT}")
    return subprocess.run(
        [binary, *arguments], cwd=directory, env=environment, capture_output=True, text=True, timeout=600, check=False
    )


def init_copy(directory: Path, workdir: Path) -> tuple[Path, dict[str, str]]:
    """`terraform init -backend=false` in a copy of terraform/ under `workdir`, so no .terraform/ or
    lock file lands in the repository and parallel runs share nothing. Returns the copy of
    `directory` (a module or the stack) and the environment to run terraform in there."""
    copy = workdir / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    target = copy / directory.relative_to(TERRAFORM)
    environment = terraform_environment(workdir)
    initialised = run_terraform(target, environment, "init", "-backend=false", "-input=false", "-no-color")
    if initialised.returncode != 0:
        raise RuntimeError(f"terraform init in {target} failed:\n{initialised.stdout}{initialised.stderr}")
    return target, environment
