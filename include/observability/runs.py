"""`audit.pipeline_runs`: one row per finished task try, with its duration and row counts."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from include.observability.audit import write_rows
from include.storage import warehouse

log = logging.getLogger(__name__)

RUNS_TABLE = "audit.pipeline_runs"
RUNS_DDL = f"""
    create table if not exists {RUNS_TABLE} (
        run_id varchar not null,
        dag_id varchar not null,
        task_id varchar not null,
        try_number integer,
        state varchar not null,
        interval_start date,
        interval_end date,
        started_at timestamp,
        ended_at timestamp not null,
        duration_seconds double,
        rows_in bigint,
        rows_out bigint,
        detail json
    )
"""
# Where each dbt layer's relations live (snapshots have their own schema).
DBT_SCHEMAS = ("bronze", "silver", "snapshots", "gold")


def dbt_node_name(task_id: str) -> str | None:
    """The dbt model or snapshot a task builds ('dbt_gold.fct_orders.run' -> 'fct_orders');
    None for every other task (the layer's producer, a model's tests, the Python tasks)."""
    parts = task_id.split(".")
    if len(parts) == 3 and parts[0].startswith("dbt_") and parts[2] in ("run", "snapshot"):
        return parts[1]
    return None


def relation_rows(warehouse_path: Path, name: str) -> int | None:
    """Rows in the dbt relation called `name`, whichever layer schema holds it."""
    if not warehouse_path.exists():
        return None
    try:
        con = warehouse.connect(warehouse_path, read_only=True)
    except duckdb.Error:
        return None
    try:
        found = con.execute(
            "select table_schema from information_schema.tables "
            "where table_name = ? and table_schema in (select unnest(?::varchar[]))",
            [name, list(DBT_SCHEMAS)],
        ).fetchone()
        if not found:
            return None
        return con.execute(f'select count(*) from "{found[0]}"."{name}"').fetchone()[0]
    finally:
        con.close()


def counts(task_id: str, returned: Any, warehouse_path: Path) -> tuple[int | None, int | None]:
    """(rows_in, rows_out) of a task from what it returned or what it built."""
    if isinstance(returned, dict) and "rows_in" in returned:  # load_raw_files
        return returned.get("rows_in"), returned.get("rows_loaded")
    node = dbt_node_name(task_id)
    if node:
        return None, relation_rows(warehouse_path, node)
    return None, None


def record_task(
    warehouse_path: Path,
    *,
    run_id: str,
    dag_id: str,
    task_id: str,
    try_number: int | None,
    state: str,
    interval: tuple[Any, Any],
    started_at: datetime | None,
    returned: Any = None,
    error: str | None = None,
) -> bool:
    ended_at = datetime.now(UTC)
    started = started_at.astimezone(UTC) if started_at and started_at.tzinfo else started_at
    duration = (ended_at - started).total_seconds() if started and started.tzinfo else None
    rows_in, rows_out = counts(task_id, returned, warehouse_path)
    detail = {"returned": returned} if returned is not None else {}
    if error:
        detail["error"] = error[:2000]
    row = (
        run_id,
        dag_id,
        task_id,
        try_number,
        state,
        interval[0],
        interval[1],
        started.replace(tzinfo=None) if started else None,
        ended_at.replace(tzinfo=None),
        duration,
        rows_in,
        rows_out,
        json.dumps(detail, default=str) if detail else None,
    )
    return write_rows(warehouse_path, RUNS_DDL, RUNS_TABLE, [row])
