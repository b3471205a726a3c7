"""The bodies of `retail_elt`'s Python tasks. The DAG file only wires them.

Each function takes the task's Airflow context (a mapping) so it can be called from a test
with a plain dict; heavy imports stay inside the functions to keep DAG parsing fast.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from include.config import Settings, settings
from include.pipeline.batch import Batch, resolve_batch

log = logging.getLogger(__name__)


def batch_of(context: Mapping[str, Any]) -> Batch:
    return resolve_batch(
        context.get("params") or {},
        context.get("data_interval_start"),
        context.get("data_interval_end"),
    )


def _s3_client(s: Settings) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=s.s3_conn_id).get_conn()


def _list(s: Settings, batch: Batch) -> dict:
    from include.storage.listing import list_raw_files

    return list_raw_files(_s3_client(s), s.raw_bucket, s.raw_prefix, batch)


def wait_for_raw_files(context: Mapping[str, Any]) -> tuple[bool, dict]:
    """Poke: (done, xcom). Raises AirflowSkipException when the batch has no file at all."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.ingest.wait import decide

    s = settings()
    batch = batch_of(context)
    found = _list(s, batch)
    decision = decide(batch, set(found), datetime.now(UTC), timedelta(hours=s.landing_grace_hours))
    log.info(decision.message)
    if decision.skip:
        raise AirflowSkipException(decision.message)
    summary = {
        "batch": str(batch),
        "days_with_files": len(decision.days_with_files),
        "files": sum(len(v) for v in found.values()),
    }
    return decision.done, summary


def load_raw_files(context: Mapping[str, Any]) -> dict:
    """Load the batch plus a lookback window (late and re-delivered files), exactly once."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.ingest.load import RowsUnaccounted, load_from_s3, rejected_share

    s = settings()
    batch = batch_of(context)
    window = Batch(batch.start - timedelta(days=s.lookback_days), batch.end)
    try:
        result = load_from_s3(
            _s3_client(s),
            s.raw_bucket,
            _list(s, window),
            s.warehouse_path,
            run_id=context["run_id"],
            loaded_at=datetime.now(UTC).replace(tzinfo=None),
        )
    except RowsUnaccounted as exc:  # the same files would come out the same way again
        raise AirflowFailException(str(exc)) from exc
    share = rejected_share(s.warehouse_path, batch.days())
    log.info("batch %s: %s", batch, share)
    if share.exceeds(s.max_rejected_share):
        # Deterministic: the same files give the same share. Fail at once, never retry; the
        # files must be fixed (or the threshold changed) and the run triggered again.
        raise AirflowFailException(
            f"rejected share exceeded for batch {batch}: {share}, over MAX_REJECTED_SHARE="
            f"{s.max_rejected_share:.1%}. What could be loaded is loaded; see audit.file_loads and "
            "quarantine.rows for the reasons."
        )
    # batch_start is what the dbt task groups rebuild from (minus the same lookback).
    return {"batch": str(batch), "batch_start": batch.start.isoformat(), **result.summary()}


def publish(context: Mapping[str, Any]) -> dict:
    """Copy gold and audit into the serving file (atomic swap): what dashboards read."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.serving.publish import NothingToPublish
    from include.serving.publish import publish as publish_serving

    s = settings()
    try:
        published = publish_serving(s.warehouse_path, s.serving_path)
    except NothingToPublish as exc:  # no warehouse or no gold: a retry finds the same
        raise AirflowFailException(str(exc)) from exc
    return {"serving_path": str(published.path), "tables": published.tables}


def soda_gate(layer: str, context: Mapping[str, Any]) -> dict:
    from include.quality.soda_gate import run_gate

    batch = batch_of(context)
    gate = run_gate(
        layer,
        batch,
        context["run_id"],
        settings(),
        scanned_at=datetime.now(UTC).replace(tzinfo=None),
    )
    return {
        "layer": layer,
        "batch": str(batch),
        "checks": len(gate.checks),
        "warnings": len(gate.warned),
    }
