"""The one place that configures Cosmos: project, profile, execution and rendering.

dbt runs from its own virtualenv (`.venv/dbt`, see requirements-dbt.txt), so Cosmos invokes
the `dbt` executable as a subprocess, and renders the task groups from the manifest that
`make setup` compiles (`LoadMode.DBT_MANIFEST`): parsing the DAG never runs dbt.

Each layer runs in Cosmos's watcher execution mode (`ExecutionMode.WATCHER`): one
`dbt_producer_watcher` task per layer runs **one** `dbt build` of the layer with dbt's
threads (one DuckDB writer process), and every model and snapshot still has its own task,
plus a task for each model's tests (`TestBehavior.AFTER_EACH`), which reads that node's
outcome from dbt's structured log (pushed to XCom by the producer) and succeeds or fails
with it. A failing test fails its model's test task, and everything downstream of it stops.
dbt's start-up (seconds here) is paid once per layer instead of once per model.

Rules kept from the per-model build:
* Only the producer writes the warehouse: it is the layer's one task in the warehouse pool.
  The watchers only read XCom. When a watcher has to run dbt itself (its model was not
  reached because the producer died, or a user cleared the task to rerun one model), dbt
  waits for the DuckDB file lock (`retries` in dbt/profiles.yml) rather than fail on it.
* Retries: a model or test failure is deterministic, so a watcher fails at once
  (`retries=0`); clearing it in the UI reruns only that model (Cosmos runs `dbt run` /
  `dbt test --select <model>`). The producer may retry: Cosmos never reruns the build on a
  retry, it restores the node states it had reported and lets the watchers of the nodes it
  did not reach run them one by one. So a killed producer (worker lost) still completes.
* The watchers start once the producer has finished (see `wire_watchers`): the
  layers build in seconds, so nothing is gained by sensing during the build, and Airflow's
  `dags test` (which runs one task at a time: `make run`, the tests) needs that order.
"""

from __future__ import annotations

from datetime import timedelta

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from include.config import Settings

# Which dbt nodes each medallion layer's task group builds (tags set per folder in
# dbt_project.yml; the silver group also runs the snapshots).
LAYER_SELECTORS = {
    "bronze": ["tag:bronze"],
    "silver": ["tag:silver"],
    "gold": ["tag:gold"],
}
PRODUCER_TASK = "dbt_producer_watcher"
PRODUCER_DONE_TASK = "dbt_producer_watcher_done"

# Incremental models rebuild the days from (batch_start - lookback_days) on: the batch the
# load task just loaded, and the lookback it swept for late files (rendered at run time).
BATCH_START = "{{ ti.xcom_pull(task_ids='load_raw_files')['batch_start'] }}"


def dbt_vars(settings: Settings) -> dict[str, str | int]:
    return {"lookback_days": settings.lookback_days}


def dbt_env(settings: Settings) -> dict[str, str]:
    """What every dbt process of the pipeline gets (the profile reads these)."""
    return {"WAREHOUSE_PATH": str(settings.warehouse_path), "DBT_THREADS": str(settings.dbt_threads)}


def dag_dbt_env(settings: Settings) -> dict[str, str]:
    """dbt's environment in the DAG: the batch's first day too (macros/incremental_window.sql).
    Passed in the environment, not as a var, so the vars stay the same from run to run and
    dbt reuses its partial parse (a changed var makes it reparse the whole project)."""
    return {**dbt_env(settings), "LAKEHOUSE_BATCH_START": BATCH_START}


def project_config(settings: Settings) -> ProjectConfig:
    return ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=settings.dbt_manifest_path,
        project_name="lakehouse",
        install_dbt_deps=False,
        env_vars=dag_dbt_env(settings),
    )


def profile_config(settings: Settings) -> ProfileConfig:
    return ProfileConfig(
        profile_name="lakehouse",
        target_name="local",
        profiles_yml_filepath=settings.dbt_profiles_dir / "profiles.yml",
    )


def execution_config(settings: Settings) -> ExecutionConfig:
    return ExecutionConfig(
        execution_mode=ExecutionMode.WATCHER,
        dbt_executable_path=str(settings.dbt_executable),
        invocation_mode=InvocationMode.SUBPROCESS,
        # The layer's build runs the tests whose parents are all in the layer or upstream of
        # it, so a test over several models (relationships, reconciliations) runs once the
        # last of them is built. Facts declare their dimensions as parents (`-- depends_on:`).
        test_indirect_selection=TestIndirectSelection.BUILDABLE,
        # The producer alone writes the warehouse. A retry of it never reruns dbt (Cosmos
        # restores the states it reported), so it needs no delay.
        setup_operator_args={
            # Cosmos passes the indirect selection to test tasks only; the layer's build
            # needs it too (dbt's default, eager, would run a test over a silver and a gold
            # model in the silver build, before gold is built, and no build would run the
            # tests on the staging source).
            "indirect_selection": TestIndirectSelection.BUILDABLE.value,
            "pool": settings.warehouse_pool,
            "retries": max(1, settings.task_retries),
            "retry_delay": timedelta(seconds=1),
        },
    )


def render_config(settings: Settings, layer: str) -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=LAYER_SELECTORS[layer],
        test_behavior=TestBehavior.AFTER_EACH,
        invocation_mode=InvocationMode.SUBPROCESS,
        dbt_executable_path=str(settings.dbt_executable),
        enable_mock_profile=False,
    )


def dbt_layer_group(layer: str, settings: Settings) -> DbtTaskGroup:
    """The Cosmos task group that builds and tests one layer (one dbt process)."""
    return DbtTaskGroup(
        group_id=f"dbt_{layer}",
        project_config=project_config(settings),
        profile_config=profile_config(settings),
        execution_config=execution_config(settings),
        render_config=render_config(settings, layer),
        operator_args={
            "install_deps": False,
            "vars": dbt_vars(settings),
            # No Airflow assets per model: nothing schedules on them, and each costs a
            # registration per watcher.
            "emit_datasets": False,
            # Watchers: a node's failure repeats on a retry (clear the task to rerun it).
            "retries": 0,
            "poke_interval": 2,
        },
    )


def wire_watchers(group: DbtTaskGroup) -> None:
    """Two adjustments to a layer group, made after it is chained to what comes before it.

    1. The first watchers start when the producer has finished, not beside it. They keep
       their upstream (the previous gate) and get the producer as a second one;
       `none_failed_min_one_success` lets them run when the producer succeeded or was skipped
       on a retry (they then read the states it restored, or run their node themselves), and
       stops them when anything upstream failed or the whole run was skipped (no files).
    2. A test over several models (a `relationships` test) counts for the model it is
       defined on, the most downstream of its parents, as dbt's own build treats it. Cosmos
       credits it to every parent, so a relationships test that dbt skipped because the fact
       it tests failed would fail the test task of every healthy dimension it refers to.
    """
    prefix = f"{group.group_id}."
    producer = group.children[prefix + PRODUCER_TASK]
    for task in group.iter_tasks():
        if task.task_id in (producer.task_id, prefix + PRODUCER_DONE_TASK):
            continue
        if not any(upstream.startswith(prefix) for upstream in task.upstream_task_ids):
            producer >> task
            task.trigger_rule = "none_failed_min_one_success"
    producer.tests_per_model = _tests_on_their_last_parent(producer.tests_per_model, group.dbt_graph.nodes)


def _tests_on_their_last_parent(tests_per_model: dict[str, list[str]], nodes: dict) -> dict[str, list[str]]:
    def ancestors(uid: str, seen: set[str]) -> set[str]:
        for parent in getattr(nodes.get(uid), "depends_on", []):
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    parents_of: dict[str, list[str]] = {}
    for model, tests in tests_per_model.items():
        for test in tests:
            parents_of.setdefault(test, []).append(model)
    kept: dict[str, list[str]] = {}
    for test, parents in parents_of.items():
        for model in parents:
            if not any(model in ancestors(other, set()) for other in parents if other != model):
                kept.setdefault(model, []).append(test)
    return kept
