"""Browser-test fixtures: headless Chromium (Debian's package) driven by Playwright, a real
Superset on a real serving file, and a real Airflow (`make airflow`'s standalone).

Chromium is never downloaded by Playwright (it cannot be here): the tests use the system's
/usr/bin/chromium, which `make test` installs from Debian's packages when it is missing.
Screenshots go to BROWSER_ARTIFACTS_DIR (default .runtime/test-artifacts/browser/).
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from include.pipeline.batch import Batch
from tests.airflow_api import stop_tree
from tests.conftest import PROJECT_ROOT, _free_port
from tests.helpers import run_dbt, stage_files

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# The flags this machine's Chromium needs: no sandbox as root, no GPU, no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("BROWSER_ARTIFACTS_DIR") or PROJECT_ROOT / ".runtime" / "test-artifacts" / "browser"
)
SUPERSET_PASSWORD = "browser-test-admin"

# Real days over two months (so the cohort heatmap has more than one cohort), one of them
# with a second file holding a malformed row (so quarantine shows up on the dashboards).
SERVED_DAYS = ["2010-12-01", "2010-12-02", "2010-12-03", "2011-01-04", "2011-01-05", "2011-01-06"]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def browser(tmp_path) -> Iterator:
    """A fresh headless Chromium profile (a new user-data dir per test)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1200},
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


def _malformed_file(day_files: Path, day: str, into: Path) -> Path:
    """A second file for `day`: two real rows of that day, the second with Quantity 'abc'."""
    with gzip.open(day_files / f"{day}.csv.gz", "rt", newline="") as handle:
        reader = csv.reader(handle)
        header, first, second = next(reader), next(reader), next(reader)
    second[header.index("Quantity")] = "abc"
    first[header.index("InvoiceNo")] = "999001"
    into.parent.mkdir(parents=True, exist_ok=True)
    with into.open("w", newline="") as out:
        csv.writer(out).writerows([header, first, second])
    return into


@pytest.fixture(scope="module")
def served(day_files, tmp_path_factory, s3_endpoint) -> dict:
    """A serving file published the way the DAG publishes it: real days through the real
    loader, dbt, the three Soda gates and `publish`. The rows were loaded two days before the
    gates run, so the bronze freshness check warns (the data-quality dashboard has a warning
    to show)."""
    from include.config import settings
    from include.quality.soda_gate import run_gate
    from include.serving.publish import publish

    work = tmp_path_factory.mktemp("served")
    runtime = work / "runtime"
    warehouse = runtime / "warehouse" / "lakehouse.duckdb"
    serving = runtime / "serving" / "lakehouse_serving.duckdb"
    warehouse.parent.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEHOUSE_RUNTIME_DIR", str(runtime))
        mp.setenv("WAREHOUSE_PATH", str(warehouse))
        mp.setenv("SERVING_PATH", str(serving))
        files = {f"{d}/{d}.csv.gz": day_files / f"{d}.csv.gz" for d in SERVED_DAYS}
        files["2010-12-02/late-extra.csv"] = _malformed_file(day_files, "2010-12-02", work / "late-extra.csv")
        now = datetime.now(UTC).replace(tzinfo=None)
        stage_files(warehouse, files, "browser-fixture", loaded_at=now - timedelta(days=2))
        run_dbt(warehouse, work, "build")
        batch = Batch(date.fromisoformat(SERVED_DAYS[0]), date.fromisoformat(SERVED_DAYS[-1]))
        s = settings()
        for layer in ("bronze", "silver", "gold"):
            run_gate(layer, batch, "browser-fixture", s, scanned_at=now)
        publish(warehouse, serving)
    return {"warehouse": warehouse, "serving": serving, "runtime": runtime, "files": files}


class RunningSuperset:
    def __init__(self, ss, serving: Path, log: Path):
        self.ss = ss
        self.serving = serving
        self.log = log

    @property
    def url(self) -> str:
        return self.ss.url

    def client(self):
        from include.serving.superset import SupersetClient

        return SupersetClient(self.ss)


@pytest.fixture(scope="module")
def superset(served, tmp_path_factory) -> Iterator[RunningSuperset]:
    """`make superset`'s steps on a private home and port: init, gunicorn, assets import."""
    from include.serving import superset as sup

    home = tmp_path_factory.mktemp("superset-home")
    env = {
        "SUPERSET_HOME": str(home),
        "SUPERSET_PORT": str(_free_port()),
        "SUPERSET_SECRET_KEY": "browser-test-secret-key-local-only",
        "SUPERSET_ADMIN_USERNAME": "admin",
        "SUPERSET_ADMIN_PASSWORD": SUPERSET_PASSWORD,
        "SERVING_PATH": str(served["serving"]),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        ss = sup.superset_settings()
        log = home / "superset.log"
        proc = None
        try:
            sup.init(ss)
            proc = sup.start(ss, log)
            sup.wait_healthy(ss, proc)
            sup.import_assets(ss, served["serving"])
            yield RunningSuperset(ss, served["serving"], log)
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


class RunningAirflow:
    def __init__(self, url: str, home: Path, proc: subprocess.Popen, env: dict):
        self.url = url
        self.home = home
        self.proc = proc
        self.env = env

    def password(self) -> str:
        import json

        return json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]


@pytest.fixture
def airflow_ui(s3_env, airflow_home, monkeypatch, tmp_path) -> Iterator[RunningAirflow]:
    """`make airflow` (airflow standalone: API server + UI, scheduler, DAG processor,
    triggerer) on a private home, port and S3 bucket, until the test ends."""
    import requests

    port = _free_port()
    # The schedule starts today: no catch-up run is due, only the run the test triggers.
    monkeypatch.setenv("RETAIL_ELT_START_DATE", datetime.now(UTC).date().isoformat())
    monkeypatch.setenv("AIRFLOW_PORT", str(port))
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(_free_port()))
    monkeypatch.setenv("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT", str(_free_port()))
    monkeypatch.setenv("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_SERVER_PORT", str(_free_port()))
    monkeypatch.setenv(
        "SERVING_PATH", str(Path(s3_env["LAKEHOUSE_RUNTIME_DIR"]) / "serving" / "lakehouse_serving.duckdb")
    )
    monkeypatch.setenv("TASK_RETRY_DELAY_SECONDS", "1")
    monkeypatch.setenv("AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL", "5")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    log = (tmp_path / "standalone.log").open("wb")
    proc = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "airflow" / "bin" / "python"), "-m", "include.cli", "airflow"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow standalone exited with {proc.returncode}; see {log.name}")
            try:
                health = requests.get(f"{url}/api/v2/monitor/health", timeout=2).json()
                if all(health.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler")):
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Airflow did not become healthy on {url}; see {tmp_path / 'standalone.log'}")
            time.sleep(2)
        yield RunningAirflow(url, airflow_home, proc, env)
    finally:
        stop_tree(proc)
        if ARTIFACTS.exists():
            shutil.copy(tmp_path / "standalone.log", ARTIFACTS / "airflow-standalone.log")
