"""Settings through `make` itself: the environment wins over .env, which wins over
.env.example, as in Docker Compose and dotenv (a makefile assignment would otherwise beat the
environment). Runs the project's Makefile with `make -n` in a copy of the project's top level,
so the developer's own .env plays no part."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("Makefile", ".env.example"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    return tmp_path


def _settings_names() -> set[str]:
    return set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", (PROJECT_ROOT / ".env.example").read_text(), re.M))


def _dry_run(project: Path, target: str, *flags: str, **env: str) -> str:
    # Only what the test sets: none of the settings `make test` itself exported.
    clean = {k: v for k, v in os.environ.items() if k not in _settings_names()}
    proc = subprocess.run(
        ["make", "-n", *flags, target],
        cwd=project,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def _up_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("docker compose"))


def test_env_example_alone_gives_the_defaults(project):
    out = _dry_run(project, "up")
    assert "--project-name lakehouse-elt " in _up_line(out)
    assert "http://localhost:8080" in out and "http://localhost:8088" in out


def test_dot_env_beats_env_example(project):
    (project / ".env").write_text("AIRFLOW_PORT=8181\nCOMPOSE_PROJECT_NAME=from-dot-env\n")
    out = _dry_run(project, "up")
    assert "--project-name from-dot-env " in _up_line(out)
    assert "--env-file .env.example --env-file .env" in _up_line(out)
    assert "http://localhost:8181" in out


def test_the_environment_beats_both_files(project):
    (project / ".env").write_text("AIRFLOW_PORT=8181\nSUPERSET_PORT=8282\n")
    out = _dry_run(project, "up", AIRFLOW_PORT="9191", COMPOSE_PROJECT_NAME="from-env")
    assert "http://localhost:9191" in out  # environment over .env
    assert "http://localhost:8282" in out  # .env over .env.example
    assert "--project-name from-env " in _up_line(out)


def test_an_exported_setting_reaches_what_make_runs(project):
    # `make docs` passes WAREHOUSE_PATH to dbt; from the environment it must be the one used.
    out = _dry_run(project, "docs", "-o", "setup", WAREHOUSE_PATH="/data/wh.duckdb")
    docs = [line for line in out.splitlines() if "dbt docs generate" in line]
    assert docs and all("WAREHOUSE_PATH=/data/wh.duckdb" in line for line in docs), out[-2000:]


def test_a_make_run_by_make_takes_the_settings_of_its_own_environment(project):
    # `make test` runs pytest, whose stack test runs `make up` / `make stack-demo` with its own
    # project name: nothing the outer make exported may override that (it once exported its
    # COMPOSE command line, which the inner make's `COMPOSE ?=` then took over).
    (project / "outer.mk").write_text(
        "include Makefile\n.PHONY: outer\nouter:\n"
        "\tCOMPOSE_PROJECT_NAME=inner-project $(MAKE) -n stack-demo\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in _settings_names()}
    command = ["make", "-f", "outer.mk", "outer"]
    out = subprocess.run(command, cwd=project, env=clean, capture_output=True, text=True, check=True).stdout
    compose_lines = [line for line in out.splitlines() if line.startswith("docker compose")]
    assert len(compose_lines) == 2, out  # land, then trigger
    assert all("--project-name inner-project " in line for line in compose_lines), out
