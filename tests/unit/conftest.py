"""Fixtures of the loader's tests: a bucket on the session's S3 endpoint and a warehouse."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from include.ingest.load import MANIFEST_TABLE, QUARANTINE_TABLE, STAGING_TABLE, load_from_s3
from include.pipeline.batch import Batch
from include.storage.layout import raw_key
from include.storage.listing import list_raw_files

PREFIX = "online_retail"
DAY = date(2010, 12, 1)
LOADED_AT = datetime(2026, 1, 1, 12, 0)


@pytest.fixture
def lake(s3_env, s3_client, tmp_path):
    """Put objects into the test's bucket and load days from it."""
    bucket = s3_env["RAW_BUCKET"]
    s3_client.create_bucket(Bucket=bucket)

    class Lake:
        warehouse = tmp_path / "wh.duckdb"

        def put(self, name: str, body: bytes, day: date = DAY) -> str:
            key = raw_key(PREFIX, day, name)
            s3_client.put_object(Bucket=bucket, Key=key, Body=body)
            return key

        def load(self, start: date = DAY, end: date = DAY, run_id: str = "run-1"):
            found = list_raw_files(s3_client, bucket, PREFIX, Batch(start, end))
            return load_from_s3(s3_client, bucket, found, self.warehouse, run_id, LOADED_AT)

        def query(self, sql: str, params=None) -> list[tuple]:
            con = duckdb.connect(str(self.warehouse), read_only=True)
            try:
                return con.execute(sql, params or []).fetchall()
            finally:
                con.close()

        def manifest(self, key: str) -> dict:
            rows = self.query(
                f"select rows_in, rows_loaded, rows_duplicate, rows_quarantined, status, reason "
                f"from {MANIFEST_TABLE} where key = ? and status <> 'superseded'",
                [key],
            )
            assert len(rows) == 1, rows
            names = ("rows_in", "rows_loaded", "rows_duplicate", "rows_quarantined", "status", "reason")
            return dict(zip(names, rows[0], strict=True))

        def quarantined(self, key: str) -> list[tuple]:
            return self.query(
                f"select row_number, reason, raw_content from {QUARANTINE_TABLE} where key = ? order by 1",
                [key],
            )

        def staged(self, key: str | None = None) -> list[tuple]:
            where = "where _source_key = ?" if key else ""
            return self.query(
                f"select * from {STAGING_TABLE} {where} order by _source_key, _row_number",
                [key] if key else [],
            )

    return Lake()
