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
    assert {"lakehouse", "retail"} <= set(dag.tags)
    for task in dag.tasks:
        assert task.owner == "data-platform", task.task_id
        if not task.task_id.startswith("gate_"):
            assert task.retries >= 1, task.task_id
            assert task.retry_delay >= timedelta(minutes=1), task.task_id


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


def test_every_warehouse_task_is_in_the_one_slot_pool(dag):
    from include.config import settings

    warehouse_tasks = [t for t in dag.tasks if t.task_id != "wait_for_raw_files"]
    assert warehouse_tasks
    for task in warehouse_tasks:
        assert task.pool == settings().warehouse_pool, task.task_id


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


def test_every_dbt_node_is_built_and_every_dbt_test_runs_in_some_task(dag):
    """Each model and snapshot has a task; each data/unit test runs with one of them.

    A model's task runs `dbt build --select <model> --indirect-selection buildable`: the tests
    whose parents are all the model or its ancestors. A test over models that no single task
    covers would silently never run, so this must hold for every test in the manifest.
    """
    import json

    manifest = json.loads((PROJECT_ROOT / "dbt" / "target" / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    built = {
        uid: node
        for uid, node in nodes.items()
        if node["resource_type"] in ("model", "snapshot") and node["package_name"] == "lakehouse"
    }
    # Cosmos names a node's task "<group>.<name>_<model|snapshot>_build".
    dbt_tasks = [task_id.split(".", 1)[1] for task_id in dag.task_ids if "." in task_id]
    names_with_tasks = {name.rsplit("_", 2)[0] for name in dbt_tasks}
    assert {node["name"] for node in built.values()} == names_with_tasks

    def ancestors(uid: str, seen: set[str]) -> set[str]:
        for parent in nodes.get(uid, {}).get("depends_on", {}).get("nodes", []):
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    covered = {uid: ancestors(uid, {uid}) for uid in built}
    tests = [n for n in nodes.values() if n["resource_type"] in ("test", "unit_test")]
    assert len(tests) >= 63
    for test in tests:
        parents = set(test["depends_on"]["nodes"])  # models, snapshots or the staging source
        assert parents, test["unique_id"]
        assert any(parents <= covered[uid] for uid in built), f"{test['unique_id']} never runs"
