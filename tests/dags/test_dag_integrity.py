"""The DAG folder imports cleanly and `retail_elt` keeps its contract."""

import itertools
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS = PROJECT_ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["retail_elt"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"retail_elt"}


def test_schedule_catchup_and_concurrency(dag):
    # Day D's run covers [D, D+1) and starts once D is over, so its files can have landed.
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # "@daily" is a trigger in Airflow 3
    timetable = CronDataIntervalTimetable(dag.timetable.expression, dag.timetable.timezone)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )
    assert first.data_interval.start == dag.start_date
    assert first.data_interval.end - first.data_interval.start == timedelta(days=1)
    assert first.run_after == first.data_interval.end
    assert dag.catchup is False  # unpausing never queues years of days (RETAIL_ELT_CATCHUP)
    assert dag.max_active_runs == 1
    assert dag.start_date.tzinfo is not None
    assert dag.doc_md and "make run" in dag.doc_md


def test_tags_owner_and_retries(dag):
    """Only what can fail for a passing reason retries: the sensor, the load, publish, and a
    layer's dbt producer (whose retry never reruns dbt). A gate's failed check and a model's
    or test's failure repeat on a retry, so those tasks fail at once."""
    assert {"lakehouse", "retail"} <= set(dag.tags)
    for task in dag.tasks:
        assert task.owner == "data-platform", task.task_id
        if task.task_id in ("wait_for_raw_files", "load_raw_files", "publish"):
            assert task.retries >= 1 and task.retry_delay >= timedelta(minutes=1), task.task_id
        elif task.task_id.endswith(".dbt_producer_watcher"):
            assert task.retries >= 1, task.task_id
        elif task.task_id.startswith("gate_") or type(task).__name__.endswith("WatcherOperator"):
            assert task.retries == 0, task.task_id


def test_layers_run_in_order_behind_their_gates(dag):
    def downstream(task_id):
        return dag.get_task(task_id).get_flat_relative_ids(upstream=False)

    order = ["wait_for_raw_files", "load_raw_files", "gate_bronze", "gate_silver", "gate_gold", "publish"]
    for earlier, later in itertools.pairwise(order):
        assert later in downstream(earlier), f"{later} must run after {earlier}"
    silver = [t for t in dag.task_ids if t.startswith("dbt_silver.")]
    gold = [t for t in dag.task_ids if t.startswith("dbt_gold.")]
    bronze = [t for t in dag.task_ids if t.startswith("dbt_bronze.")]
    assert silver and gold and bronze
    assert set(silver) <= downstream("gate_bronze")
    assert set(gold) <= downstream("gate_silver")
    assert "gate_gold" in downstream(gold[0])


def test_every_warehouse_writer_is_in_the_one_slot_pool(dag):
    """The load, each layer's dbt producer (its one `dbt build`), the gates and publish write
    the warehouse; the watchers only read the producer's XCom, so they stay out of the pool."""
    from include.config import settings

    pool = settings().warehouse_pool
    writers = {t.task_id for t in dag.tasks if t.pool == pool}
    assert writers == {
        "load_raw_files",
        "dbt_bronze.dbt_producer_watcher",
        "dbt_silver.dbt_producer_watcher",
        "dbt_gold.dbt_producer_watcher",
        "gate_bronze",
        "gate_silver",
        "gate_gold",
        "publish",
    }


def test_each_layer_is_one_dbt_build_whose_watchers_start_after_it(dag):
    """Watcher execution: one producer per layer runs `dbt build` for the layer's tag; every
    model and snapshot has a watcher, each with a test watcher; the first watchers wait for
    the producer (so `airflow dags test`, one task at a time, never runs one before it)."""
    for layer in ("bronze", "silver", "gold"):
        producer = dag.get_task(f"dbt_{layer}.dbt_producer_watcher")
        assert type(producer).__name__ == "DbtProducerWatcherOperator"
        assert producer.select == [f"tag:{layer}"] or producer.select == f"tag:{layer}"
        watchers = [t for t in dag.tasks if t.task_id.startswith(f"dbt_{layer}.") and t is not producer]
        assert watchers
        for task in watchers:
            if task.task_id.endswith("dbt_producer_watcher_done"):
                continue
            group_upstream = {u for u in task.upstream_task_ids if u.startswith(f"dbt_{layer}.")}
            assert group_upstream, f"{task.task_id} does not wait for anything in its layer"
            if producer.task_id in group_upstream:
                assert group_upstream == {producer.task_id}
                assert task.trigger_rule == "none_failed_min_one_success", task.task_id


def test_a_relationships_test_counts_for_the_model_it_is_defined_on():
    """Cosmos credits a test over several models to each of them; the DAG keeps it on the
    most downstream one only, so a fact's failure never fails a healthy dimension's tests."""
    from include.transform.cosmos_config import _tests_on_their_last_parent

    class Node:
        def __init__(self, *parents):
            self.depends_on = list(parents)

    nodes = {"dim": Node(), "fct": Node("dim"), "mart": Node("fct"), "other": Node()}
    shared = "test.relationships_fct_dim"
    kept = _tests_on_their_last_parent(
        {"dim": ["test.unique_dim", shared], "fct": [shared, "test.fct"], "other": ["test.other_dim"]},
        nodes,
    )
    assert kept == {"dim": ["test.unique_dim"], "fct": [shared, "test.fct"], "other": ["test.other_dim"]}
    # Two parents neither of which depends on the other: the test counts for both.
    assert _tests_on_their_last_parent({"dim": [shared], "other": [shared]}, nodes) == {
        "dim": [shared],
        "other": [shared],
    }


def test_sensor_reschedules_with_a_timeout(dag):
    sensor = dag.get_task("wait_for_raw_files")
    assert sensor.mode == "reschedule"
    assert 0 < sensor.timeout <= timedelta(days=1).total_seconds()


def test_range_params(dag):
    assert set(dag.params.keys()) == {"start_date", "end_date"}


def test_parsing_touches_no_service_and_no_warehouse(tmp_path):
    """Parsing needs neither S3 nor the warehouse: nothing is read or written at parse time."""
    warehouse = tmp_path / "never" / "lakehouse.duckdb"
    code = (
        "import importlib.util;"
        f"spec = importlib.util.spec_from_file_location('retail_elt', r'{DAGS / 'retail_elt.py'}');"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod);"
        "print('parsed')"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing answers
        "AIRFLOW_CONN_LAKEHOUSE_S3": "aws://x:y@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9",
        "WAREHOUSE_PATH": str(warehouse),
        "LAKEHOUSE_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("parsed")
    assert not warehouse.parent.exists()


def test_every_dbt_node_is_built_and_every_dbt_test_runs_in_some_layer(dag):
    """Each model and snapshot has a watcher task; each data/unit test runs in one layer's build.

    A layer's producer runs `dbt build --select tag:<layer> --indirect-selection buildable`:
    the tests whose parents are all in the layer or upstream of it. A test over models that
    no layer covers would silently never run, so this must hold for every test in the manifest.
    """
    import json

    manifest = json.loads((PROJECT_ROOT / "dbt" / "target" / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    built = {
        uid: node
        for uid, node in nodes.items()
        if node["resource_type"] in ("model", "snapshot") and node["package_name"] == "lakehouse"
    }
    # Cosmos names a node's watcher "<group>.<name>.run" (models) or "<group>.<name>.snapshot".
    watched = {t.split(".")[1] for t in dag.task_ids if t.endswith((".run", ".snapshot"))}
    assert {node["name"] for node in built.values()} == watched

    layer_of = {
        uid: next(tag for tag in node["tags"] if tag in ("bronze", "silver", "gold"))
        for uid, node in built.items()
    }
    tests = [n for n in nodes.values() if n["resource_type"] in ("test", "unit_test")]
    assert len(tests) >= 63
    for test in tests:
        parents = test["depends_on"]["nodes"]
        assert parents, test["unique_id"]
        layers = {layer_of[p] for p in parents if not p.startswith("source.")}
        # Tests on the staging source run in the bronze build (its model's ancestor). A test
        # over two layers would run in the later build only, while Cosmos would also wait for
        # it in the earlier layer's test task.
        assert len(layers) <= 1, f"{test['unique_id']} spans the layers {layers}"
        if not layers:
            assert all(p.startswith("source.lakehouse.online_retail.") for p in parents), test["unique_id"]
