"""The Soda gates, run for real (Soda Core CLI in its own venv) on a warehouse built from real
days by the real loader and dbt project. Each broken case damages one thing the way a bug or
bad delivery would, and the gate must fail naming the check and recording its value.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from include.config import settings
from include.pipeline.batch import Batch
from include.quality.soda_gate import RESULTS_TABLE, GateFailed, parse_results, run_gate
from tests.helpers import execute_sql, run_dbt, stage_files

DAYS = [
    "2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05", "2010-12-06", "2010-12-07",
    "2010-12-08", "2010-12-09", "2010-12-10", "2010-12-12", "2010-12-13", "2010-12-14",
]  # fmt: skip
BATCH = Batch(date(2010, 12, 14), date(2010, 12, 14))
DAY = "2010-12-14"


@pytest.fixture(scope="module")
def built(day_files, tmp_path_factory) -> Path:
    """12 real days staged (loaded now) and built through silver and gold."""
    work = tmp_path_factory.mktemp("gates")
    # Same file name as the tests' warehouse: dbt-duckdb's views name their catalog (the file
    # stem), so a bronze view only works in a file of the same name.
    warehouse = work / "template" / settings().warehouse_path.name
    warehouse.parent.mkdir()
    stage_files(warehouse, {f"{d}/{d}.csv.gz": day_files / f"{d}.csv.gz" for d in DAYS}, "run-1")
    run_dbt(warehouse, work, "run")
    return warehouse


@pytest.fixture
def warehouse(built, s3_env) -> Path:
    path = settings().warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(built, path)
    return path


def _results(warehouse: Path, run_id: str) -> dict[str, tuple[str, str | None]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            f"select check_name, outcome, measured_value from {RESULTS_TABLE} where run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    return {name: (outcome, value) for name, outcome, value in rows}


def _gate(layer: str, run_id: str):
    return run_gate(layer, BATCH, run_id, settings(), datetime(2026, 1, 1))


def _failing(layer: str, warehouse: Path, run_id: str, check: str) -> dict:
    with pytest.raises(GateFailed, match=f"{layer} gate failed") as raised:
        _gate(layer, run_id)
    assert check in str(raised.value)
    results = _results(warehouse, run_id)
    assert results[check][0] == "fail", results
    assert [name for name, (outcome, _) in results.items() if outcome == "fail"] == [check]
    return results


@pytest.mark.parametrize("layer", ["bronze", "silver", "gold"])
def test_every_layer_passes_on_real_data_and_records_each_check(warehouse, layer):
    gate = _gate(layer, f"ok-{layer}")
    assert gate.passed and not gate.warned, [(c.name, c.outcome, c.value) for c in gate.checks]
    results = _results(warehouse, f"ok-{layer}")
    assert len(results) == len(gate.checks) >= 5
    assert {outcome for outcome, _ in results.values()} == {"pass"}


# ---- bronze ------------------------------------------------------------------------------


def test_bronze_fails_when_too_much_of_the_batch_is_quarantined(warehouse, tmp_path):
    # A second file for the day whose 300 rows all carry a bad Quantity: the loader quarantines
    # them (that is its job); the share of the day's raw rows is then over MAX_REJECTED_SHARE.
    bad = tmp_path / "bad.csv"
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    rows = [f"9{i:05d},22139,TEA SET,lots,{DAY} 10:00:00,4.95,17850,United Kingdom" for i in range(300)]
    bad.write_text("\n".join([header, *rows]) + "\n")
    stage_files(warehouse, {f"{DAY}/bad.csv": bad}, "run-2")
    results = _failing(
        "bronze",
        warehouse,
        "bad-share",
        "Quarantined rows are at most MAX_REJECTED_SHARE of the batch's raw rows",
    )
    share = float(results["Quarantined rows are at most MAX_REJECTED_SHARE of the batch's raw rows"][1])
    assert 0.05 < share < 1


def test_bronze_fails_when_the_manifest_does_not_conserve_rows(warehouse):
    # A loader bug that counts one raw row nowhere.
    execute_sql(
        warehouse, f"update audit.file_loads set rows_in = rows_in + 1 where partition_date = '{DAY}'"
    )
    results = _failing(
        "bronze",
        warehouse,
        "unbalanced",
        "Every file of the batch: raw rows = loaded + duplicate + quarantined",
    )
    assert float(results["Every file of the batch: raw rows = loaded + duplicate + quarantined"][1]) == 1


# ---- silver ------------------------------------------------------------------------------


def test_silver_fails_when_its_lines_do_not_reconcile_with_staging(warehouse):
    # A model bug that drops lines: staged rows of the day != silver lines + duplicates.
    execute_sql(
        warehouse,
        f"delete from silver.int_invoice_lines_conformed where invoice_line_id in ("
        f"select invoice_line_id from silver.int_invoice_lines_conformed "
        f"where partition_date = '{DAY}' limit 3)",
    )
    check = "The batch's staged rows = its silver lines + the duplicates silver dropped"
    assert float(_failing("silver", warehouse, "unreconciled", check)[check][1]) == 3


def test_silver_fails_when_an_invoice_has_two_customers(warehouse):
    execute_sql(
        warehouse,
        f"update silver.int_invoice_lines_conformed set customer_id = 1 where invoice_line_id = ("
        f"select min(invoice_line_id) from silver.int_invoice_lines_conformed "
        f"where partition_date = '{DAY}' and customer_id is not null)",
    )
    check = "Every invoice of the batch has one customer and one country"
    assert float(_failing("silver", warehouse, "two-customers", check)[check][1]) == 1


# ---- gold --------------------------------------------------------------------------------


def test_gold_fails_on_a_duplicate_key(warehouse):
    execute_sql(
        warehouse,
        "insert into gold.daily_country_sales "
        f"select * from gold.daily_country_sales where sales_date = '{DAY}' limit 1",
    )
    # The duplicate also doubles that row's revenue against silver, so that check fails too.
    with pytest.raises(GateFailed, match="One row per sales_date and country"):
        _gate("gold", "dup")
    results = _results(warehouse, "dup")
    assert results["One row per sales_date and country"] == ("fail", "1")


def test_gold_fails_on_a_duplicate_line_in_the_window_the_run_rewrote_and_not_older(warehouse):
    # The window starts RAW_LOOKBACK_DAYS (7) before the batch: 2010-12-07. Older days passed
    # the gate when they were written; a daily run does not rescan the whole history.
    check = "Order line ids are unique in the window the run rewrote"
    execute_sql(
        warehouse,
        "insert into gold.fct_order_lines select * from gold.fct_order_lines "
        "where sales_date = '2010-12-01' limit 1",
    )
    _gate("gold", "old-dup")
    assert _results(warehouse, "old-dup")[check] == ("pass", "0")
    execute_sql(
        warehouse,
        "insert into gold.fct_order_lines select * from gold.fct_order_lines "
        "where sales_date = '2010-12-08' limit 1",
    )
    assert _failing("gold", warehouse, "window-dup", check)[check] == ("fail", "1")


def test_gold_fails_when_its_revenue_does_not_reconcile_with_silver(warehouse):
    execute_sql(
        warehouse,
        "update gold.daily_country_sales set gross_revenue = gross_revenue + 1 "
        f"where sales_date = '{DAY}' and country = 'United Kingdom'",
    )
    check = "Each day's gold gross revenue equals its silver sale revenue"
    assert float(_failing("gold", warehouse, "unreconciled", check)[check][1]) == 1


def test_gold_fails_when_the_day_is_far_off_the_trailing_median(warehouse):
    # History shrunk to 1/100: the batch day looks 100x its trailing median.
    execute_sql(
        warehouse,
        f"update gold.daily_country_sales set gross_revenue = gross_revenue / 100 where sales_date < '{DAY}'",
    )
    check = "Daily gross revenue is within the band of the trailing 28-day median"
    factor = float(_failing("gold", warehouse, "band", check)[check][1])
    assert 50 < factor < 200


# ---- warnings: recorded, not fatal --------------------------------------------------------


def test_warnings_are_recorded_and_let_the_gate_pass(warehouse):
    # A stale load (the batch was loaded 3 days ago) warns in bronze; a day 8x its trailing
    # median (between the warn factor 5 and the fail factor 20) warns in gold.
    stale = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)
    execute_sql(
        warehouse,
        f"update staging.raw_invoice_lines set _loaded_at = '{stale.isoformat()}'",
        f"update gold.daily_country_sales set gross_revenue = gross_revenue / 8 where sales_date < '{DAY}'",
    )
    bronze, gold = _gate("bronze", "warn-bronze"), _gate("gold", "warn-gold")
    assert bronze.passed and [c.name for c in bronze.warned] == ["The batch's rows were loaded recently"]
    assert gold.passed and [c.name for c in gold.warned] == [
        "Daily gross revenue is within the band of the trailing 28-day median"
    ]
    assert _results(warehouse, "warn-bronze")["The batch's rows were loaded recently"][0] == "warn"
    assert (
        _results(warehouse, "warn-gold")[
            "Daily gross revenue is within the band of the trailing 28-day median"
        ][0]
        == "warn"
    )


def test_a_missing_table_is_a_scan_error_not_a_pass(s3_env):
    s = settings()
    s.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(s.warehouse_path)).close()
    with pytest.raises(GateFailed, match="gold gate failed"):
        run_gate("gold", BATCH, "run-missing", s, datetime(2026, 1, 1))


def test_parse_results_reads_outcomes_and_values():
    gate = parse_results(
        "silver",
        2,
        {
            "checks": [
                {"table": "t", "name": "a", "outcome": "pass", "diagnostics": {"value": 0}},
                {"table": "t", "name": "b", "outcome": "fail", "diagnostics": {"value": 3}},
                {"table": "t", "name": "c", "outcome": "warn", "diagnostics": {}},
                {"table": "t", "name": "d", "outcome": None},
            ]
        },
        "",
    )
    assert [c.name for c in gate.failed] == ["b", "d"]
    assert [c.name for c in gate.warned] == ["c"]
    assert gate.checks[1].value == "3" and gate.checks[2].value is None
    assert not gate.passed
