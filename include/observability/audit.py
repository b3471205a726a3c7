"""Writes to the warehouse's `audit` schema that must never fail the pipeline's own work."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from include.storage import warehouse

log = logging.getLogger(__name__)


def write_rows(warehouse_path: Path, ddl: str, table: str, rows: list[tuple]) -> bool:
    """Create `table` if needed and insert `rows` (waiting while another process holds the file).

    Returns False (and logs) instead of raising: an audit row that cannot be written must not
    turn a successful task into a failed one, nor hide the error of a failed one.
    """
    if not rows:
        return True
    try:
        warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        con = warehouse.connect(warehouse_path)
        try:
            # A few rows: leave them in the write-ahead log (durable once committed) instead of
            # checkpointing the whole warehouse on close, which took 0.12 s of every task's
            # callback at 30 M lines. The next dbt build or load checkpoints them; readers,
            # read-only ones included, replay the log.
            con.execute("pragma disable_checkpoint_on_shutdown")
            con.execute("create schema if not exists audit")
            con.execute(ddl)
            placeholders = ", ".join("?" for _ in rows[0])
            con.executemany(f"insert into {table} values ({placeholders})", rows)
        finally:
            con.close()
        return True
    except duckdb.Error as exc:
        log.error("could not write %d row(s) to %s: %s", len(rows), table, exc)
        return False
