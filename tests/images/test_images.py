"""The service images: built with podman the way `make images` builds them, then run the way the
charts run them (read-only root filesystem, only /tmp writable, the image's numeric user, no
capabilities) until /readyz answers 200. Also: hadolint and checkov on the Dockerfiles, each shown
failing on a broken copy, and the Dockerfiles agreeing with the change detection's image inputs.

podman runs here for real; there is no registry, so the base image is made with debootstrap.
"""

from __future__ import annotations

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

from shopfloor.delivery.images import engine_env, image_inputs, image_services
from shopfloor.local.discovery import discover_services
from shopfloor.repo import find_repo_root
from shopfloor_common.localserver import free_port
from tests.checkovkit import CHECKOV, INSTALL_HINT, run_checkov

REPO = find_repo_root(Path(__file__).parent)
SERVICES = image_services(REPO)
BIN = Path(sys.executable).parent
TAG = "test"
ADMIN_KEY = "images-test-admin-key-0123456789"
MAX_IMAGE_BYTES = 350 * 1000 * 1000
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
    report = tmp_path_factory.mktemp("images") / "report.json"
    command = [str(BIN / "shopfloor"), "images", "build", "--engine", "podman", "--local-base", "--tag", TAG]
    result = subprocess.run(
        [*command, "--report", str(report)], cwd=REPO, capture_output=True, text=True, env=podman_env, check=False
    )
    assert result.returncode == 0, f"image build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    images = {entry["service"]: entry for entry in json.loads(report.read_text())}
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


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_is_labelled_small_and_carries_no_build_tools(
    service: str, built: dict[str, dict[str, Any]], podman_env: dict[str, str]
) -> None:
    image = built[service]["image"]
    config = inspect(podman_env, image)["Config"]
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert config["Labels"]["org.opencontainers.image.revision"] == revision
    assert config["Labels"]["org.opencontainers.image.source"].startswith("https://")
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == [service, "serve"]
    assert f"{PORTS[service]}/tcp" in config["ExposedPorts"]
    assert built[service]["size_bytes"] < MAX_IMAGE_BYTES, f"{service}: {built[service]['size_bytes'] / 1e6:.0f} MB"

    probe = (
        "import importlib.util as u, os; "
        "print(u.find_spec('pip'), u.find_spec('hatchling'), os.path.exists('/opt/build-tools'))"
    )
    result = podman(podman_env, "run", "--rm", "--network=none", image, "python", "-c", probe)
    assert result.stdout.split() == ["None", "None", "False"]


# --- the Dockerfiles, without building -----------------------------------------------------------


def dockerfile(service: str) -> str:
    return (REPO / "apps" / service / "Dockerfile").read_text(encoding="utf-8")


def test_the_dockerfiles_differ_only_in_service_name_and_port() -> None:
    def shape(service: str) -> str:
        return dockerfile(service).replace(service, "<service>").replace(str(PORTS[service]), "<port>")

    shapes = {service: shape(service) for service in SERVICES}
    assert len(set(shapes.values())) == 1, "the Dockerfiles drifted apart: keep them one shape"


@pytest.mark.parametrize("service", SERVICES)
def test_a_dockerfile_copies_exactly_its_image_inputs(service: str) -> None:
    copied = set()
    for line in dockerfile(service).splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(line.split()[1:-1])
    declared = {spec.rstrip("/") for spec in image_inputs(service)} - {".dockerignore", f"apps/{service}/Dockerfile"}
    assert copied == declared


def run_hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "hadolint"), "--failure-threshold", "warning", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_hadolint_finds_nothing() -> None:
    result = run_hadolint(*(REPO / "apps" / service / "Dockerfile" for service in SERVICES))
    assert result.returncode == 0, result.stdout


def test_hadolint_refuses_a_root_user_and_an_unpinned_install(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    text = dockerfile("catalog").replace("USER 10001:10001", "USER root")
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


def dockerfile_checkov(directory: Path) -> dict[str, Any]:
    return run_checkov("dockerfile", directory, timeout=120)[0]


@pytest.mark.usefixtures("checkov")
def test_checkov_finds_nothing_and_every_skip_has_a_reason() -> None:
    report = dockerfile_checkov(REPO / "apps")
    assert report["results"]["failed_checks"] == []
    skipped = report["results"]["skipped_checks"]
    assert {check["check_id"] for check in skipped} == {"CKV_DOCKER_7"}
    for service in SERVICES:
        assert re.search(r"checkov:skip=CKV_DOCKER_7: \S.{20,}", dockerfile(service))


@pytest.mark.usefixtures("checkov")
def test_checkov_refuses_an_image_without_a_user_or_healthcheck(tmp_path: Path) -> None:
    text = dockerfile("orders")
    text = re.sub(r"USER .*\n", "", text)
    text = re.sub(r"HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", text)
    (tmp_path / "Dockerfile").write_text(text)
    failed = {check["check_id"] for check in dockerfile_checkov(tmp_path)["results"]["failed_checks"]}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= failed
