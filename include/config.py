"""Every setting of the platform, read in one place.

A setting comes from the process environment, else from `.env` (git-ignored, the user's),
else from `.env.example` (the local-only defaults), as Docker Compose and dotenv layer them;
`${VAR}` in the files refers to another setting. `make`, the CLI, the DAG and the
containers all resolve settings this way (the Makefile does the same for make itself).
Nothing here touches a service or the warehouse, so the DAG file can import it at parse time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Lowest precedence first; the process environment beats both.
SETTINGS_FILES = (".env.example", ".env")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def environment(base: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The environment over `.env` over `.env.example`, with `${VAR}` in the files' values
    expanded against that result (a variable set in the environment wins even when empty)."""
    env = dict(os.environ if base is None else base)
    from_files: dict[str, str] = {}
    for name in SETTINGS_FILES:
        path = root / name
        if path.is_file():
            values = dotenv_values(path, interpolate=False)
            from_files.update({k: v for k, v in values.items() if v is not None})
    merged = {**from_files, **env}

    def expand(name: str, seen: tuple[str, ...]) -> str:
        value = merged.get(name, "")
        if name in env or name not in from_files or name in seen:
            return value
        return _REFERENCE.sub(lambda m: expand(m.group(1), (*seen, name)), value)

    return {name: expand(name, ()) for name in merged}


def setting(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    """One setting (stripped); empty means `default`, as an empty value in .env.example does."""
    value = (environment() if env is None else env).get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the settings; call `settings()` for the current environment's."""

    project_root: Path
    runtime_dir: Path
    warehouse_path: Path
    serving_path: Path
    dbt_project_dir: Path
    dbt_executable: Path
    soda_dir: Path
    soda_executable: Path
    s3_conn_id: str
    raw_bucket: str
    raw_prefix: str
    warehouse_pool: str
    landing_grace_hours: float
    sensor_timeout_hours: float
    schedule_start: datetime
    catchup: bool
    lookback_days: int
    max_rejected_share: float
    task_retries: int
    freshness_warn_hours: float
    revenue_warn_factor: float
    revenue_fail_factor: float
    retry_delay_seconds: float
    dbt_threads: int

    @property
    def dbt_manifest_path(self) -> Path:
        return self.dbt_project_dir / "target" / "manifest.json"

    @property
    def dbt_profiles_dir(self) -> Path:
        return self.dbt_project_dir


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings of `env` (default: `environment()`, the layered one)."""
    env = environment() if env is None else env

    def _env(name: str, default: str) -> str:
        return setting(name, default, env)

    def _path(name: str, default: Path) -> Path:
        return Path(_env(name, str(default))).expanduser().resolve()

    runtime = _path("LAKEHOUSE_RUNTIME_DIR", PROJECT_ROOT / ".runtime")
    venvs = _path("LAKEHOUSE_VENV_DIR", PROJECT_ROOT / ".venv")
    return Settings(
        project_root=PROJECT_ROOT,
        runtime_dir=runtime,
        warehouse_path=_path("WAREHOUSE_PATH", runtime / "warehouse" / "lakehouse.duckdb"),
        serving_path=_path("SERVING_PATH", runtime / "serving" / "lakehouse_serving.duckdb"),
        dbt_project_dir=PROJECT_ROOT / "dbt",
        dbt_executable=_path("DBT_EXECUTABLE", venvs / "dbt" / "bin" / "dbt"),
        soda_dir=PROJECT_ROOT / "soda",
        soda_executable=_path("SODA_EXECUTABLE", venvs / "soda" / "bin" / "soda"),
        s3_conn_id=_env("LAKEHOUSE_S3_CONN_ID", "lakehouse_s3"),
        raw_bucket=_env("RAW_BUCKET", "raw"),
        raw_prefix=_env("RAW_PREFIX", "online_retail").strip("/"),
        warehouse_pool=_env("WAREHOUSE_POOL", "duckdb_warehouse"),
        landing_grace_hours=float(_env("RAW_LANDING_GRACE_HOURS", "6")),
        sensor_timeout_hours=float(_env("RAW_SENSOR_TIMEOUT_HOURS", "12")),
        lookback_days=int(_env("RAW_LOOKBACK_DAYS", "7")),
        max_rejected_share=float(_env("MAX_REJECTED_SHARE", "0.05")),
        task_retries=int(_env("TASK_RETRIES", "2")),
        freshness_warn_hours=float(_env("LOAD_FRESHNESS_WARN_HOURS", "26")),
        revenue_warn_factor=float(_env("REVENUE_BAND_WARN_FACTOR", "5")),
        revenue_fail_factor=float(_env("REVENUE_BAND_FAIL_FACTOR", "20")),
        retry_delay_seconds=float(_env("TASK_RETRY_DELAY_SECONDS", "120")),
        dbt_threads=int(_env("DBT_THREADS", "4")),
        catchup=_env("RETAIL_ELT_CATCHUP", "false").lower() in ("1", "true", "yes"),
        schedule_start=datetime.combine(
            date.fromisoformat(_env("RETAIL_ELT_START_DATE", "2010-12-01")), datetime.min.time(), tzinfo=UTC
        ),
    )
