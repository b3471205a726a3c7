"""The gate runs the real Soda Core CLI (its own virtualenv) against a real DuckDB file."""

from datetime import date, datetime

import duckdb
import pytest

from include.config import settings
from include.pipeline.batch import Batch
from include.quality.soda_gate import RESULTS_TABLE, GateFailed, parse_results, run_gate

BATCH = Batch(date(2011, 1, 4), date(2011, 1, 5))


def _gold(warehouse, rows):
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    con.execute("create schema if not exists gold")
    con.execute(
        """create or replace table gold.daily_country_sales (
            sales_date date, country varchar, orders bigint, customers bigint, units bigint,
            gross_revenue decimal(18,2), cancelled_revenue decimal(18,2), net_revenue decimal(18,2))"""
    )
    con.executemany("insert into gold.daily_country_sales values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


def _results(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"select check_name, outcome, measured_value, layer, interval_start, interval_end, run_id "
            f"from {RESULTS_TABLE} order by check_name"
        ).fetchall()
    finally:
        con.close()


GOOD = [
    (date(2011, 1, 4), "United Kingdom", 10, 8, 100, 250.00, 10.00, 240.00),
    (date(2011, 1, 5), "France", 1, 1, 5, 20.00, 0.00, 20.00),
]


def test_a_clean_layer_passes_and_is_recorded(s3_env):
    s = settings()
    _gold(s.warehouse_path, GOOD)
    gate = run_gate("gold", BATCH, "run-ok", s, datetime(2026, 1, 1))
    assert gate.passed and len(gate.checks) == 4
    recorded = _results(s.warehouse_path)
    assert len(recorded) == 4
    assert {r[1] for r in recorded} == {"pass"}
    assert {r[3] for r in recorded} == {"gold"}
    assert recorded[0][4:] == (date(2011, 1, 4), date(2011, 1, 5), "run-ok")


def test_a_duplicate_key_fails_the_gate_naming_the_check(s3_env):
    s = settings()
    _gold(s.warehouse_path, [*GOOD, GOOD[0]])
    with pytest.raises(GateFailed, match="One row per sales_date and country"):
        run_gate("gold", BATCH, "run-bad", s, datetime(2026, 1, 1))
    failed = [r for r in _results(s.warehouse_path) if r[1] == "fail"]
    assert [(r[0], r[2]) for r in failed] == [("One row per sales_date and country", "1")]


def test_an_empty_batch_fails_the_gate(s3_env):
    s = settings()
    _gold(s.warehouse_path, [(date(2011, 2, 1), "France", 1, 1, 5, 20.00, 0.00, 20.00)])
    with pytest.raises(GateFailed, match="The batch's days have sales rows"):
        run_gate("gold", BATCH, "run-empty", s, datetime(2026, 1, 1))


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
