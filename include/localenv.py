"""The environment of the local, Docker-free Airflow that `make` and the tests run.

One function builds it so `make run`, `make airflow` and the end-to-end tests run Airflow
the same way. The compose stack sets the same variables in `docker-compose.yaml`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from include.config import Settings


def airflow_env(s: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    venv_bin = str(Path(sys.executable).parent)
    airflow_home = env.get("AIRFLOW_HOME") or str(s.runtime_dir / "airflow")
    # Spelled out (not left to airflow.cfg) so a copied Airflow home never points at its
    # original's database or logs. An externally set database (PostgreSQL) wins.
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{airflow_home}/airflow.db")
    port = env.get("AIRFLOW_PORT") or "8080"
    # Task processes reach the API server's execution API through base_url; without it they
    # would call localhost:8080 whatever AIRFLOW_PORT says.
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    env.update(
        {
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(Path(airflow_home) / "logs"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(s.project_root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(s.project_root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": port,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "AIRFLOW__COSMOS__CACHE_DIR": str(s.runtime_dir / "cosmos"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "WAREHOUSE_PATH": str(s.warehouse_path),
            "SERVING_PATH": str(s.serving_path),
            "LAKEHOUSE_RUNTIME_DIR": str(s.runtime_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(s.project_root), env.get("PYTHONPATH", "")) if p),
            # `airflow standalone` starts its components by name: the venv's bin must lead PATH.
            "PATH": os.pathsep.join((venv_bin, env.get("PATH", ""))),
        }
    )
    Path(airflow_home).mkdir(parents=True, exist_ok=True)
    return env
