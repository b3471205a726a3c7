"""Scale-out, for real: `retail_elt` on CeleryExecutor, on a real day.

A real PostgreSQL metadata database and a real Redis broker on 127.0.0.1 (this machine's
services; see README, "Scaling out"); Airflow's API server, scheduler, DAG processor and two
Celery workers as separate processes, each started the way the compose stack's containers
start them (`python -m include.cli component ...`). The run must succeed with its tasks
(each layer's one dbt build and the watchers of its models) spread across both workers, and
gold must equal the raw file read in plain Python.

Without PostgreSQL or Redis the test skips and says why; with LAKEHOUSE_NO_SKIP=1
(which `.ci/run` sets) the same condition fails it, so CI always runs it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests

from include.config import settings
from include.pipeline.batch import Batch
from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files
from tests.airflow_api import DAG_ID, AirflowApi, stop_tree
from tests.conftest import PROJECT_ROOT, _free_port
from tests.helpers import daily_country_sales_from_raw, gold_daily_country_sales
from tests.services import POSTGRES_URL, REDIS_URL, require_postgres_and_redis

PYTHON = PROJECT_ROOT / ".venv" / "airflow" / "bin" / "python"
WORKERS = ("worker-1", "worker-2")
DAY = "2010-12-02"
ADMIN_PASSWORD = "scaleout-test-admin"


@pytest.fixture(scope="module")
def services():
    """A private, empty metadata database on the PostgreSQL server, dropped afterwards."""
    import psycopg2
    from sqlalchemy.engine import make_url

    require_postgres_and_redis("the CeleryExecutor test")
    name = f"lakehouse_scaleout_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    database_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg2", database=name)
    try:
        yield {"database_url": database_url.render_as_string(hide_password=False), "broker_url": REDIS_URL}
    finally:
        admin.cursor().execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@dataclass
class CeleryCluster:
    url: str
    queue: str
    logs: Path
    api: AirflowApi | None = None

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob("*.log"))
        )


def _wait(condition, what: str, cluster: CeleryCluster, procs: dict, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}\n{cluster.tails()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{cluster.tails()}")
        time.sleep(2)


def _healthy(url: str) -> bool:
    try:
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    components = ("metadatabase", "scheduler", "dag_processor")
    return all(health.get(c, {}).get("status") == "healthy" for c in components)


@pytest.fixture
def celery_cluster(services, s3_env, tmp_path, monkeypatch):
    port = _free_port()
    queue = f"lakehouse-scaleout-{uuid.uuid4().hex[:8]}"  # nothing else on this Redis serves it
    runtime = Path(s3_env["LAKEHOUSE_RUNTIME_DIR"])
    env = {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW_EXECUTOR": "CeleryExecutor",
        "AIRFLOW_DATABASE_URL": services["database_url"],
        "CELERY_BROKER_URL": services["broker_url"],
        "AIRFLOW_PORT": str(port),
        "AIRFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.scaleout.worker_identity.hostname",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(_free_port()),
        # The schedule starts today: no catch-up run is due, only the run the test triggers.
        "RETAIL_ELT_START_DATE": datetime.now(UTC).date().isoformat(),
        "SERVING_PATH": str(runtime / "serving" / "lakehouse_serving.duckdb"),
        "TASK_RETRY_DELAY_SECONDS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Only the settings above may decide the executor and databases.
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__EXECUTOR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("AIRFLOW__CELERY__BROKER_URL", raising=False)
    logs = tmp_path / "component-logs"
    logs.mkdir()
    cluster = CeleryCluster(f"http://127.0.0.1:{port}", queue, logs)
    base = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    init = subprocess.run(
        [str(PYTHON), "-m", "include.cli", "init"], env=base, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
    assert "(postgresql+psycopg2)" in init.stdout, init.stdout

    components = {
        "api-server": ["api-server"],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
    }
    for worker in WORKERS:
        components[worker] = [
            "celery", "worker",
            "--queues", queue,
            "--concurrency", "2",
            "--celery-hostname", f"{worker}@%h",
            "--skip-serve-logs",
            "--without-mingle",
        ]  # fmt: skip
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, args in components.items():
            procs[name] = subprocess.Popen(
                [str(PYTHON), "-m", "include.cli", "component", *args],
                env={**base, "LAKEHOUSE_WORKER_NAME": name},
                cwd=PROJECT_ROOT,
                stdout=(logs / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: _healthy(cluster.url), "a healthy scheduler and DAG processor", cluster, procs)
        cluster.api = AirflowApi(cluster.url, ADMIN_PASSWORD)

        def dag_parsed() -> bool:
            try:
                return cluster.api.get(f"/dags/{DAG_ID}")["dag_id"] == DAG_ID
            except requests.HTTPError:
                return False

        _wait(dag_parsed, f"{DAG_ID} to be parsed", cluster, procs)
        for worker in WORKERS:
            _wait(lambda w=worker: re.search(r"\bready\.", cluster.log(w)), f"{worker} ready", cluster, procs)
        yield cluster
    finally:
        for proc in procs.values():
            stop_tree(proc)


def test_a_real_day_on_celery_workers_spreads_its_tasks_over_both(celery_cluster, s3_env, day_files):
    s = settings()
    client = minio_client_from_env()
    ensure_buckets(client, [s.raw_bucket])
    day = date.fromisoformat(DAY)
    land_files(client, s.raw_bucket, s.raw_prefix, source_day_files(day_files, Batch(day, day)))

    api = celery_cluster.api
    unpaused = api.http.patch(f"{api.url}/api/v2/dags/{DAG_ID}", json={"is_paused": False}, timeout=30)
    unpaused.raise_for_status()
    started = time.monotonic()
    posted = api.http.post(
        f"{api.url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"start_date": DAY, "end_date": DAY}},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    state, tis = api.wait_for_run(posted.json()["dag_run_id"], timeout=1200)
    took = time.monotonic() - started
    assert state == "success", (sorted((t["task_id"], t["state"]) for t in tis), celery_cluster.tails())
    assert len(tis) >= 20 and {t["state"] for t in tis} == {"success"}

    # Every task went through the test's Celery queue and ran in one of the two workers,
    # and both workers ran tasks.
    assert {t["queue"] for t in tis} == {celery_cluster.queue}
    per_worker = Counter(t["hostname"] for t in tis)
    assert set(per_worker) == set(WORKERS), per_worker
    for worker in WORKERS:
        assert "retail_elt" in celery_cluster.log(worker)  # the worker's own log shows its tasks

    # Each layer's dbt build (the producer) ran on a worker like any task, and the watchers
    # of its models ran on both workers.
    producers = [t for t in tis if t["task_id"].endswith(".dbt_producer_watcher")]
    assert len(producers) == 3 and {t["pool"] for t in producers} == {s.warehouse_pool}
    watchers = [t for t in tis if t["task_id"].endswith((".run", ".snapshot", ".test"))]
    assert {t["hostname"] for t in watchers} == set(WORKERS)

    expected = daily_country_sales_from_raw([day_files / f"{DAY}.csv.gz"])
    assert gold_daily_country_sales(s.warehouse_path, DAY) == expected
    assert gold_daily_country_sales(s.serving_path, DAY) == expected
    print(f"CeleryExecutor run of {DAY}: {state} in {took:.0f}s; tasks per worker {dict(per_worker)}")
