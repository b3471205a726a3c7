"""Opening the DuckDB warehouse when another process may hold it.

DuckDB allows one process to write a database file, or several to read it, never both: a
second process that opens it fails at once ("Could not set lock on file ..."). The pipeline's
writers take turns (the warehouse pool, the DAG's order), but short overlaps remain: a task's
callback writes its audit row after Airflow has already started the next task, and a watcher
that reruns its model opens the file beside its siblings. A held lock is transient, so every
opener here waits for it (bounded) instead of failing; dbt does the same through
`retries.connect_attempts` in dbt/profiles.yml.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_WAIT_SECONDS = 120.0


def is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def wait_for_lock(action: Callable[[], T], what: str, timeout: float = LOCK_WAIT_SECONDS) -> T:
    """Run `action`; while it fails because another process holds the file, wait and rerun it."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            return action()
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc) or time.monotonic() + delay > deadline:
                raise
            log.info("%s: another process holds the file; retrying in %.1fs (%s)", what, delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def connect(
    path: Path, read_only: bool = False, timeout: float = LOCK_WAIT_SECONDS
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, waiting up to `timeout` seconds for another process's lock."""
    return wait_for_lock(
        lambda: duckdb.connect(str(path), read_only=read_only),
        f"opening {path}{' read-only' if read_only else ''}",
        timeout,
    )
