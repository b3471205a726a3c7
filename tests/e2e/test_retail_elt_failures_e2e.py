"""The real `retail_elt` DAG through Airflow when something is wrong: a failing dbt test and
failed silver and gold gates stop promotion (one file per half of the end-to-end suite, so the
two pytest workers share the DAG runs)."""

from __future__ import annotations

import pytest

from tests.e2e.sql import serving_rows as _serving
from tests.e2e.sql import warehouse_rows as _query

pytestmark = pytest.mark.e2e


def test_a_failing_dbt_test_stops_the_models_downstream(pipeline, day_files, tmp_path):
    # A 'C' (cancellation) invoice with a positive quantity: every field types and the bronze
    # and silver gates pass, but fct_orders' test "cancelled_revenue >= 0" fails.
    source = tmp_path / "bad-cancellation"
    day_dir = source / "invoice_date=2010-12-01"
    day_dir.mkdir(parents=True)
    (day_dir / "export-0001.csv.gz").write_bytes((day_files / "2010-12-01.csv.gz").read_bytes())
    (day_dir / "export-0002.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "C999999,22139,RETROSPOT TEA SET CERAMIC 11 PC ,3,2010-12-01 10:00:00,4.95,17850,United Kingdom\n"
    )

    proc = pipeline.run("2010-12-01", "2010-12-01", source=source)
    assert proc.returncode != 0

    states = pipeline.task_states("2010-12-01", "2010-12-01")
    assert states["gate_silver"] == "success"
    # The gold layer's one dbt build failed; its retry restored the node states dbt reported
    # and never reran dbt. The failing test fails fct_orders' test task, and only that task.
    assert states["dbt_gold.dbt_producer_watcher"] == "skipped"
    assert states["dbt_gold.fct_orders.run"] == "success"
    assert states["dbt_gold.fct_orders.test"] == "failed"
    assert [t for t, state in states.items() if state == "failed"] == ["dbt_gold.fct_orders.test"]
    for task in (
        "dbt_gold.fct_order_lines.run",
        "dbt_gold.daily_country_sales.run",
        "dbt_gold.customer_rfm.run",
        "gate_gold",
        "publish",
    ):
        assert states[task] == "upstream_failed", (task, states)
    # Dimensions do not depend on the failed fact and were built and tested; their
    # relationships tests with the fact count for the fact, not for them.
    for dim in ("dim_product", "dim_date", "dim_country", "dim_customer"):
        assert states[f"dbt_gold.{dim}.run"] == states[f"dbt_gold.{dim}.test"] == "success", dim
    tables = {t for (t,) in _query("select table_schema || '.' || table_name from information_schema.tables")}
    assert "gold.daily_country_sales" not in tables
    alerts = _query("select kind, task_id from audit.alerts")
    assert alerts == [("task_failed", "dbt_gold.fct_orders.test")]
    # Failed at once: a failing test repeats on a retry, so the task has one try.
    tries = _query("select try_number from audit.pipeline_runs where task_id = 'dbt_gold.fct_orders.test'")
    assert tries == [(1,)]
    # The producer's two tries are on record: the failed build, and the retry that restored
    # the node states without running dbt again.
    producer = _query(
        "select try_number, state from audit.pipeline_runs "
        "where task_id = 'dbt_gold.dbt_producer_watcher' order by try_number"
    )
    assert producer == [(1, "up_for_retry"), (2, "skipped")]


def test_an_inconsistent_invoice_fails_the_silver_gate_and_gold_is_not_built(pipeline, day_files, tmp_path):
    # One more line for a real invoice of the day, under another customer: every field types
    # and sits on its day (bronze passes), but an invoice must have one customer (silver).
    source = tmp_path / "two-customers"
    day_dir = source / "invoice_date=2010-12-01"
    day_dir.mkdir(parents=True)
    (day_dir / "export-0001.csv.gz").write_bytes((day_files / "2010-12-01.csv.gz").read_bytes())
    (day_dir / "export-0002.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,22139,RETROSPOT TEA SET CERAMIC 11 PC ,1,2010-12-01 08:26:00,4.95,99999,United Kingdom\n"
    )

    proc = pipeline.run("2010-12-01", "2010-12-01", source=source)
    assert proc.returncode != 0
    states = pipeline.task_states("2010-12-01", "2010-12-01")
    assert states["gate_bronze"] == "success"
    assert states["gate_silver"] == "failed"
    gold = [t for t in states if t.startswith("dbt_gold.")] + ["gate_gold", "publish"]
    assert {states[t] for t in gold} == {"upstream_failed"}, states

    failed = _query(
        "select layer, check_name, measured_value from audit.dq_check_results where outcome = 'fail'"
    )
    assert [(layer, name, float(value)) for layer, name, value in failed] == [
        ("silver", "Every invoice of the batch has one customer and one country", 1.0)
    ]
    alerts = _query("select kind, task_id, message from audit.alerts")
    assert [(k, t) for k, t, _ in alerts] == [("gate_failed", "gate_silver")]
    assert "one customer and one country" in alerts[0][2]
    tables = {t for (t,) in _query("select table_schema || '.' || table_name from information_schema.tables")}
    assert not any(t.startswith("gold.") for t in tables)


def test_a_day_far_off_its_trailing_median_fails_the_gold_gate_and_serving_keeps_the_last_good_gold(
    pipeline, day_files, tmp_path
):
    # Eight real days load and publish; then the ninth arrives with a £5M order on top of its
    # real rows: far over 20x the median of the days before it.
    days = ["2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05", "2010-12-06", "2010-12-07",
            "2010-12-08", "2010-12-09"]  # fmt: skip
    source = tmp_path / "huge-order"
    for day in [*days, "2010-12-10"]:
        (source / f"invoice_date={day}").mkdir(parents=True)
        (source / f"invoice_date={day}" / "export-0001.csv.gz").write_bytes(
            (day_files / f"{day}.csv.gz").read_bytes()
        )
    (source / "invoice_date=2010-12-10" / "export-0002.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "599999,22423,REGENCY CAKESTAND 3 TIER,400000,2010-12-10 12:00:00,12.75,17850,United Kingdom\n"
    )
    assert pipeline.run(days[0], days[-1], source=source).returncode == 0, pipeline.log_tail()
    served_before = _serving("select * from gold.daily_country_sales order by all")
    assert served_before

    proc = pipeline.run("2010-12-10", "2010-12-10", source=source)
    assert proc.returncode != 0
    states = pipeline.task_states("2010-12-10", "2010-12-10")
    assert states["gate_silver"] == "success"
    assert {states[t] for t in states if t.startswith("dbt_gold.")} == {"success"}
    assert states["gate_gold"] == "failed"
    assert states["publish"] == "upstream_failed"

    check = "Daily gross revenue is within the band of the trailing 28-day median"
    failed = _query("select check_name, measured_value from audit.dq_check_results where outcome = 'fail'")
    assert [name for name, _ in failed] == [check]
    assert float(failed[0][1]) > 20
    alerts = _query("select kind, task_id, message from audit.alerts")
    assert [(k, t) for k, t, _ in alerts] == [("gate_failed", "gate_gold")]
    assert check in alerts[0][2]
    # What dashboards read is the last good gold, not the day that failed its gate.
    assert _serving("select * from gold.daily_country_sales order by all") == served_before
