"""
### retail_elt: raw e-commerce invoice files → DuckDB bronze / silver / gold

One run processes one **batch** of invoice days: a scheduled run takes its data interval (one
day); a manual run may give `start_date` and `end_date` (inclusive, `YYYY-MM-DD`) to process a
whole range in one run (`make run FROM=… TO=…` does this).

1. `wait_for_raw_files` waits (reschedule mode) until every day of the batch has a file under
   `<RAW_BUCKET>/online_retail/invoice_date=YYYY-MM-DD/`. Days without trading never get a
   file, so after `RAW_LANDING_GRACE_HOURS` past the batch it goes on with what landed, and
   skips the run when nothing landed at all.
2. `load_raw_files` loads every file version of the batch (plus late files from the
   `RAW_LOOKBACK_DAYS` before it) exactly once into `staging.raw_invoice_lines`, in one
   transaction: untypable rows go to `quarantine.rows`, unreadable files are recorded as
   rejected in `audit.file_loads`, duplicates are counted; reruns change nothing. It fails
   when more than `MAX_REJECTED_SHARE` of the batch was rejected.
3. `dbt_bronze` → `gate_bronze` → `dbt_silver` → `gate_silver` → `dbt_gold` → `gate_gold`:
   Cosmos builds and tests each layer with **one** `dbt build` (the group's
   `dbt_producer_watcher` task); every model then has a `.run` task and a `.test` task that
   succeed or fail with what dbt reported for it. A Soda Core gate checks the layer before
   the next one builds. A failed gate stops promotion. Check results land in
   `audit.dq_check_results`.
4. `publish` copies gold and audit into the serving file (`SERVING_PATH`) and swaps it in
   atomically: dashboards read only that file, so they never fight the pipeline for the
   warehouse, and they keep the last good gold when a gate fails.

### Schedule
Day D's run covers the data interval [D, D+1) and starts once D is over. Catch-up is off
(`RETAIL_ELT_CATCHUP=false`): unpausing the DAG queues the latest finished day only, never one
run per day since `RETAIL_ELT_START_DATE`. To load history, land it and trigger **one** run
for the whole range (below; `make run FROM=… TO=…` does both), or use Airflow's backfill
(`airflow backfill create --dag-id retail_elt --from-date … --to-date …`, one run per day).

Every task that writes the warehouse runs in the 1-slot `WAREHOUSE_POOL` pool (DuckDB allows
one writer). Failures that would repeat (a failed check, model or test, too much rejected)
fail at once; to rerun one model after fixing its cause, clear its `.run` task.

### Trigger a run for a date (or a range)
1. In the Airflow UI open **Dags → retail_elt** and press **Trigger** (top right).
2. Keep *Single Run*; under **Run Parameters** set `start_date` and `end_date` to the invoice
   day(s) to process (both inclusive; the same day twice for one day). Left empty, the run
   processes the last whole day before its logical date (yesterday, for a run triggered now).
3. Press **Trigger**. The files must already be in `s3://<RAW_BUCKET>/online_retail/`
   (`make run` lands and runs in one go from a terminal).

### Where to look
- **Grid / Graph** of the run: each dbt model is its own `.run` task (and `.test` task) in
  `dbt_bronze`, `dbt_silver`, `dbt_gold`, with its dbt output in its log; the layer's whole
  build is in `dbt_producer_watcher`'s log; a red `gate_*` task is a failed data-quality
  gate, and its log lists the failing checks with the measured values.
- **Plugins → Lakehouse**: the Superset dashboards (*Sales*, *Customers*, *Data quality*:
  gate results, quarantined rows, file loads) and the dbt docs (models, tests, lineage).
- In the warehouse: `audit.dq_check_results` (every check), `audit.file_loads` (every
  file version), `quarantine.rows` (every rejected row and why), `audit.pipeline_runs`
  (every task try), `audit.alerts`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, PokeReturnValue, chain, dag, task

from include.config import settings
from include.pipeline import callbacks, tasks
from include.transform.cosmos_config import dbt_layer_group, wire_watchers

SETTINGS = settings()


@dag(
    dag_id="retail_elt",
    # Day D's run starts after D ends (data interval [D, D+1)); a plain "@daily" would, in
    # Airflow 3, start D's run at D 00:00 and wait for files that cannot have landed yet.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=SETTINGS.schedule_start,
    # Off by default: unpausing a fresh install queues the latest day only, not one run per
    # day since start_date. History: one ranged run, or `airflow backfill create`.
    catchup=SETTINGS.catchup,
    max_active_runs=1,
    tags=["lakehouse", "retail", "elt", "dbt", "soda"],
    doc_md=__doc__,
    default_args={
        "owner": "data-platform",
        "retries": SETTINGS.task_retries,
        "retry_delay": timedelta(seconds=SETTINGS.retry_delay_seconds),
        # Every finished task try goes to audit.pipeline_runs (success, a try to be retried,
        # skipped, failed); a failure also raises an alert.
        "on_success_callback": callbacks.on_success,
        "on_retry_callback": callbacks.on_retry,
        "on_skipped_callback": callbacks.on_skipped,
        "on_failure_callback": callbacks.on_failure,
    },
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="First invoice day of a manual batch (inclusive); empty = data interval.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Last invoice day of a manual batch (inclusive); empty = data interval.",
        ),
    },
)
def retail_elt():
    @task.sensor(
        mode="reschedule",
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=SETTINGS.sensor_timeout_hours),
    )
    def wait_for_raw_files(**context) -> PokeReturnValue:
        done, summary = tasks.wait_for_raw_files(context)
        return PokeReturnValue(is_done=done, xcom_value=summary)

    @task(pool=SETTINGS.warehouse_pool)
    def load_raw_files(**context) -> dict:
        return tasks.load_raw_files(context)

    @task(pool=SETTINGS.warehouse_pool, retries=0)
    def soda_gate(layer: str, **context) -> dict:
        return tasks.soda_gate(layer, context)

    @task(pool=SETTINGS.warehouse_pool)
    def publish(**context) -> dict:
        return tasks.publish(context)

    bronze, silver, gold = (dbt_layer_group(layer, SETTINGS) for layer in ("bronze", "silver", "gold"))
    chain(
        wait_for_raw_files(),
        load_raw_files(),
        bronze,
        soda_gate.override(task_id="gate_bronze")("bronze"),
        silver,
        soda_gate.override(task_id="gate_silver")("silver"),
        gold,
        soda_gate.override(task_id="gate_gold")("gold"),
        publish(),
    )
    for layer in (bronze, silver, gold):
        wire_watchers(layer)


retail_elt()
