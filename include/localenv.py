"""The environment of the local, Docker-free Airflow that `make` and the tests run.

One function builds it so `make run`, `make airflow`, the end-to-end tests and the compose
stack's containers (`python -m include.cli component ...`) run Airflow the same way.

The executor and the metadata database come from the environment (`.env.example`):
LocalExecutor on SQLite by default; CeleryExecutor with AIRFLOW_DATABASE_URL (PostgreSQL)
and CELERY_BROKER_URL (Redis) to scale out. For those, the JWT secret, the API host and the
auth manager's users, an explicit AIRFLOW__SECTION__KEY wins; the paths below (home, logs,
DAGs, plugins) are always the platform's.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from include.config import Settings, environment


def airflow_env(s: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = environment(base)
    venv_bin = str(Path(sys.executable).parent)
    airflow_home = env.get("AIRFLOW_HOME") or str(s.runtime_dir / "airflow")
    # Spelled out (not left to airflow.cfg) so a copied Airflow home never points at its
    # original's database or logs. An externally set database (PostgreSQL) wins.
    database = env.get("AIRFLOW_DATABASE_URL") or f"sqlite:///{airflow_home}/airflow.db"
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", database)
    executor = env.setdefault("AIRFLOW__CORE__EXECUTOR", env.get("AIRFLOW_EXECUTOR") or "LocalExecutor")
    if executor.endswith("CeleryExecutor"):
        if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
            raise ValueError(
                "CeleryExecutor needs a PostgreSQL metadata database: set AIRFLOW_DATABASE_URL "
                "(e.g. postgresql+psycopg2://user:password@127.0.0.1:5432/airflow)"
            )
        if not (env.get("AIRFLOW__CELERY__BROKER_URL") or env.get("CELERY_BROKER_URL")):
            raise ValueError(
                "CeleryExecutor needs a broker: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"
            )
        # The result backend defaults to the metadata database (db+postgresql://...).
        env.setdefault("AIRFLOW__CELERY__BROKER_URL", env.get("CELERY_BROKER_URL", ""))
    # Every component that signs or checks the execution API's tokens (scheduler, API
    # server, workers) must share this secret once they run as separate processes.
    if env.get("AIRFLOW_JWT_SECRET"):
        env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", env["AIRFLOW_JWT_SECRET"])
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
            "AIRFLOW__API__PORT": port,
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
    # A container's API server listens on 0.0.0.0 (set by docker-compose.yaml).
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"{admin_username(env)}:admin")
    Path(airflow_home).mkdir(parents=True, exist_ok=True)
    return env


def admin_username(env: Mapping[str, str]) -> str:
    return env.get("AIRFLOW_ADMIN_USERNAME") or "admin"


def passwords_file(env: Mapping[str, str]) -> Path:
    """Where the simple auth manager keeps its users' passwords (Airflow's default name)."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured or Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")


def write_admin_password(env: Mapping[str, str]) -> Path | None:
    """Give the UI's admin the password AIRFLOW_ADMIN_PASSWORD says (if set); without it
    Airflow generates one into the same file on first start."""
    password = env.get("AIRFLOW_ADMIN_PASSWORD")
    if not password:
        return None
    path = passwords_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    users = json.loads(path.read_text()) if path.exists() else {}
    users[admin_username(env)] = password
    path.write_text(json.dumps(users))
    path.chmod(0o600)
    return path
