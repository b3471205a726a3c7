"""The loader on real day files, through the real S3 code path, into a real DuckDB file."""

import gzip
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from include.ingest.load import STAGING_TABLE, LoadError, load_batch
from include.pipeline.batch import Batch
from include.storage import landing
from include.storage.listing import list_raw_files
from tests.helpers import raw_rows

DAYS = Batch(date(2010, 12, 1), date(2010, 12, 3))
LOADED_AT = datetime(2026, 1, 1, 12, 0)


def _land(s3_env, s3_client, files_by_day):
    client = landing.minio_client_from_env()
    landing.ensure_buckets(client, [s3_env["RAW_BUCKET"]])
    landing.land_files(client, s3_env["RAW_BUCKET"], "online_retail", files_by_day)
    return list_raw_files(s3_client, s3_env["RAW_BUCKET"], "online_retail", DAYS)


def _staged(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"select * exclude (_loaded_at, _run_id) from {STAGING_TABLE} order by _source_key, _row_number"
        ).fetchall()
    finally:
        con.close()


def test_loads_every_raw_row_with_lineage(s3_env, s3_client, day_files, tmp_path):
    found = _land(s3_env, s3_client, landing.source_day_files(day_files, DAYS))
    warehouse = tmp_path / "wh.duckdb"
    result = load_batch(s3_client, s3_env["RAW_BUCKET"], found, warehouse, "run-1", LOADED_AT)

    expected = {
        d: len(raw_rows(day_files / f"{d}.csv.gz")) for d in ("2010-12-01", "2010-12-02", "2010-12-03")
    }
    assert result.rows == sum(expected.values())
    assert result.files == 3
    con = duckdb.connect(str(warehouse), read_only=True)
    per_day = dict(
        con.execute(
            f"select strftime(_partition_date, '%Y-%m-%d'), count(*) from {STAGING_TABLE} group by 1"
        ).fetchall()
    )
    assert per_day == expected
    # Lineage: the first row of a file is row 1 and equals the file's first data row.
    first = raw_rows(day_files / "2010-12-02.csv.gz")[0]
    row = con.execute(
        f"""select "InvoiceNo", "StockCode", "Description", _source_etag, _run_id from {STAGING_TABLE}
            where _source_key = 'online_retail/invoice_date=2010-12-02/2010-12-02.csv.gz'
              and _row_number = 1"""
    ).fetchone()
    con.close()
    assert row[:3] == (first["InvoiceNo"], first["StockCode"], first["Description"])
    assert row[3] == found[date(2010, 12, 2)][0].etag
    assert row[4] == "run-1"


def test_reloading_a_day_replaces_it(s3_env, s3_client, day_files, tmp_path):
    found = _land(s3_env, s3_client, landing.source_day_files(day_files, DAYS))
    warehouse = tmp_path / "wh.duckdb"
    load_batch(s3_client, s3_env["RAW_BUCKET"], found, warehouse, "run-1", LOADED_AT)
    first = _staged(warehouse)
    load_batch(s3_client, s3_env["RAW_BUCKET"], found, warehouse, "run-2", LOADED_AT)
    load_batch(s3_client, s3_env["RAW_BUCKET"], found, warehouse, "run-3", LOADED_AT)
    assert _staged(warehouse) == first


def test_a_bad_file_fails_the_batch_and_writes_nothing(s3_env, s3_client, day_files, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    good = _land(
        s3_env, s3_client, landing.source_day_files(day_files, Batch(date(2010, 12, 1), date(2010, 12, 1)))
    )
    load_batch(s3_client, s3_env["RAW_BUCKET"], good, warehouse, "run-1", LOADED_AT)
    before = _staged(warehouse)

    truncated = tmp_path / "src" / "2010-12-02.csv.gz"
    truncated.parent.mkdir()
    data = (day_files / "2010-12-02.csv.gz").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    found = _land(s3_env, s3_client, {date(2010, 12, 2): [truncated]})
    with pytest.raises(LoadError, match="2010-12-02"):
        load_batch(s3_client, s3_env["RAW_BUCKET"], found, warehouse, "run-2", LOADED_AT)
    assert _staged(warehouse) == before


def test_renamed_column_is_a_clear_error(s3_env, s3_client, day_files, tmp_path):
    src = tmp_path / "src" / "2010-12-01.csv"
    src.parent.mkdir()
    text = gzip.decompress((day_files / "2010-12-01.csv.gz").read_bytes()).decode()
    src.write_text(text.replace("UnitPrice", "Price", 1))
    found = _land(s3_env, s3_client, {date(2010, 12, 1): [src]})
    with pytest.raises(LoadError, match="are not"):
        load_batch(s3_client, s3_env["RAW_BUCKET"], found, tmp_path / "wh.duckdb", "run-1", LOADED_AT)


def test_unknown_format_is_a_clear_error(s3_env, s3_client, tmp_path):
    src = tmp_path / "src" / "2010-12-01.xlsx"
    src.parent.mkdir()
    src.write_bytes(b"PK\x03\x04")
    found = _land(s3_env, s3_client, {date(2010, 12, 1): [src]})
    with pytest.raises(LoadError, match="unsupported file type"):
        load_batch(s3_client, s3_env["RAW_BUCKET"], found, tmp_path / "wh.duckdb", "run-1", LOADED_AT)


def test_nothing_to_load(s3_client, tmp_path):
    result = load_batch(s3_client, "unused", {}, tmp_path / "wh.duckdb", "run-1", LOADED_AT)
    assert (result.files, result.rows) == (0, 0)
