"""Publishing gold to the serving file: same tables, atomic swap, readers never blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from include.serving.publish import publish
from tests.helpers import execute_sql


def _warehouse(path: Path, version: int) -> None:
    con = duckdb.connect(str(path))
    try:
        for schema in ("gold", "audit", "silver"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(
            "create or replace table gold.daily_country_sales as "
            f"select range as day_index, {version} as version from range(1000)"
        )
        con.execute(f"create or replace table audit.dq_check_results as select {version} as version")
        con.execute("create or replace table silver.not_served as select 1 as x")
    finally:
        con.close()


def _tables(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables order by 1"
        ).fetchall()
        return {n: con.execute(f"select * from {n} order by all").fetchall() for (n,) in names}
    finally:
        con.close()


def test_publish_copies_gold_and_audit_only(tmp_path):
    warehouse, serving = tmp_path / "w" / "lakehouse.duckdb", tmp_path / "s" / "serving.duckdb"
    warehouse.parent.mkdir()
    _warehouse(warehouse, 1)
    published = publish(warehouse, serving)
    assert published.tables == {"audit.dq_check_results": 1, "gold.daily_country_sales": 1000}
    expected = {k: v for k, v in _tables(warehouse).items() if not k.startswith("silver.")}
    assert _tables(serving) == expected
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]  # no temp file left


def test_a_warehouse_without_gold_publishes_nothing(tmp_path):
    warehouse, serving = tmp_path / "lakehouse.duckdb", tmp_path / "serving.duckdb"
    duckdb.connect(str(warehouse)).close()
    with pytest.raises(RuntimeError, match="no gold tables"):
        publish(warehouse, serving)
    assert not serving.exists()


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    seen, errors, queries = set(), [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            con = duckdb.connect(path, read_only=True,
                                 config={"access_mode": "read_only", "enable_external_access": False})
            count, version = con.execute(
                "select count(*), max(version) from gold.daily_country_sales").fetchone()
            con.close()
            assert count == 1000, count
            seen.add(version)
            queries += 1
        except Exception as exc:
            errors.append(repr(exc))
    print(queries, sorted(seen), len(errors), errors[:3])
    """
)


def test_dashboard_queries_keep_answering_while_the_pipeline_writes_and_publishes(tmp_path):
    warehouse, serving = tmp_path / "lakehouse.duckdb", tmp_path / "serving.duckdb"
    _warehouse(warehouse, 0)
    publish(warehouse, serving)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving), "8"], stdout=subprocess.PIPE, text=True
    )
    time.sleep(1)
    for version in range(1, 6):
        _warehouse(warehouse, version)  # the pipeline holds the warehouse as a writer ...
        publish(warehouse, serving)  # ... and swaps a new serving file in
        time.sleep(0.5)
    out, _ = reader.communicate(timeout=60)
    queries, seen, errors = out.split(" ", 2)[0], out.split("[", 1)[1].split("]")[0], out
    assert reader.returncode == 0, out
    assert int(queries) > 20
    assert errors.split("] ", 1)[1].startswith("0 "), out  # no failed query
    assert len(seen.split(",")) >= 3, out  # the reader saw several published versions


def _served(warehouse: Path) -> dict[str, list[tuple]]:
    return {k: v for k, v in _tables(warehouse).items() if k.split(".")[0] in ("gold", "audit")}


def test_a_later_publish_rewrites_only_the_days_that_differ_and_serves_what_the_warehouse_holds(tmp_path):
    warehouse, serving = tmp_path / "lakehouse.duckdb", tmp_path / "serving.duckdb"
    execute_sql(
        warehouse,
        "create schema gold",
        "create schema audit",
        "create table gold.fct as select date '2011-01-01' + (range % 10)::int as sales_date, "
        "range as line, 'x' || range as label from range(1000)",
        "create table gold.dim as select 1 as k",
        "create table gold.retired as select 1 as k",
        "create table audit.file_loads as select 1 as n",
    )
    first = publish(warehouse, serving)
    tables = ("audit.file_loads", "gold.dim", "gold.fct", "gold.retired")
    assert first.written == dict.fromkeys(tables, "copied")
    assert _tables(serving) == _served(warehouse)

    assert publish(warehouse, serving).written["gold.fct"] == "unchanged"

    # The same row count on 2011-01-03 but a changed value; 2011-01-05 gone; a new day;
    # a changed non-day table, a dropped table, a new one.
    execute_sql(
        warehouse,
        "update gold.fct set label = 'changed' where line = 2",
        "delete from gold.fct where sales_date = date '2011-01-05'",
        "insert into gold.fct values (date '2011-01-11', 5000, 'new day')",
        "insert into gold.dim values (2)",
        "drop table gold.retired",
        "create table gold.added as select 3 as k",
        "insert into audit.file_loads values (2)",
    )
    later = publish(warehouse, serving)
    assert later.written["gold.fct"] == "3 days"
    assert later.written["gold.dim"] == later.written["gold.added"] == "copied"
    assert _tables(serving) == _served(warehouse)
    assert "gold.retired" not in _tables(serving)


def test_a_day_table_whose_columns_changed_or_a_serving_file_that_cannot_be_opened_is_copied_whole(
    tmp_path,
):
    warehouse, serving = tmp_path / "lakehouse.duckdb", tmp_path / "serving.duckdb"
    execute_sql(
        warehouse,
        "create schema gold",
        "create table gold.fct as select date '2011-01-01' + (range % 5)::int as sales_date, "
        "range as line from range(100)",
    )
    publish(warehouse, serving)
    execute_sql(warehouse, "alter table gold.fct add column note varchar default 'n'")
    assert publish(warehouse, serving).written == {"gold.fct": "copied"}
    assert _tables(serving) == _tables(warehouse)

    serving.write_bytes(b"not a database file" * 100)
    assert publish(warehouse, serving).written == {"gold.fct": "copied"}
    assert _tables(serving) == _tables(warehouse)
