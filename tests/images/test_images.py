"""The images: built from the one Dockerfile with podman the way `make images` builds them, then run
the way the charts run them (read-only root filesystem, only /tmp writable, a numeric user, no
capabilities): each service until /readyz answers 200, the tools image as the PostSync smoke Job
against real services. Each service image holds exactly its lock (the frontend's has no database
stack), and carries a CycloneDX SBOM (valid against the 1.6 schema) of exactly what it has
installed. Also: hadolint and checkov on the Dockerfile, each shown failing on a broken copy.

podman runs here for real; there is no registry, so the base image is made with debootstrap.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import canonicalize_name

from shopfloor.delivery import TOOLS_IMAGE
from shopfloor.delivery.images import LOCAL_BASE_IMAGE, engine_env, image_names
from shopfloor.local.discovery import discover_services
from shopfloor.repo import find_repo_root
from shopfloor.security.sbom import SBOM_PATH, expected_for, sbom_problems
from shopfloor_common.localserver import free_port
from tests.checkovkit import CHECKOV, INSTALL_HINT, run_checkov

from ..conftest import StartService

REPO = find_repo_root(Path(__file__).parent)
DOCKERFILE = REPO / "Dockerfile"
IMAGES = image_names(REPO)
SERVICES = [name for name in IMAGES if name != TOOLS_IMAGE]
BIN = Path(sys.executable).parent
TAG = "test"
ADMIN_KEY = "images-test-admin-key-0123456789"
MAX_IMAGE_BYTES = 350 * 1000 * 1000
# The tools image is the base plus the CLI's base install (standard library only).
MAX_TOOLS_BYTES_OVER_BASE = 5 * 1000 * 1000
PORTS = {spec.name: spec.port for spec in discover_services(REPO)}
# The first build on a machine makes the base with debootstrap and downloads every wheel (~2 min here).
pytestmark = pytest.mark.timeout(900)


def podman(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="session")
def podman_env(missing_dependency: Callable[[str, str], None]) -> dict[str, str]:
    if shutil.which("podman") is None or shutil.which("debootstrap") is None:
        missing_dependency(
            "podman (with debootstrap for the local base image)",
            "Install them: apt-get install podman runc uidmap slirp4netns fuse-overlayfs debootstrap "
            "(.ci/run does), then run the tests as root.",
        )
    if os.geteuid() != 0:
        missing_dependency(
            "root (debootstrap and rootful podman make the base image)",
            "Run the image tests as root: sudo --preserve-env=CI .venv/bin/pytest tests/images (CI does).",
        )
    return engine_env(REPO, "podman")


@pytest.fixture(scope="session")
def built(podman_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every image, built once per session through the CLI `make images` uses."""
    folder = tmp_path_factory.mktemp("images")
    report = folder / "report.json"
    command = [str(BIN / "shopfloor"), "images", "build", "--engine", "podman", "--local-base", "--tag", TAG]
    command += ["--report", str(report), "--sbom-dir", str(folder / "sbom")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=podman_env, check=False)
    assert result.returncode == 0, f"image build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    images = {entry["name"]: entry for entry in json.loads(report.read_text())}
    sizes = ", ".join(f"{name} {entry['size_bytes'] / 1e6:.0f} MB" for name, entry in sorted(images.items()))
    print(f"\nimage sizes: {sizes}")
    return images


def inspect(env: dict[str, str], image: str) -> dict[str, Any]:
    details: list[dict[str, Any]] = json.loads(podman(env, "image", "inspect", image).stdout)
    return details[0]


# The flags that make a container what the charts' securityContext makes a pod.
LOCKED_DOWN = [
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp:rw,size=64m",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
    "--network=host",
]


@pytest.fixture
def container_name(podman_env: dict[str, str]) -> Iterator[str]:
    name = f"shopfloor-test-{uuid.uuid4().hex[:10]}"
    yield name
    podman(podman_env, "rm", "--force", "--time", "0", name, check=False)


def wait_ready(env: dict[str, str], name: str, port: int, seconds: float = 60) -> tuple[int | None, str]:
    """Poll /readyz until 200, the container stops or time runs out: (last status, what was seen)."""
    deadline = time.monotonic() + seconds
    status: int | None = None
    seen = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            status, seen = answer.status_code, f"{answer.status_code} {answer.text[:200]}"
            if status == 200:
                break
        except httpx.TransportError as exc:
            seen = repr(exc)
        if podman(env, "inspect", "--format", "{{.State.Running}}", name).stdout.strip() != "true":
            seen += " (the container stopped)"
            break
        time.sleep(0.3)
    return status, seen


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_gets_ready_on_a_read_only_root_as_its_numeric_user(
    service: str,
    built: dict[str, dict[str, Any]],
    podman_env: dict[str, str],
    container_name: str,
    request: pytest.FixtureRequest,
) -> None:
    image = built[service]["image"]
    port = free_port()
    environment = {"PORT": str(port), "ADMIN_API_KEY": ADMIN_KEY, "IMAGE_DIR": "/tmp/images"}
    spec = next(spec for spec in discover_services(REPO) if spec.name == service)
    if spec.migrate:
        environment["DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    env_flags = [flag for key, value in environment.items() for flag in ("--env", f"{key}={value}")]

    if spec.migrate:
        # As the chart's migration Job runs it: same image, same restrictions, before the pods.
        migrate = podman(podman_env, "run", "--rm", *LOCKED_DOWN, *env_flags, image, service, "migrate")
        assert "database migrated" in migrate.stdout

    podman(podman_env, "run", "--detach", "--name", container_name, *LOCKED_DOWN, *env_flags, image)
    status, last = wait_ready(podman_env, container_name, port)
    logs = podman(podman_env, "logs", container_name, check=False)
    assert status == 200, f"{service} not ready ({last}):\n{logs.stderr[-2000:]}"

    ids = podman(podman_env, "exec", container_name, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert ids.stdout.split() == ["10001", "10001"]
    # The image's HEALTHCHECK (used by docker/podman, not Kubernetes) works against the live server.
    assert podman(podman_env, "healthcheck", "run", container_name, check=False).returncode == 0


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_is_labelled_small_and_carries_no_build_tools(
    name: str, built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    image = built[name]["image"]
    config = inspect(podman_env, image)["Config"]
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert config["Labels"]["org.opencontainers.image.revision"] == revision
    assert config["Labels"]["org.opencontainers.image.source"].startswith("https://")
    assert config["Labels"]["org.opencontainers.image.title"] == f"shopfloor-{name}"
    assert config["User"] == "10001:10001"
    assert built[name]["size_bytes"] < MAX_IMAGE_BYTES, f"{name}: {built[name]['size_bytes'] / 1e6:.0f} MB"
    if name == TOOLS_IMAGE:
        assert config["Cmd"] == ["shopfloor", "--help"]
        assert "ExposedPorts" not in config or not config["ExposedPorts"]
    else:
        # One CMD for every service: `shopfloor-service` is this service's command.
        assert config["Cmd"] == ["shopfloor-service", "serve"]
        assert f"{PORTS[name]}/tcp" in config["ExposedPorts"]
        assert f"PORT={PORTS[name]}" in config["Env"]
        usage = podman(podman_env, "run", "--rm", "--network=none", image, "shopfloor-service", "--help")
        assert usage.stdout.startswith(f"usage: {name} ")

    probe = (
        "import importlib.util as u, os; "
        "print(u.find_spec('pip'), u.find_spec('hatchling'), os.path.exists('/opt/build-tools'))"
    )
    result = podman(podman_env, "run", "--rm", "--network=none", image, "python", "-c", probe)
    assert result.stdout.split() == ["None", "None", "False"]


def locked_packages(service: str) -> set[str]:
    lock = (REPO / "requirements" / "images" / f"{service}.txt").read_text(encoding="utf-8")
    return {canonicalize_name(match) for match in re.findall(r"^([A-Za-z0-9][\w.-]*)==", lock, re.MULTILINE)}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_image_holds_exactly_its_lock_and_the_frontends_no_database_stack(
    service: str, built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    listing = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
    result = podman(podman_env, "run", "--rm", "--network=none", built[service]["image"], "python", "-c", listing)
    installed = {canonicalize_name(name) for name in result.stdout.split()}
    assert installed == locked_packages(service) | {"shopfloor-common", f"shopfloor-{service}"}
    # uvicorn's "auto" loop and parser, as with uvicorn[standard]; none of that extra's unused parts.
    assert {"uvloop", "httptools"} <= installed
    assert not installed & {"watchfiles", "websockets"}
    if service == "frontend":
        assert not installed & {"sqlalchemy", "asyncpg", "aiosqlite", "alembic", "redis", "cachetools", "aiohttp"}


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_carries_a_valid_sbom_of_exactly_what_it_holds(
    name: str, built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    """The build already refused any image whose SBOM disagrees with its lock; here the kept SBOM
    is held to the CycloneDX 1.6 schema and to what the image really has installed."""
    text = Path(built[name]["sbom"]).read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    service = name != TOOLS_IMAGE
    assert sbom_problems(text, expected_for(REPO, name, service=service)) == []
    inside = podman(podman_env, "run", "--rm", "--network=none", built[name]["image"], "cat", SBOM_PATH).stdout
    assert inside == text

    listing = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = podman(podman_env, "run", "--rm", "--network=none", built[name]["image"], "python", "-c", listing)
    installed = {canonicalize_name(n): version for n, version in json.loads(result.stdout).items()}
    bom = json.loads(text)
    listed = {canonicalize_name(c["name"]): c["version"] for c in bom.get("components", [])}
    root = bom["metadata"]["component"]
    listed[canonicalize_name(root["name"])] = root["version"]
    assert listed == installed


def test_the_tools_image_is_the_base_and_the_cli_alone(
    built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    base_bytes = int(podman(podman_env, "image", "inspect", "--format", "{{.Size}}", LOCAL_BASE_IMAGE).stdout)
    assert built[TOOLS_IMAGE]["size_bytes"] - base_bytes < MAX_TOOLS_BYTES_OVER_BASE
    image = built[TOOLS_IMAGE]["image"]
    listing = "import importlib.metadata as m; print(sorted(d.metadata['Name'] for d in m.distributions()))"
    assert podman(podman_env, "run", "--rm", "--network=none", image, "python", "-c", listing).stdout.strip() == (
        "['shopfloor']"
    )
    render = ["run", "--rm", "--network=none", image, "shopfloor", "render", "--env", "dev"]
    refused = podman(podman_env, *render, check=False)
    assert refused.returncode == 2
    assert "pip install 'shopfloor[full]'" in refused.stderr


async def test_the_tools_image_runs_the_smoke_test_as_the_post_sync_job_does(
    built: dict[str, dict[str, Any]], podman_env: dict[str, str], start_service: StartService
) -> None:
    """As argocd/smoke-test's Job: the chart's user (65534), read-only, no capabilities, `shopfloor smoke`."""
    await start_service("catalog")
    await start_service("orders")
    # As in a cluster: /metrics and the health paths on the management port, off the public one.
    gateway = await start_service("api-gateway", env={"MANAGEMENT_PORT": str(free_port())})
    job = ["run", "--rm", *LOCKED_DOWN, "--user=65534:65534", built[TOOLS_IMAGE]["image"], "shopfloor", "smoke"]

    process = await asyncio.create_subprocess_exec(
        "podman", *job, "--base-url", gateway.url, env=podman_env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    for check in ("product list", "one product", "unknown product", "API description"):
        assert f"ok   {check}" in output

    # And it fails, naming the check, when the shop is not all there (no frontend in this stack).
    process = await asyncio.create_subprocess_exec(
        "podman", *job, "--base-url", gateway.url, "--expect-frontend", env=podman_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await process.communicate())[0].decode()
    assert process.returncode == 1, output
    assert "FAIL frontend page" in output


def test_a_service_build_without_its_port_stops_and_says_what_is_missing(
    built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    command = ["build", "--format", "docker", "--pull=never", "--file", str(DOCKERFILE), "--target", "service"]
    command += ["--build-arg", f"PYTHON_BASE={LOCAL_BASE_IMAGE}", "--build-arg", "SERVICE=catalog"]
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")  # as `shopfloor images build` mounts it, for pip
    if bundle.is_file():
        command += ["--volume", f"{bundle}:{bundle}:ro"]
    result = podman(podman_env, *command, str(REPO), check=False)
    assert result.returncode != 0
    assert "a service image needs --build-arg SERVICE=<folder under apps/> and --build-arg PORT=" in result.stderr


# --- the Dockerfile, without building ------------------------------------------------------------


def run_hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "hadolint"), "--failure-threshold", "warning", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_hadolint_finds_nothing() -> None:
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout


def test_hadolint_refuses_a_root_user_and_an_unpinned_install(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text(encoding="utf-8").replace("USER 10001:10001", "USER root")
    broken.write_text(text.replace("WORKDIR /tmp", "RUN pip install flask\nWORKDIR /tmp"))
    result = run_hadolint(broken)
    assert result.returncode != 0
    assert "DL3002" in result.stdout
    assert "DL3013" in result.stdout


@pytest.fixture(scope="session")
def checkov(missing_dependency: Callable[[str, str], None]) -> Path:
    if not CHECKOV.exists():
        missing_dependency(f"checkov ({CHECKOV})", INSTALL_HINT)
    return CHECKOV


def dockerfile_checkov(path: Path) -> dict[str, Any]:
    return run_checkov("dockerfile", path, timeout=120)[0]


@pytest.mark.usefixtures("checkov")
def test_checkov_finds_nothing_and_every_skip_has_a_reason() -> None:
    report = dockerfile_checkov(DOCKERFILE)
    assert report["results"]["failed_checks"] == []
    assert report["results"]["passed_checks"]
    skipped = report["results"]["skipped_checks"]
    assert {check["check_id"] for check in skipped} == {"CKV_DOCKER_7"}
    assert re.search(r"checkov:skip=CKV_DOCKER_7: \S.{20,}", DOCKERFILE.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("checkov")
def test_checkov_refuses_an_image_without_a_user_or_healthcheck(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    text = re.sub(r"USER .*\n", "", text)
    text = re.sub(r"HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", text)
    (tmp_path / "Dockerfile").write_text(text)
    failed = {check["check_id"] for check in dockerfile_checkov(tmp_path / "Dockerfile")["results"]["failed_checks"]}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= failed
