"""The real `retail_elt` DAG, run through Airflow, on real days, against the local S3."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from include.config import settings
from tests.e2e.sql import serving_rows as _serving
from tests.e2e.sql import warehouse_rows as _query
from tests.helpers import daily_country_sales_from_raw, raw_rows

pytestmark = pytest.mark.e2e

DAYS = ["2010-12-01", "2010-12-02", "2010-12-03"]


def test_three_real_days_end_to_end_and_rerun_changes_nothing(pipeline, day_files):
    proc = pipeline.run(DAYS[0], DAYS[-1])
    assert proc.returncode == 0, pipeline.log_tail()

    states = pipeline.task_states(DAYS[0], DAYS[-1])
    assert states and set(states.values()) == {"success"}, states
    assert {"gate_bronze", "gate_silver", "gate_gold"} <= set(states)

    # Every raw row of each day is staged once: exact duplicates are counted, not staged.
    raw = {day: raw_rows(day_files / f"{day}.csv.gz") for day in DAYS}
    distinct = {day: len({tuple(r.values()) for r in rows}) for day, rows in raw.items()}
    staged = dict(
        _query(
            "select strftime(_partition_date, '%Y-%m-%d'), count(*) from staging.raw_invoice_lines group by 1"
        )
    )
    assert staged == distinct
    manifest = {
        day: (rows_in, loaded, duplicate, quarantined, status)
        for day, rows_in, loaded, duplicate, quarantined, status in _query(
            "select strftime(partition_date, '%Y-%m-%d'), rows_in, rows_loaded, rows_duplicate, "
            "rows_quarantined, status from audit.file_loads"
        )
    }
    assert manifest == {
        day: (len(raw[day]), distinct[day], len(raw[day]) - distinct[day], 0, "loaded") for day in DAYS
    }

    # The daily_country_sales contract equals the test's own computation from the raw CSVs:
    # every row and column, to the cent.
    paths = [day_files / f"{day}.csv.gz" for day in DAYS]
    expected = daily_country_sales_from_raw(paths)
    gold = {
        (d.isoformat(), country): tuple(rest)
        for d, country, *rest in _query(
            "select sales_date, country, orders, customers, units, gross_revenue, "
            "cancelled_revenue, net_revenue from gold.daily_country_sales"
        )
    }
    assert gold == expected
    assert gold[("2010-12-01", "United Kingdom")][3] > Decimal("10000")
    assert any(row[4] > 0 for row in gold.values())  # the days do have cancellations

    # The star schema is filled and every line found its product version.
    assert _query("select count(*) = count(product_key) from gold.fct_order_lines") == [(True,)]
    assert _query("select count(*) from gold.fct_order_lines") == [(sum(distinct.values()),)]

    # Every gate check of the run passed and was recorded.
    outcomes = _query(
        "select layer, outcome, count(*) from audit.dq_check_results group by all order by 1, 2"
    )
    assert {layer for layer, _, _ in outcomes} == {"bronze", "silver", "gold"}
    assert {outcome for _, outcome, _ in outcomes} == {"pass"}

    # Every task that ran is in audit.pipeline_runs with its duration; the load's and a
    # model's row counts are the ones the test found above. No alert was raised.
    runs = {
        task: (state, duration, rows_in, rows_out)
        for task, state, duration, rows_in, rows_out in _query(
            "select task_id, state, duration_seconds, rows_in, rows_out from audit.pipeline_runs"
        )
    }
    assert set(runs) == set(states)
    assert {state for state, *_ in runs.values()} == {"success"}
    assert all(duration > 0 for _, duration, *_ in runs.values())
    assert runs["load_raw_files"][2:] == (sum(len(r) for r in raw.values()), sum(distinct.values()))
    assert runs["dbt_gold.fct_order_lines.run"][3] == sum(distinct.values())
    alert_tables = _query("select count(*) from information_schema.tables where table_name = 'alerts'")
    assert alert_tables == [(0,)]

    # The serving file (what dashboards read) holds the gold of this run.
    assert _serving("select * from gold.daily_country_sales order by all") == _query(
        "select * from gold.daily_country_sales order by all"
    )

    # Rerunning the same days three days later (the load is aged by three days first) leaves
    # staging and gold as they were; the stale load is a recorded warning, not a failure.
    con = duckdb.connect(str(settings().warehouse_path))
    con.execute("update staging.raw_invoice_lines set _loaded_at = _loaded_at - interval 3 day")
    con.close()
    before_gold = _query("select * from gold.daily_country_sales order by all")
    staged_rows = "select * from staging.raw_invoice_lines order by _source_key, _row_number"
    before_staged = _query(staged_rows)
    assert pipeline.run(DAYS[0], DAYS[-1]).returncode == 0, pipeline.log_tail()
    assert _query("select * from gold.daily_country_sales order by all") == before_gold
    assert _query(staged_rows) == before_staged
    warned = _query("select layer, check_name from audit.dq_check_results where outcome = 'warn'")
    assert warned == [("bronze", "The batch's rows were loaded recently")]
    assert set(pipeline.task_states(DAYS[0], DAYS[-1]).values()) == {"success"}


def test_bad_data_fails_the_bronze_gate_and_nothing_downstream_runs(pipeline, day_files, tmp_path):
    # A real day's file delivered into the wrong day's folder: every row types, so the loader
    # stages it, but its invoice dates are not the landing day's and the bronze gate must stop it.
    source = tmp_path / "misfiled"
    day_dir = source / "invoice_date=2010-12-05"
    day_dir.mkdir(parents=True)
    (day_dir / "export-0001.csv.gz").write_bytes((day_files / "2010-12-02.csv.gz").read_bytes())
    # Every staged row is misfiled (exact duplicates are not staged, so count distinct rows).
    misfiled = len({tuple(r.values()) for r in raw_rows(day_files / "2010-12-02.csv.gz")})

    proc = pipeline.run("2010-12-05", "2010-12-05", source=source)
    assert proc.returncode != 0

    states = pipeline.task_states("2010-12-05", "2010-12-05")
    assert states["load_raw_files"] == "success"
    assert states["gate_bronze"] == "failed"
    downstream = [
        t
        for t in states
        if t.startswith(("dbt_silver.", "dbt_gold.")) or t in ("gate_silver", "gate_gold", "publish")
    ]
    assert downstream
    assert {states[t] for t in downstream} == {"upstream_failed"}, states

    # The failing check is recorded with its measured value, and silver/gold were never built.
    failed = _query("select check_name, measured_value from audit.dq_check_results where outcome = 'fail'")
    assert failed == [("Every InvoiceDate falls on its landing folder's day", str(misfiled))]
    tables = {t for (t,) in _query("select table_schema || '.' || table_name from information_schema.tables")}
    assert "silver.int_invoice_lines_conformed" not in tables
    assert "gold.daily_country_sales" not in tables

    # The failure raised one gate alert naming the check, and the failed try is recorded.
    alerts = _query("select kind, task_id, message, delivered from audit.alerts")
    assert [(kind, task) for kind, task, _, _ in alerts] == [("gate_failed", "gate_bronze")]
    assert "Every InvoiceDate falls on its landing folder's day" in alerts[0][2] and alerts[0][3]
    failed_runs = _query("select task_id from audit.pipeline_runs where state = 'failed'")
    assert failed_runs == [("gate_bronze",)]
