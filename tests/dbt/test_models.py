"""The dbt project run for real (dbt-duckdb in its own venv) on real days staged by the loader.

Incremental facts and marts must give the same tables as a full refresh, also after late and
re-delivered files; the project's own data tests and unit tests must pass.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from tests.helpers import run_dbt as dbt
from tests.helpers import stage_files as stage

pytestmark = pytest.mark.dbt


def tables(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            name
            for (name,) in con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema in ('silver', 'gold') order by 1"
            ).fetchall()
        ]
        return {name: con.execute(f"select * from {name} order by all").fetchall() for name in names}
    finally:
        con.close()


def _real(day_files: Path, *days: str) -> dict[str, Path]:
    return {f"{d}/{d}.csv.gz": day_files / f"{d}.csv.gz" for d in days}


def _rewrite(source: Path, target: Path, change) -> Path:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        lines = handle.read().splitlines()
    target.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
    return target


DAY_TABLES = [
    "silver.int_invoice_lines_conformed", "silver.int_orders", "silver.int_product_days",
    "silver.int_customer_days", "gold.fct_order_lines", "gold.fct_orders", "gold.daily_country_sales",
    "gold.product_daily_sales", "gold.customer_daily_sales",
]  # fmt: skip


def test_incremental_build_equals_full_refresh_after_late_and_redelivered_files(day_files, tmp_path):
    first = _real(day_files, "2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05", "2010-12-06")
    later = _real(day_files, "2010-12-07", "2010-12-08", "2010-12-09")
    # Re-delivered 2010-12-06 with changed content: its first 40 rows gone, every quantity of
    # the next ones doubled. A late file for 2010-12-05: rows of that day under new invoices.
    redelivered = _rewrite(
        day_files / "2010-12-06.csv.gz",
        tmp_path / "2010-12-06.csv",
        lambda lines: [lines[0], *(_double_quantity(line) for line in lines[41:200]), *lines[200:]],
    )
    late = _rewrite(
        day_files / "2010-12-05.csv.gz",
        tmp_path / "late.csv",
        lambda lines: [lines[0], *("L" + line for line in lines[1:60])],
    )
    final = {**first, **later, "2010-12-06/2010-12-06.csv.gz": redelivered, "2010-12-05/late.csv": late}

    incremental = tmp_path / "incremental.duckdb"
    stage(incremental, first, "run-1")
    dbt(incremental, tmp_path, "run")
    built_first = tables(incremental)
    stage(incremental, final, "run-2")
    second = dbt(incremental, tmp_path, "run", "--vars", '{"batch_start": "2010-12-07", "lookback_days": 2}')
    # The day tables were built incrementally (dbt says how it built each model).
    for model in DAY_TABLES:
        assert f"incremental model {model} " in second.stdout, (model, second.stdout[-3000:])

    full = tmp_path / "full.duckdb"
    stage(full, final, "run-1")
    dbt(full, tmp_path, "run", "--full-refresh")

    after = tables(incremental)
    assert after == tables(full)
    # Not vacuous: the late and re-delivered files changed the earlier days' gold rows.
    changed_days = {
        row[0].isoformat()
        for row in set(after["gold.daily_country_sales"]) ^ set(built_first["gold.daily_country_sales"])
    }
    assert {"2010-12-05", "2010-12-06"} <= changed_days
    assert len(after["gold.fct_order_lines"]) > len(built_first["gold.fct_order_lines"])
    _whole_history_marts_match_the_lines(incremental)


# The whole-history marts read per-day tables (or fct_orders), not the lines. Their figures
# must be what the rule says of the lines themselves, computed here straight from the fact.
WHOLE_HISTORY_FROM_LINES = {
    "product_performance": (
        "select stock_code, orders, units_sold, units_cancelled, gross_revenue, cancelled_revenue, "
        "first_sale_date, last_sale_date from gold.product_performance",
        """select stock_code,
                  count(distinct invoice_no) filter (where line_type = 'sale'),
                  coalesce(sum(quantity) filter (where line_type = 'sale'), 0),
                  coalesce(-sum(quantity) filter (where line_type = 'cancellation'), 0),
                  round(coalesce(sum(revenue) filter (where line_type = 'sale'), 0), 2),
                  round(coalesce(-sum(revenue) filter (where line_type = 'cancellation'), 0), 2),
                  min(sales_date) filter (where line_type = 'sale'),
                  max(sales_date) filter (where line_type = 'sale')
           from gold.fct_order_lines where line_type in ('sale', 'cancellation')
           group by stock_code""",
    ),
    "customer_rfm": (
        "select customer_id, last_order_date, frequency, monetary from gold.customer_rfm",
        """select customer_id,
                  max(sales_date) filter (where line_type = 'sale'),
                  count(distinct invoice_no) filter (where line_type = 'sale'),
                  round(sum(revenue), 2)
           from gold.fct_order_lines
           where customer_id is not null and line_type in ('sale', 'cancellation')
           group by customer_id
           having count(*) filter (where line_type = 'sale') > 0""",
    ),
    "monthly_customer_cohorts": (
        "select cohort_month, activity_month, cohort_size, active_customers "
        "from gold.monthly_customer_cohorts",
        """with months as (
               select distinct customer_id, date_trunc('month', sales_date)::date as month
               from gold.fct_order_lines where line_type = 'sale' and customer_id is not null
           ), firsts as (select customer_id, min(month) as cohort from months group by 1)
           select f.cohort, m.month, (select count(*) from firsts where cohort = f.cohort),
                  count(*)
           from months as m join firsts as f using (customer_id) group by 1, 2""",
    ),
    "weekly_order_outliers (every week's count)": (
        """select strftime(sales_date, '%Y')::int, strftime(sales_date, '%W')::int, count(*)
           from gold.fct_orders where sale_line_count > 0 group by 1, 2""",
        """select strftime(sales_date, '%Y')::int, strftime(sales_date, '%W')::int,
                  count(distinct invoice_no)
           from gold.fct_order_lines where line_type = 'sale' group by 1, 2""",
    ),
}


def _whole_history_marts_match_the_lines(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for mart, (built, from_lines) in WHOLE_HISTORY_FROM_LINES.items():
            got = sorted(con.execute(built).fetchall())
            want = sorted(con.execute(from_lines).fetchall())
            assert got == want, mart
            assert got, mart
    finally:
        con.close()


def _double_quantity(line: str) -> str:
    fields = line.split(",")
    # Quantity is the 4th column; descriptions with commas are quoted, so find it from the end
    # (InvoiceDate, UnitPrice, CustomerID, Country follow it and never contain commas).
    fields[-5] = str(int(fields[-5]) * 2)
    return ",".join(fields)


def test_the_project_builds_and_all_its_data_and_unit_tests_pass(day_files, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    stage(warehouse, _real(day_files, "2010-12-01", "2010-12-02", "2010-12-05"), "run-1")
    proc = dbt(warehouse, tmp_path, "build")
    summary = [line for line in proc.stdout.splitlines() if "Done. PASS=" in line]
    assert summary and "ERROR=0" in summary[-1] and "WARN=0" in summary[-1], proc.stdout[-3000:]

    def count(resource_type: str) -> int:
        listed = dbt(warehouse, tmp_path, "ls", "--resource-type", resource_type, "--output", "name", "-q")
        return len([line for line in listed.stdout.splitlines() if line.strip()])

    assert count("test") >= 60
    assert count("unit_test") >= 3
