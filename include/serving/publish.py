"""Publish the gold and audit tables into the serving database file, atomically.

DuckDB allows one writer or many read-only processes on a file, never both, so dashboards
never open the warehouse. After the gold gate passes, `publish` builds a new file next to
`SERVING_PATH` holding every gold and audit table, checkpoints and closes it, then renames it
over the old one. The rename is atomic: a reader that connects gets the old file or the new
one, whole, and a reader already connected keeps its (old) file until it reconnects. A gate
that fails stops the run before `publish`, so the serving file keeps the last good gold.

The new file starts as a copy of the current serving file, and only what differs from the
warehouse is written into it. A table with a `sales_date` column (the facts and the per-day
marts, incremental by invoice day) is compared day by day: each day's row count and the sum
of its rows' hashes, on both sides; the days that differ, or exist on one side only, are
deleted and copied again. Any other table, and a day table whose columns changed, is copied
whole. A daily run at 30 M lines of history then writes a few days of the facts instead of
every line. Afterwards every served table must have the warehouse table's row count, or
nothing is published.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from include.storage import warehouse

log = logging.getLogger(__name__)

SERVED_SCHEMAS = ("gold", "audit")
DAY_COLUMN = "sales_date"


class NothingToPublish(RuntimeError):
    """There is no warehouse, or it has no gold tables."""


class PublishMismatch(RuntimeError):
    """A table in the new serving file does not have the warehouse table's rows."""


@dataclass(frozen=True)
class Published:
    path: Path
    tables: dict[str, int]  # schema.table -> rows
    # schema.table -> how it was written: "copied", "unchanged" or "N days"
    written: dict[str, str] = field(default_factory=dict, compare=False)


def publish(warehouse_path: Path, serving_path: Path) -> Published:
    if not warehouse_path.exists():
        raise NothingToPublish(f"no warehouse at {warehouse_path}")
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    staging_file = serving_path.with_name(f".{serving_path.name}.{uuid.uuid4().hex}.tmp")
    tables: dict[str, int] = {}
    written: dict[str, str] = {}
    try:
        con = _start_from(serving_path, staging_file)
        try:
            warehouse.wait_for_lock(
                lambda: con.execute(f"attach '{warehouse_path}' as warehouse (read_only)"),
                f"attaching {warehouse_path} read-only",
            )
            found = _tables(con, "warehouse")
            if not any(schema == "gold" for schema, _ in found):
                raise NothingToPublish(f"{warehouse_path} has no gold tables to publish")
            served_db = con.execute("select current_database()").fetchone()[0]
            served = _tables(con, served_db)
            for schema in SERVED_SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
            for schema, table in sorted(served - found):
                con.execute(f'drop table "{schema}"."{table}"')
            for schema, table in sorted(found):
                name = f'"{schema}"."{table}"'
                if (schema, table) in served and _day_table(con, served_db, schema, table):
                    written[f"{schema}.{table}"] = _sync_days(con, name)
                else:
                    written[f"{schema}.{table}"] = _copy(con, name)
                rows = con.execute(f"select count(*) from {name}").fetchone()[0]
                expected = con.execute(f"select count(*) from warehouse.{name}").fetchone()[0]
                if rows != expected:
                    raise PublishMismatch(
                        f"{schema}.{table}: {rows} rows served, {expected} in the warehouse"
                    )
                tables[f"{schema}.{table}"] = rows
            con.execute("detach warehouse")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(staging_file, serving_path)  # atomic on one file system
    finally:
        for leftover in (staging_file, staging_file.with_name(staging_file.name + ".wal")):
            leftover.unlink(missing_ok=True)
    log.info("published %d tables to %s: %s", len(tables), serving_path, written)
    return Published(serving_path, tables, written)


def _start_from(serving_path: Path, staging_file: Path) -> duckdb.DuckDBPyConnection:
    """A writable copy of the current serving file, or an empty file if there is none (or it
    cannot be opened, say from another DuckDB version): then every table is copied."""
    if serving_path.exists():
        shutil.copyfile(serving_path, staging_file)
        try:
            return duckdb.connect(str(staging_file))
        except duckdb.Error as exc:
            log.warning("cannot open a copy of %s (%s): publishing every table anew", serving_path, exc)
            staging_file.unlink()
    return duckdb.connect(str(staging_file))


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[tuple[str, str]]:
    return set(
        con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = ? and schema_name in (select unnest(?::varchar[]))",
            [database, list(SERVED_SCHEMAS)],
        ).fetchall()
    )


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[tuple]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [database, schema, table],
    ).fetchall()


def _day_table(con: duckdb.DuckDBPyConnection, served_db: str, schema: str, table: str) -> bool:
    """The served table has the warehouse table's columns, and a DATE `sales_date` among them."""
    columns = _columns(con, "warehouse", schema, table)
    return (DAY_COLUMN, "DATE") in columns and columns == _columns(con, served_db, schema, table)


def _copy(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Serve the warehouse's table `name` whole."""
    con.execute(f"create or replace table {name} as select * from warehouse.{name}")
    return "copied"


def _sync_days(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Rewrite the days of served table `name` whose rows differ from the warehouse's."""

    def fingerprints(relation: str) -> str:
        return (
            f"select {DAY_COLUMN} as day, count(*) as row_count, sum(hash(t)::hugeint) as row_hashes "
            f"from {relation} as t group by all"
        )

    changed = [
        day
        for (day,) in con.execute(
            f"select day from ({fingerprints(f'warehouse.{name}')}) as w "
            f"full outer join ({fingerprints(name)}) as s using (day) "
            "where w.row_count is distinct from s.row_count or w.row_hashes is distinct from s.row_hashes"
        ).fetchall()
    ]
    if not changed:
        return "unchanged"
    if any(day is None for day in changed):  # rows without a day: copy the table whole
        return _copy(con, name)
    con.execute("begin")
    con.execute(f"delete from {name} where {DAY_COLUMN} in (select unnest(?::date[]))", [changed])
    con.execute(
        f"insert into {name} select * from warehouse.{name} where {DAY_COLUMN} in (select unnest(?::date[]))",
        [changed],
    )
    con.execute("commit")
    return f"{len(changed)} days"
