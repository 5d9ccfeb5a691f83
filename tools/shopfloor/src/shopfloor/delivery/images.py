"""`shopfloor images build`: the container images, what goes into each and building them.

One Dockerfile (at the repository root) makes every image: a service image per service found under
apps/ (target `service`, build args SERVICE and PORT, the port from the service's [tool.shopfloor]
table) and the tools image (target `tools`: the CLI's base install, which the PostSync smoke Job
runs). `image_specs` is the one statement of which images there are and how each is built;
`image_inputs` reads what each is made of from the Dockerfile's COPY lines, and `shopfloor changed`
(changed.py) uses that to decide which images a push rebuilds and bumps. `build_images` is
`make images` here (podman, from a base made locally with debootstrap because these machines reach
no container registry), `scripts/deploy/build-images.sh` on CodeBuild (docker) and
`make kind-deploy` (docker). Every build checks the SBOM the image carries against its lock
(`check_sbom`, shopfloor.security.sbom) before the image is pushed or reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from shopfloor.delivery import DEFAULT_REPOSITORY_PREFIX, TOOLS_IMAGE
from shopfloor.delivery.dockerfile import DockerfileError, context_paths
from shopfloor.delivery.git import git
from shopfloor.local.discovery import DiscoveryError, discover_services
from shopfloor.security.sbom import SBOM_PATH, SbomError, expected_for, sbom_problems

DOCKERFILE = "Dockerfile"
# Besides what the Dockerfile copies: the Dockerfile itself and the context's allow-list.
BUILD_FILES = (".dockerignore", DOCKERFILE)

# The locally made stand-in for python:3.11-slim-bookworm: Debian bookworm's own Python 3.11.
LOCAL_BASE_IMAGE = "localhost/shopfloor/python-base:3.11-bookworm"
_BASE_SUITE = "bookworm"
_BASE_PACKAGES = ("python3.11", "python3.11-venv", "ca-certificates")
# Trimmed after install: documentation and package indexes have no place in a runtime image.
_BASE_TRIM = ("var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/log")
_BASE_IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3.11"]',
)
_RECIPE_LABEL = "io.shopfloor.base-recipe"
# Builds behind a TLS-inspecting proxy need the host's trust store for pip; it is mounted into
# the RUN steps only (podman build --volume), never baked into an image.
_HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ImagesError(Exception):
    """A problem to report to the user as it is, with exit status 2."""


@dataclass(frozen=True)
class ImageSpec:
    """One image: its name (the repository's last part), Dockerfile stage and build arguments."""

    name: str
    target: str
    build_args: tuple[tuple[str, str], ...] = ()

    def matrix_entry(self) -> dict[str, str]:
        """What the release workflow's build matrix needs (build-push-action's inputs)."""
        return {
            "name": self.name,
            "target": self.target,
            "build_args": "".join(f"{key}={value}\n" for key, value in self.build_args),
        }


def image_specs(repo: Path) -> list[ImageSpec]:
    """Every image: one per service under apps/ (in name order), then the tools image."""
    try:
        services = discover_services(repo)
    except DiscoveryError as exc:
        raise ImagesError(str(exc)) from None
    specs = [ImageSpec(s.name, "service", (("SERVICE", s.name), ("PORT", str(s.port)))) for s in services]
    return [*specs, ImageSpec(TOOLS_IMAGE, "tools")]


def image_names(repo: Path) -> list[str]:
    return [spec.name for spec in image_specs(repo)]


def image_inputs(repo: Path, spec: ImageSpec) -> tuple[str, ...]:
    """Repository paths (files or folders) whose content makes up the image."""
    try:
        text = (repo / DOCKERFILE).read_text(encoding="utf-8")
        copied = context_paths(text, spec.target, dict(spec.build_args), image=spec.name)
    except (OSError, DockerfileError) as exc:
        raise ImagesError(str(exc)) from None
    return (*BUILD_FILES, *copied)


def git_output(repo: Path, *args: str, what: str) -> str:
    """`git ARGS` in `repo`, its output; ImagesError saying `what` when it fails."""
    result = git(repo, *args, check=False)
    if result.returncode != 0:
        detail = result.stderr.strip()
        raise ImagesError(f"{what}{': ' + detail if detail else ''}")
    return result.stdout


@dataclass(frozen=True)
class BuildOptions:
    repo: Path
    images: Sequence[str]
    engine: str = "podman"
    repository_prefix: str = DEFAULT_REPOSITORY_PREFIX
    tag: str = "dev"
    revision: str | None = None
    source: str | None = None
    base_image: str | None = None
    local_base: bool = False
    push: bool = False
    # Where each image's SBOM is written (<dir>/<image>.cdx.json) after it has been checked.
    sbom_dir: Path | None = None


@dataclass(frozen=True)
class BuiltImage:
    name: str
    image: str
    digest: str | None
    size_bytes: int
    seconds: float
    sbom: str | None = None


def build_images(options: BuildOptions, say: Callable[[str], None] = print) -> list[BuiltImage]:
    """Build (and with `push`, push) each image; say what happens as it happens."""
    specs = {spec.name: spec for spec in image_specs(options.repo)}
    unknown = sorted(set(options.images) - set(specs))
    if unknown:
        raise ImagesError(f"no image named {', '.join(unknown)} (the images: {', '.join(specs)})")
    engine = _engine_path(options.engine)
    chosen = [specs[name] for name in options.images] if options.images else list(specs.values())
    env = engine_env(options.repo, options.engine)
    base_image = options.base_image
    if options.local_base:
        base_image = ensure_local_base_image(engine, env, say=say)
    revision = (
        options.revision or git_output(options.repo, "rev-parse", "HEAD", what="cannot read the revision").strip()
    )

    built = []
    for number, spec in enumerate(chosen, start=1):
        image = f"{options.repository_prefix}/{spec.name}:{options.tag}"
        say(f"[{number}/{len(chosen)}] building {image}")
        started = time.monotonic()
        command = [engine, "build", "--file", DOCKERFILE, "--target", spec.target, "--tag", image]
        for key, value in spec.build_args:
            command += ["--build-arg", f"{key}={value}"]
        command += ["--build-arg", f"REVISION={revision}"]
        if options.source:
            command += ["--build-arg", f"SOURCE={options.source}"]
        if base_image:
            command += ["--build-arg", f"PYTHON_BASE={base_image}"]
        if options.engine == "podman":
            # docker format keeps HEALTHCHECK (the OCI image format has no such field).
            command += ["--format", "docker"]
            if options.local_base:
                command += ["--pull=never"]
            if _HOST_CA_BUNDLE.is_file():
                command += ["--volume", f"{_HOST_CA_BUNDLE}:{_HOST_CA_BUNDLE}:ro"]
        command.append(".")
        _run(command, cwd=options.repo, env=env, what=f"building {spec.name}")
        if options.engine == "podman":
            labels = {"org.opencontainers.image.revision": revision}
            if options.source:
                labels["org.opencontainers.image.source"] = options.source
            _label_podman_image(engine, image, labels, env)
        sbom = check_sbom(engine, image, spec, options, env)
        say(f"[{number}/{len(chosen)}] {image}: its SBOM lists exactly what the lock pins")
        digest = _push(engine, options.engine, image, env) if options.push else None
        seconds = time.monotonic() - started
        size = int(_output([engine, "image", "inspect", "--format", "{{.Size}}", image], env=env).strip() or 0)
        say(f"[{number}/{len(chosen)}] {image}: {size / 1e6:.0f} MB in {seconds:.0f} s")
        built.append(BuiltImage(spec.name, image, digest, size, round(seconds, 1), sbom))
    return built


def check_sbom(engine: str, image: str, spec: ImageSpec, options: BuildOptions, env: dict[str, str]) -> str | None:
    """Read the SBOM the build wrote into `image`, refuse the image unless it lists exactly the lock
    it was built from (shopfloor.security.sbom), and keep it in `options.sbom_dir` when given (the
    path is returned). Before any push: an image whose SBOM disagrees with its lock never leaves."""
    text = _output([engine, "run", "--rm", "--network=none", image, "cat", SBOM_PATH], env=env)
    try:
        expected = expected_for(options.repo, spec.name, service=spec.target == "service")
    except SbomError as exc:
        raise ImagesError(str(exc)) from None
    problems = sbom_problems(text, expected)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ImagesError(f"{image}: its SBOM ({SBOM_PATH}) does not match what it should hold:\n{listed}")
    if options.sbom_dir is None:
        return None
    options.sbom_dir.mkdir(parents=True, exist_ok=True)
    path = options.sbom_dir / f"{spec.name}.cdx.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _label_podman_image(engine: str, image: str, labels: dict[str, str], env: dict[str, str]) -> None:
    """Set `labels` on `image` with a one-line build (`FROM image`). podman 4.3 reuses a cached LABEL
    layer when only a build arg changed, which would stamp an old revision, and its --label applies
    to the Dockerfile's last stage only (not to the tools target): a build whose Containerfile is just
    FROM gets the literal values, so its cache can never hold a stale one."""
    with tempfile.TemporaryDirectory(prefix="shopfloor-label-") as folder:
        (Path(folder) / "Containerfile").write_text(f"FROM {image}\n", encoding="utf-8")
        command = [engine, "build", "--format", "docker", "--pull=never", "--tag", image]
        for key, value in labels.items():
            command += ["--label", f"{key}={value}"]
        _run([*command, folder], env=env, what=f"labelling {image}", quiet=True)


def write_report(built: Sequence[BuiltImage], path: Path) -> None:
    path.write_text(json.dumps([asdict(image) for image in built], indent=2) + "\n", encoding="utf-8")


def _push(engine: str, engine_name: str, image: str, env: dict[str, str]) -> str:
    if engine_name == "podman":
        with tempfile.NamedTemporaryFile("r", suffix=".digest") as digest_file:
            _run([engine, "push", "--digestfile", digest_file.name, image], env=env, what=f"pushing {image}")
            return Path(digest_file.name).read_text(encoding="utf-8").strip()
    _run([engine, "push", image], env=env, what=f"pushing {image}")
    repo_digest = _output([engine, "image", "inspect", "--format", "{{index .RepoDigests 0}}", image], env=env)
    return repo_digest.strip().rpartition("@")[2]


def ensure_local_base_image(engine: str, env: dict[str, str], say: Callable[[str], None] = print) -> str:
    """LOCAL_BASE_IMAGE, made with debootstrap unless an image of the same recipe is already there."""
    recipe = _base_recipe_hash()
    label_format = "{{index .Labels " + json.dumps(_RECIPE_LABEL) + "}}"
    try:
        present = _output([engine, "image", "inspect", "--format", label_format, LOCAL_BASE_IMAGE], env=env).strip()
    except ImagesError:
        present = ""
    if present == recipe:
        say(f"[base] {LOCAL_BASE_IMAGE} is up to date")
        return LOCAL_BASE_IMAGE
    if os.geteuid() != 0:
        raise ImagesError(
            "making the local base image needs root (debootstrap and chroot); run as root, or pass "
            "--base-image with an image you have"
        )
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise ImagesError(f"making the local base image needs {tool} (Debian: apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="shopfloor-base-", dir="/var/tmp") as scratch:
        rootfs = Path(scratch) / "rootfs"
        started = time.monotonic()
        say(f"[base] debootstrap {_BASE_SUITE} (minbase) into {rootfs} ...")
        # No mirror argument: debootstrap's default Debian mirror.
        _run(["debootstrap", "--variant=minbase", _BASE_SUITE, str(rootfs)], what="debootstrap", quiet=True)
        say(f"[base] installing {' '.join(_BASE_PACKAGES)} ...")
        install = f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {' '.join(_BASE_PACKAGES)}"
        _run(
            ["chroot", str(rootfs), "/bin/sh", "-c", f"{install} && apt-get clean"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            what="installing Python into the base",
            quiet=True,
        )
        for relative in _BASE_TRIM:
            for child in (rootfs / relative).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        shutil.rmtree(rootfs / "debootstrap", ignore_errors=True)
        # python:3.11-slim has `python` and `python3` on PATH; so does this stand-in.
        for alias in ("python", "python3"):
            link = rootfs / "usr/local/bin" / alias
            link.unlink(missing_ok=True)
            link.symlink_to("/usr/bin/python3.11")
        say(f"[base] importing as {LOCAL_BASE_IMAGE} ...")
        tarball = Path(scratch) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], what="packing the base")
        changes = [*_BASE_IMPORT_CHANGES, f"LABEL {_RECIPE_LABEL}={recipe}"]
        command = [engine, "import"]
        for change in changes:
            command += ["--change", change]
        _run([*command, str(tarball), LOCAL_BASE_IMAGE], env=env, what="importing the base", quiet=True)
        say(f"[base] {LOCAL_BASE_IMAGE} made in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE_IMAGE


def _base_recipe_hash() -> str:
    recipe = json.dumps([_BASE_SUITE, _BASE_PACKAGES, _BASE_TRIM, _BASE_IMPORT_CHANGES, "aliases-v1"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _engine_path(engine: str) -> str:
    if engine not in ("podman", "docker"):
        raise ImagesError(f"unknown engine {engine!r}: use podman or docker")
    path = shutil.which(engine)
    if path is None:
        hint = "apt-get install podman runc" if engine == "podman" else "install Docker"
        raise ImagesError(f"{engine} is not installed ({hint})")
    return path


def engine_env(repo: Path, engine: str) -> dict[str, str]:
    """The environment to run `engine` with for this repository (tests run the images with it)."""
    env = dict(os.environ)
    # The settings TOOLS.md says podman needs on these machines, unless the user has their own.
    config = repo / "ci" / "podman" / "containers.conf"
    if engine == "podman" and "CONTAINERS_CONF" not in env and config.is_file():
        env["CONTAINERS_CONF"] = str(config)
    elif "CONTAINERS_CONF" in env:
        # podman's build helpers run in other folders: a relative path would point nowhere.
        env["CONTAINERS_CONF"] = str(Path(env["CONTAINERS_CONF"]).absolute())
    return env


def _run(
    command: list[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> None:
    result = subprocess.run(  # noqa: S603 (an argument list, no shell)
        command, cwd=cwd, env=env, check=False, capture_output=quiet, text=True if quiet else None
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").splitlines()[-15:]) if quiet else ""
        raise ImagesError(f"{what} failed (exit {result.returncode}): {' '.join(command[:3])} ...\n{tail}".rstrip())


def _output(command: list[str], *, env: dict[str, str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ImagesError(f"{' '.join(command[:3])} failed: {result.stderr.strip()}")
    return result.stdout
