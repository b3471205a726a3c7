"""Shared fixtures: a real local S3 endpoint, isolated runtime dirs, the real day files.

Tests never use the developer's `.runtime/` or port 9000: every test gets its own runtime
directory and bucket, and the session runs its own S3 endpoint (moto's server, the same
stand-in `make s3` runs) on a free loopback port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = PROJECT_ROOT / ".venv"
DAY_FILES = PROJECT_ROOT / "data" / "online_retail_uci" / "by_day"

# Airflow reads its home at import time: point it away from the developer's before any test
# module imports airflow.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="lakehouse-tests-"))
os.environ["AIRFLOW_HOME"] = str(_SESSION_TMP / "airflow-import")
os.environ["LAKEHOUSE_RUNTIME_DIR"] = str(_SESSION_TMP / "runtime-import")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["AIRFLOW__COSMOS__CACHE_DIR"] = str(_SESSION_TMP / "cosmos-import")
sys.path.insert(0, str(PROJECT_ROOT))

S3_KEY = "test-access-key"
S3_SECRET = "test-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible server (moto) on a free 127.0.0.1 port for the whole session."""
    moto = VENV_DIR / "s3" / "bin" / "moto_server"
    if not moto.exists():
        pytest.fail(f"{moto} missing: `make test` runs `make setup` first")
    port = _free_port()
    log = (_SESSION_TMP / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"local S3 did not start; see {log.name}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_env(s3_endpoint, tmp_path, monkeypatch):
    """Environment for one test: its own bucket and runtime dir, pointing at the session S3."""
    bucket = f"raw-{uuid.uuid4().hex[:12]}"
    env = {
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_ACCESS_KEY": S3_KEY,
        "S3_SECRET_KEY": S3_SECRET,
        "S3_REGION": "us-east-1",
        "RAW_BUCKET": bucket,
        "RAW_PREFIX": "online_retail",
        "LAKEHOUSE_RUNTIME_DIR": str(tmp_path / "runtime"),
        "WAREHOUSE_PATH": str(tmp_path / "runtime" / "warehouse" / "lakehouse.duckdb"),
        "AIRFLOW_CONN_LAKEHOUSE_S3": json.dumps(
            {
                "conn_type": "aws",
                "login": S3_KEY,
                "password": S3_SECRET,
                "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
            }
        ),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_client(s3_env):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_env["S3_ENDPOINT_URL"],
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture(scope="session")
def airflow_home_template():
    """An Airflow home with a migrated metadata DB and the warehouse pool, made once."""
    home = _SESSION_TMP / "airflow-template"
    runtime = _SESSION_TMP / "runtime-template"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "LAKEHOUSE_RUNTIME_DIR": str(runtime)}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    subprocess.run(
        [str(VENV_DIR / "airflow" / "bin" / "python"), "-m", "include.cli", "init"],
        env=env,
        check=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
    )
    return home


@pytest.fixture
def airflow_home(airflow_home_template, tmp_path, monkeypatch):
    """A private copy of the migrated Airflow home for one test."""
    home = tmp_path / "airflow"
    shutil.copytree(airflow_home_template, home)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def day_files() -> Path:
    if not DAY_FILES.is_dir():
        pytest.fail(f"{DAY_FILES} is missing: the shipped day files are part of the project")
    return DAY_FILES


# `make test` hands whole files to two xdist workers (--dist loadfile, in collection order,
# --no-loadscope-reorder). The files that each run Airflow (or the Docker stack) for minutes
# go first, so that no worker is left running one of them alone at the end while the other
# idles.
SLOW_FILES_FIRST = (
    "tests/stack/",
    "tests/e2e/test_retail_elt_failures_e2e.py",
    "tests/e2e/test_retail_elt_e2e.py",
    "tests/scaleout/",
    "tests/browser/test_airflow_ui.py",
    "tests/browser/test_superset_dashboards.py",
    "tests/quality/",
    "tests/dbt/",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next(
            (i for i, prefix in enumerate(SLOW_FILES_FIRST) if item.nodeid.startswith(prefix)),
            len(SLOW_FILES_FIRST),
        )

    items.sort(key=rank)
