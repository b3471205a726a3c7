"""The one place that configures Cosmos: project, profile, execution and rendering.

dbt runs from its own virtualenv (`.venv/dbt`, see requirements-dbt.txt), so Cosmos invokes
the `dbt` executable as a subprocess, and renders the task groups from the manifest that
`make setup` compiles (`LoadMode.DBT_MANIFEST`): parsing the DAG never runs dbt.

Each model renders as one `dbt build` task (`TestBehavior.BUILD`): the model and its tests in
one dbt invocation (dbt's start-up costs seconds here, so half the invocations of running and
testing separately), and a failing test fails the task, so nothing downstream builds. A test
over several models runs in the task of the last of them (indirect selection `buildable`).
"""

from __future__ import annotations

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from include.config import Settings

# Which dbt nodes each medallion layer's task group builds (tags set per folder in
# dbt_project.yml; the silver group also runs the snapshots).
LAYER_SELECTORS = {
    "bronze": ["tag:bronze"],
    "silver": ["tag:silver"],
    "gold": ["tag:gold"],
}

# Incremental models rebuild the days from (batch_start - lookback_days) on: the batch the
# load task just loaded, and the lookback it swept for late files (rendered at run time).
BATCH_START = "{{ ti.xcom_pull(task_ids='load_raw_files')['batch_start'] }}"


def dbt_vars(settings: Settings) -> dict[str, str | int]:
    return {"batch_start": BATCH_START, "lookback_days": settings.lookback_days}


def project_config(settings: Settings) -> ProjectConfig:
    return ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=settings.dbt_manifest_path,
        project_name="lakehouse",
        install_dbt_deps=False,
        env_vars={"WAREHOUSE_PATH": str(settings.warehouse_path)},
    )


def profile_config(settings: Settings) -> ProfileConfig:
    return ProfileConfig(
        profile_name="lakehouse",
        target_name="local",
        profiles_yml_filepath=settings.dbt_profiles_dir / "profiles.yml",
    )


def execution_config(settings: Settings) -> ExecutionConfig:
    return ExecutionConfig(
        dbt_executable_path=str(settings.dbt_executable),
        invocation_mode=InvocationMode.SUBPROCESS,
        # A model's task runs the tests whose parents are the model or its ancestors, so a test
        # over several models (relationships, reconciliations) runs with the last of them to
        # build. Facts declare their dimensions as parents (`-- depends_on:`) for this.
        test_indirect_selection=TestIndirectSelection.BUILDABLE,
    )


def render_config(settings: Settings, layer: str) -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=LAYER_SELECTORS[layer],
        test_behavior=TestBehavior.BUILD,
        invocation_mode=InvocationMode.SUBPROCESS,
        dbt_executable_path=str(settings.dbt_executable),
        enable_mock_profile=False,
    )


def dbt_layer_group(layer: str, settings: Settings) -> DbtTaskGroup:
    """The Cosmos task group that builds and tests one layer; its tasks use the warehouse pool."""
    return DbtTaskGroup(
        group_id=f"dbt_{layer}",
        project_config=project_config(settings),
        profile_config=profile_config(settings),
        execution_config=execution_config(settings),
        render_config=render_config(settings, layer),
        operator_args={
            "pool": settings.warehouse_pool,
            "install_deps": False,
            "vars": dbt_vars(settings),
        },
    )
