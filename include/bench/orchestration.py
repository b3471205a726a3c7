"""`make bench`: what orchestrating the pipeline costs, measured side by side in one run.

    python -m include.bench.orchestration [--from 2010-12-01] [--to 2011-08-31] [--source DIR]

The same two batches (FROM..TO but its last day, by default the shipped history, as one ranged
run; then TO, as a daily run on top of it) go through the pipeline twice, each way on its own fresh
warehouse, alternating so both see the same machine:

* **direct**: the task bodies the DAG calls (`include.pipeline.tasks`), called in one process
  (load, then the three Soda gates and publish) and one `dbt build` of the whole project;
* **DAG**: `retail_elt` through Airflow (`airflow dags test`, what `make run` does): sensor,
  load, the three Cosmos layer groups (one `dbt build` per layer), the gates, publish.

It prints each step's seconds both ways and their ratio, the DAG run's own span (first task
start to last task end) and the `airflow dags test` command's wall time, and the DAG file's
parse time beyond importing airflow.sdk and cosmos.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from include.config import PROJECT_ROOT, Settings, settings
from include.pipeline.batch import Batch

STEPS = ("load", "dbt", "soda", "publish")
BENCH_BUCKET = "bench-orchestration"


@dataclass
class Timing:
    steps: dict[str, float] = field(default_factory=dict)
    total: float = 0.0  # direct: the steps' sum; DAG: first task start to last task end
    wall: float = 0.0  # the whole command: `airflow dags test`, or the direct steps' process
    other: dict[str, float] = field(default_factory=dict)  # DAG only: sensor, gaps


@contextlib.contextmanager
def _settings_for(
    mode_dir: Path, bucket: str = BENCH_BUCKET, extra: dict[str, str] | None = None
) -> Iterator[Settings]:
    """This process's environment pointed at one mode's own runtime dir and warehouse (and any
    `extra` settings)."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "LAKEHOUSE_RUNTIME_DIR": str(mode_dir),
            "WAREHOUSE_PATH": str(mode_dir / "warehouse" / "lakehouse.duckdb"),
            "SERVING_PATH": str(mode_dir / "serving" / "lakehouse_serving.duckdb"),
            "RAW_BUCKET": bucket,
            "AIRFLOW_HOME": str(mode_dir / "airflow"),
            **(extra or {}),
        }
    )
    try:
        yield settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def direct(batch: Batch) -> Timing:
    """The DAG's steps without Airflow, in a process of their own (as a script would run them):
    the same task bodies, and one `dbt build` of the project with its own partial parse."""
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "include.bench.orchestration",
            "--direct",
            batch.start.isoformat(),
            batch.end.isoformat(),
        ],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the direct run failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    steps = json.loads(proc.stdout.strip().splitlines()[-1])
    return Timing(steps=steps, total=sum(steps.values()), wall=wall)


def dbt_build(s: Settings, batch_start: str, work_dir: Path) -> None:
    """One `dbt build` of the whole project for the batch starting `batch_start`, as a script
    would run it (dbt's target/ and logs/ under `work_dir`, the project untouched)."""
    from include.transform.cosmos_config import dbt_env

    command = [
        str(s.dbt_executable), "build",
        "--project-dir", str(s.dbt_project_dir), "--profiles-dir", str(s.dbt_profiles_dir),
        "--vars", json.dumps({"lookback_days": s.lookback_days}),
        "--target-path", str(work_dir / "dbt-target"), "--log-path", str(work_dir / "dbt-logs"),
    ]  # fmt: skip
    env = {**os.environ, **dbt_env(s), "LAKEHOUSE_BATCH_START": batch_start}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{proc.stdout[-4000:]}")


def _direct_steps(batch: Batch) -> dict[str, float]:
    from include.localenv import airflow_env
    from include.pipeline import tasks

    s = settings()
    os.environ.update(airflow_env(s))  # the S3 connection the load task reads, as in a task
    context = {
        "params": {"start_date": batch.start.isoformat(), "end_date": batch.end.isoformat()},
        "run_id": f"bench-direct-{batch.start}-{batch.end}",
    }
    steps = {}
    started = time.perf_counter()
    loaded = tasks.load_raw_files(context)
    steps["load"] = time.perf_counter() - started

    started = time.perf_counter()
    dbt_build(s, loaded["batch_start"], s.runtime_dir)
    steps["dbt"] = time.perf_counter() - started

    started = time.perf_counter()
    for layer in ("bronze", "silver", "gold"):
        tasks.soda_gate(layer, context)
    steps["soda"] = time.perf_counter() - started

    started = time.perf_counter()
    tasks.publish(context)
    steps["publish"] = time.perf_counter() - started
    return steps


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def through_airflow(s: Settings, batch: Batch) -> Timing:
    """`retail_elt` for the batch through `airflow dags test`; per step from its task instances."""
    from include.cli import init, run_dag

    init(s)
    result = run_dag(s, batch)
    if not result.ok:
        raise RuntimeError(f"the DAG run failed; see {result.log_file}")
    rows = [r for r in result.rows if r.get("start_date") and r.get("end_date")]
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for row in rows:
        task_id = row["task_id"]
        if task_id.startswith("dbt_"):
            step = "dbt:" + task_id.split(".", 1)[0]
        elif task_id.startswith("gate_"):
            step = "soda:" + task_id
        else:
            step = {"load_raw_files": "load", "publish": "publish"}.get(task_id, task_id)
        spans.setdefault(step, []).append((_at(row["start_date"]), _at(row["end_date"])))

    def span(key: str) -> float:
        starts, ends = zip(*spans[key], strict=True)
        return (max(ends) - min(starts)).total_seconds()

    timing = Timing(wall=result.elapsed)
    timing.steps["load"] = span("load")
    timing.steps["dbt"] = sum(span(k) for k in spans if k.startswith("dbt:"))
    timing.steps["soda"] = sum(span(k) for k in spans if k.startswith("soda:"))
    timing.steps["publish"] = span("publish")
    everything = [pair for pairs in spans.values() for pair in pairs]
    timing.total = (max(e for _, e in everything) - min(s for s, _ in everything)).total_seconds()
    timing.other["sensor"] = span("wait_for_raw_files")
    timing.other["between tasks"] = timing.total - sum(timing.steps.values()) - timing.other["sensor"]
    return timing


def _land(source: Path, batches: list[Batch]) -> int:
    from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files

    client = minio_client_from_env()
    ensure_buckets(client, [BENCH_BUCKET])
    count = 0
    for batch in batches:
        count += land_files(client, BENCH_BUCKET, settings().raw_prefix, source_day_files(source, batch))
    return count


def _report(name: str, batch: Batch, direct_t: Timing, dag_t: Timing) -> list[str]:
    lines = [
        f"\n{name}: {batch} ({len(batch.days())} calendar days)",
        f"  {'step':<28}{'direct s':>10}{'DAG s':>10}{'DAG/direct':>12}",
    ]
    for step in STEPS:
        d, a = direct_t.steps[step], dag_t.steps[step]
        label = {"dbt": "dbt (1 build | 3 layer groups)", "soda": "soda (3 scans | 3 gates)"}.get(step, step)
        lines.append(f"  {label:<28}{d:>10.1f}{a:>10.1f}{a / d:>12.2f}")
    for what, seconds in dag_t.other.items():
        lines.append(f"  {'  DAG only: ' + what:<28}{'':>10}{seconds:>10.1f}")
    lines.append(
        f"  {'total (steps | run span)':<28}{direct_t.total:>10.1f}{dag_t.total:>10.1f}"
        f"{dag_t.total / direct_t.total:>12.2f}"
    )
    wall_ratio = dag_t.wall / direct_t.wall
    lines.append(
        f"  {'wall (process | dags test)':<28}{direct_t.wall:>10.1f}{dag_t.wall:>10.1f}{wall_ratio:>12.2f}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    from include.cli import DEFAULT_SOURCE, parse_seconds

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--direct"]:  # the child process of `direct()`
        logging.basicConfig(level=logging.WARNING)
        batch = Batch(date.fromisoformat(argv[1]), date.fromisoformat(argv[2]))
        print(json.dumps(_direct_steps(batch)))
        return 0

    parser = argparse.ArgumentParser(
        prog="python -m include.bench.orchestration", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--from", dest="start", default="2010-12-01", help="first day of the history")
    parser.add_argument("--to", dest="end", default="2011-08-31", help="the day run on top of it")
    args = parser.parse_args(argv)
    last = date.fromisoformat(args.end)
    history = Batch(date.fromisoformat(args.start), last - timedelta(days=1))
    day = Batch(last, last)

    parses = sorted(parse_seconds() for _ in range(3))
    print(f"DAG file parse beyond importing airflow.sdk and cosmos: median {parses[1]:.3f}s of 3", flush=True)

    base = settings().runtime_dir / "bench" / "orchestration"
    shutil.rmtree(base, ignore_errors=True)
    print(f"landed {_land(args.source, [history, day])} files into s3://{BENCH_BUCKET}", flush=True)
    lines: list[str] = []
    for name, batch in (("history, one ranged run", history), ("one day on top of it", day)):
        timings = {}
        for mode in ("direct", "dag"):
            with _settings_for(base / mode) as s:
                print(f"{name}: {mode} ...", flush=True)
                if mode == "direct":
                    timings[mode] = direct(batch)
                else:
                    timings[mode] = through_airflow(s, batch)
        lines += _report(name, batch, timings["direct"], timings["dag"])
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.exit(main())
