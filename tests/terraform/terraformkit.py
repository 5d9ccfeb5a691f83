"""Terraform as the tests see it, in two parts.

1. Checks on the code as parsed by python-hcl2: each returns a list of problems, one sentence each,
   empty when all is well. They cover what `terraform validate` cannot: layout, documentation, pins,
   no account, region or secret written into the code, and the modules that call registry modules
   (network, eks), which cannot be initialised offline.
2. The real terraform binary (the second half of this file): one CLI configuration that installs
   providers from a filesystem mirror only, and a workspace that copies terraform/ once per session,
   initialises each module once (sharing one plugin cache) and runs fmt, validate and `terraform test`.
   This is the one place that knows how terraform is run here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
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
# The environments' decided cross-layer facts (platform, account, region, VPC, host, data stores),
# read by terraform/modules/contract; docs/cross-layer-contract.md.
FACTS = REPO / "environments"
FACTS_FILE = "infrastructure.yaml"
CONTRACT_REGION = "${module.contract.region}"
CONTRACT_PLATFORM = "module.contract.platform"

ACCOUNT_ID = re.compile(r"(?<![\d.])\d{12}(?![\d.])")
# Every commercial, GovCloud and China region name has this shape (us-east-1, ap-southeast-2,
# us-gov-west-1, cn-north-1); the rule is that none is written in terraform/ at all: the region is
# a fact of the environment (environments/<env>/infrastructure.yaml), read through the contract.
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
    uses_providers = bool(parsed.get("resource") or parsed.get("data") or parsed.get("provider"))
    if not providers and uses_providers:
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


TEST_ONLY_SUFFIXES = (".tftest.hcl", ".tfmock.hcl")


def check_hard_coded(directory: Path) -> list[str]:
    """No account id and no region anywhere in the code, its tfvars or its templates. `terraform test`
    files (tests/*.tftest.hcl) and the mock values they share (*.tfmock.hcl) are exempt: they deploy
    nothing, and the mock provider's ARNs must be well-formed to pass the provider's own validation."""
    problems = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in {".tf", ".tfvars", ".tftpl", ".hcl"} or path.name.endswith(TEST_ONLY_SUFFIXES):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path.relative_to(directory.parent)}:{number}"
            if ACCOUNT_ID.search(line):
                problems.append(f"{where}: looks like an AWS account id")
            if REGION.search(line):
                problems.append(f"{where}: names a region (it is the environment's: {FACTS_FILE})")
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
        if provider.get("region") != CONTRACT_REGION:
            problems.append(f"{stack.name}: provider aws region is not the contract's ({CONTRACT_REGION})")
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
    for decided in sorted({"region", "platform", "vpc_cidr", "az_count", "host"} & set(values)):
        problems.append(f"{name}: terraform.tfvars sets {decided} (it comes from environments/{name}/{FACTS_FILE})")
    for unknown in sorted(set(values) - set(variables)):
        problems.append(f"{name}: terraform.tfvars sets {unknown}, which the stack does not declare")
    required = {variable for variable, body in variables.items() if "default" not in body}
    for missing in sorted(required - set(values)):
        problems.append(f"{name}: terraform.tfvars does not set the required {missing}")
    facts = FACTS / name / FACTS_FILE
    if not facts.is_file():
        problems.append(f"{name}: environments/{name}/{FACTS_FILE} is missing (the contract reads it)")
    key = load_hcl(environment / "backend.hcl").get("key")
    if key != f"shopfloor/{name}/terraform.tfstate":
        problems.append(f"{name}: backend.hcl key is {key!r}, not 'shopfloor/{name}/terraform.tfstate'")
    return problems


def check_platform_switch(environment: Path, parsed: Parsed) -> list[str]:
    """The eks and k3s modules are both wired, each counted on the contract's platform alone (the
    environment's infrastructure.yaml), through locals at most."""
    locals_ = {key: str(value) for block in parsed.get("locals", []) for key, value in block.items()}

    def resolved(expression: str, depth: int = 0) -> str:
        if depth > 5:
            return expression
        return re.sub(
            r"local\.(\w+)",
            lambda match: (
                f"({resolved(locals_[match.group(1)].removeprefix('${').removesuffix('}'), depth + 1)})"
                if match.group(1) in locals_
                else match.group(0)
            ),
            expression,
        )

    modules = named(parsed, "module")
    problems = []
    for cluster in ("eks", "k3s"):
        count = re.sub(r"[()\\]", "", resolved(str(modules.get(cluster, {}).get("count", ""))))
        if f'{CONTRACT_PLATFORM} == "{cluster}"' not in count:
            problems.append(
                f"{environment.name}: module {cluster} is not counted on {CONTRACT_PLATFORM} == {cluster!r}"
            )
        others = set(re.findall(r"\b(?:var|module|data|local)\.[\w.]+", count)) - {CONTRACT_PLATFORM}
        if others:
            problems.append(f"{environment.name}: module {cluster}'s count depends on {', '.join(sorted(others))}")
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


# ---------------------------------------------------------------------------------------------
# The terraform binary: fmt, init against the provider mirror, validate and `terraform test`.

PROVIDER_MIRROR_VARIABLE = "TERRAFORM_PROVIDER_MIRROR"
TERRAFORM_INSTALL_HINT = (
    "Put terraform 1.11+ on PATH (https://developer.hashicorp.com/terraform/install; no package registry "
    "provides it) and make the AWS provider installable offline: set "
    f"{PROVIDER_MIRROR_VARIABLE} to a filesystem mirror, a folder holding "
    "registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/ (`terraform providers mirror <folder>` makes one)."
)
# Where these machines keep the mirror is not fixed: it is found the way TOOLS.md says, with find.
MIRROR_SEARCH_ROOT = Path("/")
MIRROR_SEARCH_DEPTH = 4
# The variables a developer's shell may carry that would make a run depend on that shell.
_TERRAFORM_SHELL_VARIABLES = re.compile(r"^(TF_|TERRAFORM_)")


def terraform_binary() -> str | None:
    return shutil.which("terraform")


def _holds_aws_provider(mirror: Path) -> bool:
    return any((mirror / "registry.terraform.io" / "hashicorp" / "aws").glob("*/*_*"))


def find_provider_mirror() -> Path | None:
    """The filesystem mirror holding the AWS provider: TERRAFORM_PROVIDER_MIRROR, else the parent of
    a registry.terraform.io folder found within MIRROR_SEARCH_DEPTH levels of /."""
    override = os.environ.get(PROVIDER_MIRROR_VARIABLE)
    if override:
        return Path(override) if _holds_aws_provider(Path(override)) else None
    found = subprocess.run(
        ["find", str(MIRROR_SEARCH_ROOT), "-maxdepth", str(MIRROR_SEARCH_DEPTH), "-type", "d",
         "-name", "registry.terraform.io"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    mirrors = [Path(line).parent for line in found.stdout.splitlines() if line.strip()]
    # A plugin cache has the same layout; a temporary folder is never the mirror.
    mirrors = sorted(mirror for mirror in mirrors if _holds_aws_provider(mirror) and not mirror.is_relative_to("/tmp"))
    return mirrors[0] if mirrors else None


def cli_config(mirror: Path, plugin_cache: Path) -> str:
    """Providers come from the mirror only (never a registry), and every init links them from one cache."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
        "}\n"
        f'plugin_cache_dir = "{plugin_cache}"\n'
        # No lock files are written into the repo, so without this the cache would be bypassed and
        # each init would copy the (600 MB) AWS provider again.
        "plugin_cache_may_break_dependency_lock_file = true\n"
    )


@dataclass(frozen=True)
class Terraform:
    """The terraform binary with a CLI configuration of its own and nothing from the caller's shell."""

    binary: str
    environment: dict[str, str]

    @classmethod
    def offline(cls, binary: str, mirror: Path, folder: Path) -> Terraform:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plugin-cache").mkdir(exist_ok=True)
        config = folder / "terraform.tfrc"
        config.write_text(cli_config(mirror, folder / "plugin-cache"))
        environment = {key: value for key, value in os.environ.items() if not _TERRAFORM_SHELL_VARIABLES.match(key)}
        environment |= {
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "NO_COLOR": "1",
        }
        return cls(binary, environment)

    def run(self, directory: Path, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, f"-chdir={directory}", *arguments],
            capture_output=True,
            text=True,
            env=self.environment,
            timeout=timeout,
            check=False,
        )


def registry_module_calls(directory: Path) -> list[str]:
    """Sources of the module calls that would be downloaded from a registry (not ./ or ../)."""
    return sorted(
        str(body.get("source", ""))
        for body in named(parse(directory), "module").values()
        if not str(body.get("source", "")).startswith(("./", "../"))
    )


def offline_modules() -> list[str]:
    """Modules terraform can initialise here: those that call no registry module."""
    return sorted(path.name for path in MODULES.iterdir() if path.is_dir() and not registry_module_calls(path))


def output_text(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def replace_once(path: Path, old: str, new: str) -> None:
    """A deliberate fault in a scratch copy: `old` must be in the file; its first occurrence becomes `new`."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def assert_runs_fail(result: subprocess.CompletedProcess[str], failing: Iterable[str], passing: str) -> None:
    """`terraform test` failed on exactly the runs that pin what a fault broke: each of `failing`
    failed, and `passing` (a run the fault does not touch) still passed."""
    assert result.returncode != 0, output_text(result)
    for name in failing:
        assert f'run "{name}"... fail' in result.stdout, result.stdout
    assert f'run "{passing}"... pass' in result.stdout, result.stdout


class TerraformWorkspace:
    """A copy of terraform/, environments/ (the contract module reads environments/<env>/
    infrastructure.yaml) and chaos/aws (the FIS module's templates) in a temporary folder: init
    writes .terraform and lock files there, never into the repo. The registry-module calls in the
    copy are replaced by stubs (below), so every module and the stack can be initialised offline.
    Each directory is initialised at most once."""

    def __init__(self, terraform: Terraform, folder: Path, repo: Path = REPO) -> None:
        self.terraform = terraform
        self.root = folder
        ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.backup")
        shutil.copytree(repo / "terraform", folder / "terraform", ignore=ignore, dirs_exist_ok=True)
        shutil.copytree(repo / "environments", folder / "environments", dirs_exist_ok=True)
        # The FIS module builds its experiment templates from chaos/aws (one source for the JSON).
        shutil.copytree(repo / "chaos" / "aws", folder / "chaos" / "aws", dirs_exist_ok=True)
        self.stubbed = {
            directory.name: labels
            for directory in [*sorted((folder / "terraform" / "modules").iterdir()), folder / "terraform" / "stack"]
            if directory.is_dir() and (labels := stub_registry_modules(directory))
        }
        self._initialised: dict[Path, subprocess.CompletedProcess[str]] = {}

    def clone(self, folder: Path) -> TerraformWorkspace:
        """A copy of this workspace, initialised directories included (their providers are links
        into the plugin cache): a copy to break costs no init."""
        copy = object.__new__(TerraformWorkspace)
        copy.terraform = self.terraform
        copy.root = folder
        shutil.copytree(self.root, folder, symlinks=True, dirs_exist_ok=True)
        copy.stubbed = dict(self.stubbed)
        copy._initialised = {
            folder / directory.relative_to(self.root): result for directory, result in self._initialised.items()
        }
        return copy

    def module(self, name: str) -> Path:
        """A module's folder; "stack" is the root every environment applies."""
        return self.root / "terraform" / ("stack" if name == "stack" else f"modules/{name}")

    def tfvars(self, environment: str) -> Path:
        return self.root / "terraform" / "environments" / environment / "terraform.tfvars"

    def infrastructure(self, environment: str) -> Path:
        return self.root / "environments" / environment / "infrastructure.yaml"

    def init(self, name: str) -> subprocess.CompletedProcess[str]:
        directory = self.module(name)
        if directory not in self._initialised:
            self._initialised[directory] = self.terraform.run(
                directory, "init", "-backend=false", "-input=false", "-no-color"
            )
        return self._initialised[directory]

    def validate(self, name: str) -> subprocess.CompletedProcess[str]:
        initialised = self.init(name)
        if initialised.returncode != 0:
            return initialised
        return self.terraform.run(self.module(name), "validate", "-no-color")

    def test(self, name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        initialised = self.init(name)
        if initialised.returncode != 0:
            return initialised
        return self.terraform.run(self.module(name), "test", "-no-color", *arguments)

    def contract(self, environment: str) -> dict[str, Any]:
        """The contract of an environment as terraform computes it (terraform/modules/contract has
        no provider: apply only evaluates it), output name -> value."""
        module = self.module("contract")
        state = self.root / f"contract-{environment}.tfstate"
        for arguments in (
            ("init", "-backend=false", "-input=false", "-no-color"),
            (
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                f"-var=environment={environment}",
                f"-state={state}",
            ),
        ):
            result = self.terraform.run(module, *arguments)
            if result.returncode != 0:
                raise AssertionError(f"terraform {arguments[0]} of the contract failed:\n{output_text(result)}")
        result = self.terraform.run(module, "output", "-json", f"-state={state}")
        return {name: output["value"] for name, output in json.loads(result.stdout).items()}

    def fmt_check(self) -> subprocess.CompletedProcess[str]:
        return self.terraform.run(self.root, "fmt", "-check", "-recursive", "-diff", "-no-color", "terraform")


TEST_SUMMARY = re.compile(r"Success! (?P<passed>\d+) passed, 0 failed\.")


def passed_runs(result: subprocess.CompletedProcess[str]) -> int:
    """Runs that passed in a successful `terraform test`; 0 when it failed or ran nothing."""
    match = TEST_SUMMARY.search(result.stdout)
    return int(match.group("passed")) if result.returncode == 0 and match else 0


# Registry modules (terraform-aws-modules) cannot be downloaded here. To validate the code around
# them (the network and eks wrappers, the stack's wiring), a workspace can swap each registry call
# for a stub that accepts any argument and returns unknown values for the outputs the caller reads.
# What that leaves unchecked: the registry modules' argument names and types and their output
# names (docs/infrastructure.md, "What cannot be validated here").
STUB_DIRECTORY = ".registry-stubs"
_MODULE_META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}


def _stub_text(label: str, arguments: list[str], outputs: list[str]) -> str:
    lines = [f"# Stand-in for the registry module {label!r}: any argument, unknown outputs.",
             'resource "terraform_data" "unknown" {}', ""]  # fmt: skip
    for argument in arguments:
        lines += [f'variable "{argument}" {{', "  type    = any", "  default = null", "}", ""]
    for output in outputs:
        lines += [f'output "{output}" {{', "  value = terraform_data.unknown.output", "}", ""]
    return "\n".join(lines)


def stub_registry_modules(directory: Path) -> list[str]:
    """Rewrite the registry module calls of one Terraform directory to local stubs; returns their labels."""
    text = {path: path.read_text() for path in sorted(directory.glob("*.tf"))}
    code = "\n".join(text.values())
    stubbed = []
    for label, body in named(parse(directory), "module").items():
        source = str(body.get("source", ""))
        if source.startswith(("./", "../")):
            continue
        arguments = sorted(key for key in body if key not in _MODULE_META_ARGUMENTS and not key.startswith("__"))
        outputs = sorted(set(re.findall(rf"module\.{re.escape(label)}(?:\[[^\]]*\])?\.(\w+)", code)))
        stub = directory / STUB_DIRECTORY / label
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "main.tf").write_text(_stub_text(label, arguments, outputs))
        block = re.compile(
            rf'(module\s+"{re.escape(label)}"\s*\{{.*?)source\s*=\s*"{re.escape(source)}"\s*\n(.*?)\s*version\s*=\s*"[^"]*"\s*\n',
            re.DOTALL,
        )
        for path, content in text.items():
            rewritten, count = block.subn(rf'\1source = "./{STUB_DIRECTORY}/{label}"\n\2\n', content, count=1)
            if count:
                text[path] = rewritten
                path.write_text(rewritten)
                break
        else:
            raise AssertionError(f"{directory.name}: could not rewrite the source of module {label}")
        stubbed.append(label)
    return sorted(stubbed)
