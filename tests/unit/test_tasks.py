"""The load task body, called with a plain context dict, through the Airflow S3 connection."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

import duckdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.config import settings
from include.ingest.load import MANIFEST_TABLE
from include.pipeline import tasks
from include.storage.layout import raw_key


def _context(day: date, run_id: str = "manual__test") -> dict:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {"params": {}, "data_interval_start": start, "data_interval_end": start, "run_id": run_id}


def test_load_task_loads_the_batch_and_late_files_through_the_airflow_connection(
    s3_env, s3_client, day_files
):
    bucket = s3_env["RAW_BUCKET"]
    s3_client.create_bucket(Bucket=bucket)
    for day in ("2010-12-01", "2010-12-05"):
        key = raw_key("online_retail", date.fromisoformat(day), f"{day}.csv.gz")
        s3_client.put_object(Bucket=bucket, Key=key, Body=(day_files / f"{day}.csv.gz").read_bytes())
    summary = tasks.load_raw_files(_context(date(2010, 12, 5)))
    # 2010-12-01 is inside the 7-day lookback of 2010-12-05: swept up as a late file.
    assert summary["files_loaded"] == 2 and summary["days"] == ["2010-12-01", "2010-12-05"]
    again = tasks.load_raw_files(_context(date(2010, 12, 5), "manual__again"))
    assert again["files_loaded"] == 0 and again["files_skipped"] == 2


def test_load_task_fails_when_too_much_of_the_batch_is_rejected(s3_env, s3_client, day_files):
    bucket = s3_env["RAW_BUCKET"]
    s3_client.create_bucket(Bucket=bucket)
    day = date(2010, 12, 1)
    good = (day_files / "2010-12-01.csv.gz").read_bytes()
    s3_client.put_object(Bucket=bucket, Key=raw_key("online_retail", day, "good.csv.gz"), Body=good)
    text = gzip.decompress(good).decode().splitlines()
    bad = [text[0]] + [",".join(["x"] * 8) for _ in range(200)]  # 200 untypable rows
    s3_client.put_object(
        Bucket=bucket, Key=raw_key("online_retail", day, "bad.csv"), Body="\n".join(bad).encode()
    )
    # AirflowFailException: Airflow fails the task without retrying it (the same files would
    # give the same share again).
    with pytest.raises(AirflowFailException, match=r"200 of \d+ rows quarantined"):
        tasks.load_raw_files(_context(day))
    # What could be loaded is loaded.
    con = duckdb.connect(str(settings().warehouse_path), read_only=True)
    statuses = con.execute(
        f"select key, status, rows_quarantined from {MANIFEST_TABLE} order by key"
    ).fetchall()
    con.close()
    assert [(k.rsplit("/", 1)[1], s, q) for k, s, q in statuses] == [
        ("bad.csv", "loaded", 200),
        ("good.csv.gz", "loaded", 0),
    ]


def test_publish_without_gold_fails_without_retry(s3_env):
    with pytest.raises(AirflowFailException, match="no warehouse"):
        tasks.publish(_context(date(2010, 12, 1)))
