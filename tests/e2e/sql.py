"""Read-only queries on the warehouse and the serving file of the current test's settings."""

from __future__ import annotations

import duckdb

from include.config import settings


def _rows(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def warehouse_rows(sql: str) -> list[tuple]:
    return _rows(settings().warehouse_path, sql)


def serving_rows(sql: str) -> list[tuple]:
    return _rows(settings().serving_path, sql)
