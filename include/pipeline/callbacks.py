"""Task callbacks of `retail_elt`: record every finished task, alert on failures.

They run in the task's own process after it ends (Airflow 3 task runner), still inside the
warehouse pool for warehouse tasks, so their audit writes do not race the pipeline's.
A callback never raises: observability must not change a task's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.config import settings
from include.pipeline.batch import Batch

log = logging.getLogger(__name__)


def _interval(context: Mapping[str, Any]) -> tuple[Any, Any]:
    from include.pipeline.tasks import batch_of

    try:
        batch: Batch = batch_of(context)
        return batch.start, batch.end
    except Exception:
        return None, None


def _returned(context: Mapping[str, Any]) -> Any:
    ti = context["ti"]
    try:
        return ti.xcom_pull(task_ids=ti.task_id)
    except Exception:
        return None


def _record(context: Mapping[str, Any], state: str, error: str | None = None) -> None:
    from include.observability.runs import record_task

    ti = context["ti"]
    record_task(
        settings().warehouse_path,
        run_id=context["run_id"],
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        try_number=getattr(ti, "try_number", None),
        state=state,
        interval=_interval(context),
        started_at=getattr(ti, "start_date", None),
        returned=_returned(context) if state == "success" else None,
        error=error,
    )


def on_success(context: Mapping[str, Any]) -> None:
    try:
        _record(context, "success")
    except Exception:
        log.exception("could not record the task run")


def on_retry(context: Mapping[str, Any]) -> None:
    """A failed try that Airflow will retry: recorded, not alerted (the last try alerts)."""
    error = context.get("exception")
    try:
        _record(context, "up_for_retry", error=f"{type(error).__name__}: {error}" if error else None)
    except Exception:
        log.exception("could not record the task run")


def on_skipped(context: Mapping[str, Any]) -> None:
    try:
        _record(context, "skipped")
    except Exception:
        log.exception("could not record the task run")


def on_failure(context: Mapping[str, Any]) -> None:
    """Record the failed task and alert: `gate_failed` for a gate, `task_failed` otherwise."""
    from include.observability.alerts import Alert, raise_alert
    from include.quality.soda_gate import GateFailed

    ti = context["ti"]
    error = context.get("exception")
    text = f"{type(error).__name__}: {error}" if error else "the task failed"
    try:
        _record(context, "failed", error=text)
    except Exception:
        log.exception("could not record the task run")
    start, end = _interval(context)
    kind = "gate_failed" if isinstance(error, GateFailed) else "task_failed"
    try:
        raise_alert(
            Alert(
                kind=kind,
                message=text,
                dag_id=ti.dag_id,
                run_id=context["run_id"],
                task_id=ti.task_id,
                interval_start=start,
                interval_end=end,
            ),
            settings().warehouse_path,
        )
    except Exception:
        log.exception("could not raise the alert")
