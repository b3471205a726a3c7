"""The day generator: deterministic, grounded in the real history, and its dirt is caught."""

from __future__ import annotations

import csv
import gzip
import hashlib
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from include.ingest.generate import DIRT_KINDS, generate, load_catalogue
from include.ingest.load import MANIFEST_TABLE, STAGING_TABLE, load_from_s3
from include.pipeline.batch import Batch
from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files
from include.storage.listing import list_raw_files
from tests.helpers import raw_rows

DAY = date(2011, 9, 5)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, catalogue):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        generate(DAY, DAY, tmp_path / name, 500, set(DIRT_KINDS), seed, progress=False, catalogue=catalogue)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_only_days_after_the_history(tmp_path, catalogue):
    with pytest.raises(ValueError, match="after the real history"):
        generate(date(2011, 8, 31), date(2011, 9, 1), tmp_path, catalogue=catalogue)
    with pytest.raises(ValueError, match="unknown dirt"):
        generate(DAY, DAY, tmp_path, dirt={"mud"}, catalogue=catalogue)


def test_clean_days_use_real_products_customers_and_countries(tmp_path, day_files, catalogue):
    counts = generate(DAY, date(2011, 9, 6), tmp_path, 2000, seed=3, progress=False, catalogue=catalogue)
    assert counts == {"days": 2, "files": 2, "rows": 4000}
    real = [row for path in sorted(day_files.glob("*.csv.gz")) for row in raw_rows(path)]
    real_products = {r["StockCode"] for r in real}
    real_customers = {(r["CustomerID"], r["Country"]) for r in real}
    rows = raw_rows(tmp_path / f"invoice_date={DAY}" / "part-00000.csv.gz")
    assert len(rows) == 2000
    assert {r["StockCode"] for r in rows} <= real_products
    assert {(r["CustomerID"], r["Country"]) for r in rows} <= real_customers
    assert all(r["InvoiceDate"].startswith(DAY.isoformat()) for r in rows)
    assert all(int(r["Quantity"]) < 0 for r in rows if r["InvoiceNo"].startswith("C"))


def _expected_quarantine(path: Path) -> int:
    """Rows of a generated file that the contract cannot type, by the test's own reading."""
    bad = 0
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            missing = not row["InvoiceNo"] or not row["StockCode"] or not row["InvoiceDate"]
            try:
                int(row["Quantity"])
                float(row["UnitPrice"])
                numbers_ok = True
            except ValueError:
                numbers_ok = False
            bad += missing or not numbers_ok
    return bad


def test_dirty_days_are_loaded_or_quarantined_exactly(s3_env, s3_client, tmp_path, catalogue):
    out = tmp_path / "gen"
    generate(DAY, DAY, out, 3000, set(DIRT_KINDS), seed=11, progress=False, catalogue=catalogue)
    bucket, warehouse = s3_env["RAW_BUCKET"], tmp_path / "wh.duckdb"
    client = minio_client_from_env()
    ensure_buckets(client, [bucket])

    def land_and_load(source: Path, run_id: str):
        land_files(client, bucket, "online_retail", source_day_files(source, Batch(DAY, DAY)))
        found = list_raw_files(s3_client, bucket, "online_retail", Batch(DAY, DAY))
        return load_from_s3(s3_client, bucket, found, warehouse, run_id, datetime(2026, 1, 1))

    first = land_and_load(out, "run-1")
    day_files = sorted(p.name for p in (out / f"invoice_date={DAY}").iterdir())
    assert len(day_files) > 100  # the small_files dirt splits the day
    assert sorted(Path(f.obj.key).name for f in first.files) == day_files
    con = duckdb.connect(str(warehouse), read_only=True)
    manifest = {
        key.rsplit("/", 1)[1]: row
        for key, *row in con.execute(
            f"select key, rows_in, rows_loaded, rows_duplicate, rows_quarantined, status, reason "
            f"from {MANIFEST_TABLE}"
        ).fetchall()
    }
    con.close()
    for name, (rows_in, loaded, duplicate, quarantined, status, _) in manifest.items():
        assert rows_in == loaded + duplicate + quarantined, name
        path = out / f"invoice_date={DAY}" / name
        if status == "loaded":
            assert rows_in == len(raw_rows(path)), name
            assert quarantined == _expected_quarantine(path), name
    assert manifest["truncated-00000.csv.gz"][4] == "rejected"
    assert "gzip" in manifest["truncated-00000.csv.gz"][5]
    assert sum(m[2] for m in manifest.values()) > 0  # the duplicates dirt produced duplicates
    assert sum(m[3] for m in manifest.values()) > 0  # and the nulls/bad numbers were quarantined

    late = land_and_load(out / "late", "run-2")
    assert [Path(f.obj.key).name for f in late.files] == ["late-00000.csv.gz"] and late.files_skipped == len(
        day_files
    )

    redelivered = land_and_load(out / "redelivered", "run-3")
    assert "part-00000.csv.gz" in {Path(f.obj.key).name for f in redelivered.files}
    con = duckdb.connect(str(warehouse), read_only=True)
    versions = con.execute(
        f"select status, rows_in, rows_loaded + rows_duplicate + rows_quarantined from {MANIFEST_TABLE} "
        "where key like '%/part-00000.csv.gz' order by status"
    ).fetchall()
    staged = con.execute(
        f"select count(*) from {STAGING_TABLE} where _source_key like '%/part-00000.csv.gz'"
    ).fetchone()[0]
    loaded = con.execute(
        f"select rows_loaded from {MANIFEST_TABLE} where key like '%/part-00000.csv.gz' and status = 'loaded'"
    ).fetchone()[0]
    con.close()
    expected = len(raw_rows(out / "redelivered" / f"invoice_date={DAY}" / "part-00000.csv.gz"))
    assert [v[0] for v in versions] == ["loaded", "superseded"]
    assert versions[0][1] == versions[0][2] == expected
    assert staged == loaded
