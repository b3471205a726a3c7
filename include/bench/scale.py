"""`make bench-scale`: does a daily run stay flat as history grows, and do the dashboards keep up?

    python -m include.bench.scale [--days 300] [--rows-per-day 100000] [--small-days 3]
                                  [--lookback-days 2] [--repeat 20]

1. Generates (seeded, cached under the runtime dir) `days + 2` days after the real history,
   `rows-per-day` invoice lines each: `days` of history (30 M lines by default), a day that
   warms each warehouse's DAG up (a daily run follows another one: dbt's partial parse is
   there), and the day measured.
2. Builds two warehouses: a big one from all the history days, a small one from the last
   `small-days` of them (0.3 M lines), each with the real loader (from the local files; the
   daily run below goes through S3) and one full `dbt build`, then publishes it.
3. Runs the same two next days on each through the DAG (`airflow dags test`, as `make run`
   does) with RAW_LOOKBACK_DAYS = `lookback-days`, and prints the second day's run on each,
   per step, and their ratio, and the serving file's size. With `small-days - 1` lookback
   days the measured run's window (its day and the days before it that it rebuilds) holds
   the same lines in both warehouses, so the ratio shows what the history's size costs; with
   the default 7 the big warehouse's window would hold 8 days against the small one's 3.
   Then the same day is run again on the big warehouse with the configured lookback (a rerun
   with the default 7 unless RAW_LOOKBACK_DAYS says otherwise).
4. Starts Superset on the big serving file (its own home, a free port), and times every
   chart's data `repeat` times through Superset's chart-data API (its saved query, what a
   dashboard asks) and Superset's SQL run directly on the serving file: p50 and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from include.bench.orchestration import STEPS, Timing, _settings_for, dbt_build, through_airflow
from include.config import Settings, settings
from include.pipeline.batch import Batch

FIRST_DAY = date(2011, 9, 1)  # the day after the real history
BENCH_BUCKET = "bench-scale"
SEED = 20111


def _generated(out: Path, days: int, rows_per_day: int) -> list[date]:
    from include.ingest.generate import generate

    all_days = [FIRST_DAY + timedelta(days=i) for i in range(days + 2)]
    marker = out / "generated.json"
    wanted = {"first": FIRST_DAY.isoformat(), "days": days + 2, "rows_per_day": rows_per_day, "seed": SEED}
    if not (marker.exists() and json.loads(marker.read_text()) == wanted):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        counts = generate(all_days[0], all_days[-1], out, rows_per_day=rows_per_day, seed=SEED)
        marker.write_text(json.dumps(wanted))
        took = time.perf_counter() - started
        print(f"generated {counts['rows']:,} lines in {counts['files']} files in {took:.0f}s")
    return all_days


def _day_files(out: Path, day: date) -> list[Path]:
    return sorted((out / f"invoice_date={day.isoformat()}").glob("*.csv.gz"))


def build_history(s: Settings, out: Path, days: list[date]) -> dict[str, float]:
    """The real loader (local files) and one full `dbt build`, then publish: a warehouse that
    has had these days."""
    import hashlib

    from include.ingest.load import load_files
    from include.pipeline import tasks
    from include.storage.layout import RawObject, raw_key

    took = {}
    started = time.perf_counter()
    for chunk_start in range(0, len(days), 30):
        objects: dict[str, tuple[RawObject, Path]] = {}
        for day in days[chunk_start : chunk_start + 30]:
            for path in _day_files(out, day):
                key = raw_key(s.raw_prefix, day, path.name)
                etag = hashlib.md5(path.read_bytes()).hexdigest()
                objects[key] = (RawObject(key, etag, path.stat().st_size, day), path)
        load_files(
            s.warehouse_path,
            [obj for obj, _ in objects.values()],
            lambda wanted, into, objects=objects: {o.key: objects[o.key][1] for o in wanted},
            "bench-scale-history",
            datetime.now(UTC).replace(tzinfo=None),
        )
    took["load"] = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as tmp:
        dbt_build(s, days[0].isoformat(), Path(tmp))
    took["dbt build"] = time.perf_counter() - started
    started = time.perf_counter()
    tasks.publish({"run_id": "bench-scale-history"})
    took["publish"] = time.perf_counter() - started
    return took


def _lines(warehouse: Path) -> int:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select count(*) from gold.fct_order_lines").fetchone()[0]
    finally:
        con.close()


def _land(out: Path, day: date, prefix: str) -> None:
    from include.storage.landing import ensure_buckets, land_files, minio_client_from_env

    client = minio_client_from_env()
    ensure_buckets(client, [BENCH_BUCKET])
    land_files(client, BENCH_BUCKET, prefix, {day: _day_files(out, day)})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def chart_latencies(s: Settings, home: Path, repeat: int) -> list[tuple[str, float, float, float, float]]:
    """(chart, API p50, API p95, SQL p50, SQL p95) for every chart, on `s.serving_path`."""
    import duckdb

    from include.serving import superset

    ss = replace(superset.superset_settings(s), home=home, port=_free_port(), host="127.0.0.1")
    superset.init(ss)
    proc = superset.start(ss, home / "superset.log")
    rows = []
    try:
        superset.wait_healthy(ss, proc)
        superset.import_assets(ss, s.serving_path)
        client = superset.SupersetClient(ss)
        con = duckdb.connect(str(s.serving_path), read_only=True)
        for chart in sorted(
            client.get("/api/v1/chart/", page_size=100)["result"], key=lambda c: c["slice_name"]
        ):
            url = f"{client.base}/api/v1/chart/{chart['id']}/data/"
            first = client.http.get(url, timeout=300)
            first.raise_for_status()
            queries = [r["query"] for r in first.json()["result"]]
            api, sql = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                client.http.get(url, timeout=300).raise_for_status()
                api.append(time.perf_counter() - started)
                started = time.perf_counter()
                for query in queries:
                    con.execute(query).fetchall()
                sql.append(time.perf_counter() - started)
            rows.append((chart["slice_name"], *_percentiles(api), *_percentiles(sql)))
        con.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.bench.scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=300, help="days of history in the big warehouse")
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    parser.add_argument("--small-days", type=int, default=3, help="days of history in the small warehouse")
    parser.add_argument(
        "--lookback-days", type=int, default=2, help="RAW_LOOKBACK_DAYS of the measured runs (see above)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per chart")
    args = parser.parse_args(argv)

    base = settings().runtime_dir / "bench" / "scale"
    out = base / "days"
    all_days = _generated(out, args.days, args.rows_per_day)
    history, warm_up, daily = all_days[:-2], all_days[-2], all_days[-1]
    for mode in ("big", "small"):
        shutil.rmtree(base / mode, ignore_errors=True)

    builds, runs, serving = {}, {}, {}
    for mode, days in (("big", history), ("small", history[-args.small_days :])):
        with _settings_for(base / mode, BENCH_BUCKET) as s:
            print(f"{mode}: building {len(days)} days of history ...", flush=True)
            builds[mode] = build_history(s, out, days)
            builds[mode]["lines"] = _lines(s.warehouse_path)
    _land(out, warm_up, settings().raw_prefix)
    _land(out, daily, settings().raw_prefix)
    lookback = {"RAW_LOOKBACK_DAYS": str(args.lookback_days)}
    for mode in ("small", "big"):
        with _settings_for(base / mode, BENCH_BUCKET, lookback) as s:
            print(
                f"{mode}: the daily runs of {warm_up} (warm-up) and {daily} through the DAG, "
                f"{args.lookback_days} lookback days ...",
                flush=True,
            )
            through_airflow(s, Batch(warm_up, warm_up))
            runs[mode] = through_airflow(s, Batch(daily, daily))
            serving[mode] = s.serving_path.stat().st_size
    with _settings_for(base / "big", BENCH_BUCKET) as s:
        print(f"big: {daily} again, {s.lookback_days} lookback days ...", flush=True)
        rerun = through_airflow(s, Batch(daily, daily))
        default_lookback = s.lookback_days
    with _settings_for(base / "big", BENCH_BUCKET) as s:
        print("Superset on the big serving file: timing every chart ...", flush=True)
        charts = chart_latencies(s, base / "superset", args.repeat)

    print(f"\nhistory: {args.rows_per_day:,} lines a day; the daily run: {daily}")
    print(f"  {'':<26}{'small':>14}{'big':>14}{'big/small':>11}")
    print(f"  {'history lines':<26}{builds['small']['lines']:>14,}{builds['big']['lines']:>14,}")
    for what in ("load", "dbt build", "publish"):
        print(f"  {'history build: ' + what:<26}{builds['small'][what]:>13.1f}s{builds['big'][what]:>13.1f}s")
    print(f"  (the daily runs with {args.lookback_days} lookback days: the same window in both)")
    _daily_rows(runs["small"], runs["big"])
    print(
        f"  {'big: the day again, ' + str(default_lookback) + ' lookback days':<40}"
        f"{rerun.total:>9.1f}s (span), {rerun.wall:.1f}s (dags test wall); "
        + ", ".join(f"{step} {rerun.steps[step]:.1f}s" for step in STEPS)
    )
    print(f"  {'serving file (MB)':<26}{serving['small'] / 1e6:>14.1f}{serving['big'] / 1e6:>14.1f}")
    print(f"\nchart data on the big serving file, {args.repeat} calls each (seconds)")
    print(f"  {'chart':<52}{'API p50':>9}{'API p95':>9}{'SQL p50':>9}{'SQL p95':>9}")
    for name, api50, api95, sql50, sql95 in charts:
        print(f"  {name:<52}{api50:>9.3f}{api95:>9.3f}{sql50:>9.3f}{sql95:>9.3f}")
    return 0


def _daily_rows(small: Timing, big: Timing) -> None:
    for step in STEPS:
        a, b = small.steps[step], big.steps[step]
        print(f"  {'daily run: ' + step:<26}{a:>13.1f}s{b:>13.1f}s{b / a:>11.2f}")
    for label, a, b in (("total (span)", small.total, big.total), ("dags test wall", small.wall, big.wall)):
        print(f"  {'daily run: ' + label:<26}{a:>13.1f}s{b:>13.1f}s{b / a:>11.2f}")


if __name__ == "__main__":
    sys.exit(main())
