"""Load a batch's raw files from S3 into the DuckDB staging table, in one transaction.

Every staged row keeps its lineage (`_source_key`, `_source_etag`, `_row_number`,
`_partition_date`, `_loaded_at`, `_run_id`). Loading a day replaces that day's rows, so a
rerun of a day gives the same staging table: nothing doubled. All columns are staged as text;
typing happens in the bronze models, where a Soda gate catches values that do not type.
"""

from __future__ import annotations

import csv
import gzip
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from include.storage.layout import RawObject

log = logging.getLogger(__name__)

STAGING_TABLE = "staging.raw_invoice_lines"
RAW_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
_CSV_SUFFIXES = (".csv", ".csv.gz")
# The landing contract fixes the dialect, so DuckDB's sniffer (most of a small file's load
# time) is off; every column is read as text.
_CSV_OPTIONS = (
    "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
    "strict_mode = true, columns = {" + ", ".join(f"'{name}': 'VARCHAR'" for name in RAW_COLUMNS) + "}"
)


class LoadError(RuntimeError):
    """A raw file cannot be loaded; nothing of the batch was written."""


@dataclass(frozen=True)
class LoadResult:
    files: int
    rows: int
    days: list[date]


def ensure_staging(con: duckdb.DuckDBPyConnection) -> None:
    columns = ",\n    ".join(f'"{name}" varchar' for name in RAW_COLUMNS)
    con.execute("create schema if not exists staging")
    con.execute(
        f"""
        create table if not exists {STAGING_TABLE} (
            {columns},
            _source_key varchar not null,
            _source_etag varchar not null,
            _row_number bigint not null,
            _partition_date date not null,
            _loaded_at timestamp not null,
            _run_id varchar not null
        )
        """
    )


def download(client: Any, bucket: str, objects: list[RawObject], into: Path) -> dict[str, Path]:
    """Download objects in parallel; return key -> local path (names kept unique by index)."""

    def fetch(item: tuple[int, RawObject]) -> tuple[str, Path]:
        index, obj = item
        target = into / f"{index:06d}-{Path(obj.key).name}"
        client.download_file(bucket, obj.key, str(target))
        return obj.key, target

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(fetch, enumerate(objects)))


def _check_format(obj: RawObject) -> None:
    if not obj.key.lower().endswith(_CSV_SUFFIXES):
        raise LoadError(f"s3 key {obj.key}: unsupported file type (this loader reads .csv and .csv.gz)")


def _check_header(key: str, path: Path) -> None:
    """The file's header must be exactly the 8 contract columns, in order."""
    opener = gzip.open if key.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise LoadError(f"s3 key {key}: cannot read the CSV header: {exc}") from exc
    if header is None:
        raise LoadError(f"s3 key {key}: the file is empty")
    if tuple(header) != RAW_COLUMNS:
        raise LoadError(f"s3 key {key}: columns {header} are not {list(RAW_COLUMNS)}")


def load_files(
    warehouse_path: Path,
    objects: list[RawObject],
    local_paths: dict[str, Path],
    run_id: str,
    loaded_at: datetime,
) -> LoadResult:
    """Replace the staged rows of every day in `objects` with these files' rows, atomically."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    days = sorted({obj.day for obj in objects})
    con = duckdb.connect(str(warehouse_path))
    try:
        ensure_staging(con)
        for obj in objects:
            _check_format(obj)
            _check_header(obj.key, local_paths[obj.key])
        con.execute("begin transaction")
        try:
            con.execute(
                f"delete from {STAGING_TABLE} where _partition_date in (select unnest(?::date[]))",
                [days],
            )
            select_raw = ", ".join(f'"{name}"' for name in RAW_COLUMNS)
            for obj in objects:
                con.execute(
                    f"""
                    insert into {STAGING_TABLE}
                    select {select_raw}, ?, ?, row_number() over (), ?, ?, ?
                    from read_csv(?, {_CSV_OPTIONS})
                    """,
                    [obj.key, obj.etag, obj.day, loaded_at, run_id, str(local_paths[obj.key])],
                )
            rows = con.execute(
                f"select count(*) from {STAGING_TABLE} where _partition_date in (select unnest(?::date[]))",
                [days],
            ).fetchone()[0]
            con.execute("commit")
        except Exception as exc:
            con.execute("rollback")
            if isinstance(exc, duckdb.Error):
                raise LoadError(f"loading {len(objects)} files failed, nothing written: {exc}") from exc
            raise
    finally:
        con.close()
    return LoadResult(files=len(objects), rows=int(rows), days=days)


def load_batch(
    client: Any,
    bucket: str,
    files_by_day: dict[date, list[RawObject]],
    warehouse_path: Path,
    run_id: str,
    loaded_at: datetime,
) -> LoadResult:
    """Download a batch's files to a temporary folder and load them (see `load_files`)."""
    objects = [obj for day in sorted(files_by_day) for obj in files_by_day[day]]
    if not objects:
        return LoadResult(files=0, rows=0, days=[])
    with tempfile.TemporaryDirectory(prefix="raw-batch-") as tmp:
        paths = download(client, bucket, objects, Path(tmp))
        result = load_files(warehouse_path, objects, paths, run_id, loaded_at)
    log.info("loaded %d rows from %d files for %d days", result.rows, result.files, len(result.days))
    return result
