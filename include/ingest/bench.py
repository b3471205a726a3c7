"""Benchmark: S3 → staging load rate against DuckDB's own read_csv of the same files.

    python -m include.ingest.bench [--rows 2000000] [--repeat 3]

Generates one large day (cached under the runtime dir), lands it in a bench bucket on
S3_ENDPOINT_URL, then times, into fresh DuckDB files each time:

* the platform's load (list + download + check + type + de-duplicate + stage + manifest), and
* DuckDB's plain `create table as select * from read_csv(<the same files on local disk>)`.

It prints the best of `--repeat` runs of each, in rows per second, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import duckdb

from include.config import settings
from include.ingest.generate import generate
from include.ingest.load import load_from_s3
from include.pipeline.batch import Batch
from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files
from include.storage.listing import list_raw_files

DAY = date(2011, 9, 15)


def _s3_client():
    import boto3

    from include.config import environment

    env = environment()
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
        region_name=env.get("S3_REGION") or "us-east-1",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.ingest.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    source = settings().runtime_dir / "bench" / f"rows-{args.rows}"
    if not source.exists():
        print(f"generating one day of {args.rows} rows under {source} ...", flush=True)
        generate(DAY, DAY, source, rows_per_day=args.rows, seed=7)
    files = source_day_files(source, Batch(DAY, DAY))[DAY]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} gzipped CSV files, {size_mb:.1f} MB, {args.rows} rows")

    bucket, prefix = "bench", "online_retail"
    minio = minio_client_from_env()
    ensure_buckets(minio, [bucket])
    land_files(minio, bucket, prefix, {DAY: files})
    client = _s3_client()

    ours, theirs = [], []
    for attempt in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            started = time.perf_counter()
            found = list_raw_files(client, bucket, prefix, Batch(DAY, DAY))
            result = load_from_s3(
                client, bucket, found, Path(tmp) / "ours.duckdb", f"bench-{attempt}", datetime.now()
            )
            ours.append(time.perf_counter() - started)
            loaded = result.rows_in

            started = time.perf_counter()
            con = duckdb.connect(str(Path(tmp) / "theirs.duckdb"))
            listing = "[" + ", ".join(f"'{p}'" for p in files) + "]"
            read = con.execute(f"create table t as select * from read_csv({listing}, all_varchar = true)")
            theirs_rows = con.execute("select count(*) from t").fetchone()[0]
            con.close()
            theirs.append(time.perf_counter() - started)
            del read
    best_ours, best_theirs = min(ours), min(theirs)
    ours_rate, theirs_rate = loaded / best_ours, theirs_rows / best_theirs
    print(f"platform load, S3 -> staging : {loaded} rows in {best_ours:.2f}s = {ours_rate:,.0f} rows/s")
    print(
        f"DuckDB read_csv, local disk  : {theirs_rows} rows in {best_theirs:.2f}s = {theirs_rate:,.0f} rows/s"
    )
    print(f"ratio (platform / DuckDB)    : {ours_rate / theirs_rate:.2f}")
    print(f"all runs (s): platform {[round(t, 2) for t in ours]}, DuckDB {[round(t, 2) for t in theirs]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
