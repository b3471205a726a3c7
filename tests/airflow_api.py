"""Talking to a running Airflow the way an operator's tools do: its REST API (v2) with a
token from the simple auth manager, and stopping the process trees the tests start."""

from __future__ import annotations

import contextlib
import subprocess
import time

import requests

DAG_ID = "retail_elt"


def api_token(url: str, password: str, username: str = "admin") -> str:
    response = requests.post(
        f"{url}/auth/token", json={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access_token"]


class AirflowApi:
    """A logged-in REST client for one Airflow API server."""

    def __init__(self, url: str, password: str, username: str = "admin"):
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_token(url, password, username)}"

    def get(self, path: str, **params) -> dict:
        response = self.http.get(f"{self.url}/api/v2{path}", params=params or None, timeout=30)
        response.raise_for_status()
        return response.json()

    def wait_for_run(self, run_id: str, timeout: float = 900) -> tuple[str, list[dict]]:
        """Poll the run until it ends (or the timeout): its final state and task instances."""
        run_path = f"/dags/{DAG_ID}/dagRuns/{run_id}"
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.get(run_path)["state"]
            if state in ("success", "failed"):
                break
            time.sleep(5)
        tis = self.get(f"{run_path}/taskInstances", limit=100)["task_instances"]
        return state, tis


def stop_tree(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Stop a process and every process it started (an Airflow component's supervisors,
    task processes, gunicorn workers): signalling its process group alone can leave some."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    proc.wait(timeout=30)
