"""Publish the gold and audit tables into the serving database file, atomically.

DuckDB allows one writer or many read-only processes on a file, never both, so dashboards
never open the warehouse. After the gold gate passes, `publish` copies every gold and audit
table into a new file next to `SERVING_PATH`, checkpoints and closes it, then renames it over
the old one. The rename is atomic: a reader that connects gets the old file or the new one,
whole, and a reader already connected keeps its (old) file until it reconnects. A gate that
fails stops the run before `publish`, so the serving file keeps the last good gold.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from include.storage import warehouse

log = logging.getLogger(__name__)

SERVED_SCHEMAS = ("gold", "audit")


class NothingToPublish(RuntimeError):
    """There is no warehouse, or it has no gold tables."""


@dataclass(frozen=True)
class Published:
    path: Path
    tables: dict[str, int]  # schema.table -> rows


def publish(warehouse_path: Path, serving_path: Path) -> Published:
    if not warehouse_path.exists():
        raise NothingToPublish(f"no warehouse at {warehouse_path}")
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    staging_file = serving_path.with_name(f".{serving_path.name}.{uuid.uuid4().hex}.tmp")
    tables: dict[str, int] = {}
    try:
        con = duckdb.connect(str(staging_file))
        try:
            warehouse.wait_for_lock(
                lambda: con.execute(f"attach '{warehouse_path}' as warehouse (read_only)"),
                f"attaching {warehouse_path} read-only",
            )
            found = con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = 'warehouse' and schema_name in (select unnest(?::varchar[])) "
                "order by 1, 2",
                [list(SERVED_SCHEMAS)],
            ).fetchall()
            if not any(schema == "gold" for schema, _ in found):
                raise NothingToPublish(f"{warehouse_path} has no gold tables to publish")
            for schema in SERVED_SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
            for schema, table in found:
                name = f'"{schema}"."{table}"'
                con.execute(f"create table {name} as select * from warehouse.{name}")
                tables[f"{schema}.{table}"] = con.execute(f"select count(*) from {name}").fetchone()[0]
            con.execute("detach warehouse")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(staging_file, serving_path)  # atomic on one file system
    finally:
        for leftover in (staging_file, staging_file.with_name(staging_file.name + ".wal")):
            leftover.unlink(missing_ok=True)
    log.info("published %d tables to %s", len(tables), serving_path)
    return Published(serving_path, tables)
