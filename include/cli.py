"""Command line behind the `make` targets (run with the Airflow virtualenv's python).

python -m include.cli init                      # Airflow metadata DB + warehouse pool
python -m include.cli land --from D --to D [--source DIR]
python -m include.cli run  --from D --to D [--source DIR]
python -m include.cli trigger --from D --to D [--no-wait]   # through a running API server
python -m include.cli summary
python -m include.cli airflow                   # the local Airflow UI
python -m include.cli component ARGS...         # one Airflow component: `airflow ARGS...`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from include.config import PROJECT_ROOT, Settings, settings
from include.localenv import admin_username, airflow_env, passwords_file, write_admin_password
from include.pipeline.batch import Batch

DAG_ID = "retail_elt"
DAG_FILE = PROJECT_ROOT / "dags" / "retail_elt.py"
DEFAULT_SOURCE = PROJECT_ROOT / "data" / "online_retail_uci" / "by_day"


def _airflow(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "airflow"), *args]


def init(s: Settings) -> None:
    """Create or upgrade the Airflow metadata DB and the warehouse pool (idempotent)."""
    env = airflow_env(s)
    subprocess.run(_airflow("db", "migrate"), env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        _airflow("pools", "set", s.warehouse_pool, "1", "DuckDB warehouse: one writer at a time"),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    write_admin_password(env)
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://", 1)[0]
    print(f"airflow metadata ({database}) ready; pool {s.warehouse_pool} has 1 slot")


def land(s: Settings, batch: Batch, source: Path) -> int:
    from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files

    files = source_day_files(source, batch)
    client = minio_client_from_env()
    ensure_buckets(client, [s.raw_bucket])
    count = land_files(client, s.raw_bucket, s.raw_prefix, files)
    print(f"landed {count} files for {len(files)} days of {batch} from {source} into s3://{s.raw_bucket}")
    return count


@dataclass(frozen=True)
class DagRun:
    ok: bool
    elapsed: float  # the `airflow dags test` command's wall time
    rows: list[dict]  # task instances: task_id, state, start_date, end_date
    log_file: Path


def run_dag(s: Settings, batch: Batch) -> DagRun:
    """Run the DAG once for the batch through Airflow (`airflow dags test`), on what has landed."""
    env = airflow_env(s)
    log_dir = s.runtime_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"run-{batch.start}-{batch.end}-{datetime.now():%Y%m%dT%H%M%S}.log"
    conf = json.dumps({"start_date": batch.start.isoformat(), "end_date": batch.end.isoformat()})
    command = _airflow("dags", "test", DAG_ID, batch.start.isoformat(), "-c", conf)
    print(f"running {DAG_ID} for {batch} through Airflow (log: {log_file})", flush=True)
    started = time.monotonic()
    with log_file.open("w") as out:
        proc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    rows = task_instances(env, batch)
    states = [r.get("state") or "" for r in rows]
    ok = proc.returncode == 0 and bool(states) and all(st in ("success", "skipped") for st in states)
    return DagRun(ok, elapsed, rows, log_file)


def run(s: Settings, batch: Batch, source: Path | None) -> int:
    """Land the batch's files (unless source is None), then run the DAG once for the batch."""
    if source is not None:
        land(s, batch, source)
    result = run_dag(s, batch)
    for row in result.rows:
        took = _seconds(row)
        took_text = f"{took:6.1f}s" if took is not None else "      -"
        print(f"  {row.get('state') or 'none':>16} {took_text}  {row['task_id']}")
    print(f"{DAG_ID} for {batch}: {'succeeded' if result.ok else 'FAILED'} in {result.elapsed:.0f}s")
    if not result.ok:
        print(f"see {result.log_file}", file=sys.stderr)
        return 1
    return 0


def api_url(env: dict) -> str:
    """The API server the `trigger` command talks to: AIRFLOW_API_URL, else this machine's."""
    return (env.get("AIRFLOW_API_URL") or f"http://127.0.0.1:{env.get('AIRFLOW_PORT') or 8080}").rstrip("/")


def trigger(s: Settings, batch: Batch, wait: bool = True, timeout_s: float = 6 * 3600) -> int:
    """Trigger one run of the DAG for the batch through the API server's REST API (what the
    UI's Trigger button does), unpausing the DAG first; wait for it and print its tasks."""
    import requests

    env = airflow_env(s)
    url = api_url(env)
    password = env.get("AIRFLOW_ADMIN_PASSWORD")
    if not password:
        raise ValueError("AIRFLOW_ADMIN_PASSWORD is not set (see .env.example)")
    http = requests.Session()
    token = http.post(
        f"{url}/auth/token", json={"username": admin_username(env), "password": password}, timeout=60
    )
    if token.status_code not in (200, 201):
        raise RuntimeError(f"logging into {url} failed ({token.status_code}): {token.text[:300]}")
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(method: str, path: str, **kwargs) -> dict:
        response = http.request(method, f"{url}/api/v2/dags/{DAG_ID}{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(
                f"{method} {path or '/'} failed ({response.status_code}): {response.text[:500]}"
            )
        return response.json()

    # A paused DAG's runs never start. Unpausing queues at most the latest finished day
    # (catch-up is off unless RETAIL_ELT_CATCHUP says otherwise).
    if call("GET", "")["is_paused"]:
        call("PATCH", "", json={"is_paused": False})
        print(f"unpaused {DAG_ID}")
    conf = {"start_date": batch.start.isoformat(), "end_date": batch.end.isoformat()}
    run = call("POST", "/dagRuns", json={"logical_date": None, "conf": conf})
    run_id = run["dag_run_id"]
    print(f"triggered {DAG_ID} run {run_id} for {batch} on {url}", flush=True)
    if not wait:
        return 0
    started = time.monotonic()
    state = run["state"]
    while state not in ("success", "failed") and time.monotonic() - started < timeout_s:
        time.sleep(5)
        state = call("GET", f"/dagRuns/{run_id}")["state"]
    tis = call("GET", f"/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]
    for ti in sorted(tis, key=lambda t: (t.get("start_date") or "", t["task_id"])):
        took = ti.get("duration")
        took_text = f"{took:6.1f}s" if took is not None else "      -"
        print(f"  {ti.get('state') or 'none':>16} {took_text}  {ti['task_id']}  (try {ti.get('try_number')})")
    print(f"{DAG_ID} for {batch}: {state} after {time.monotonic() - started:.0f}s")
    return 0 if state == "success" else 1


def _json_output(stdout: str) -> list:
    """The JSON array an `airflow ... -o json` command printed (log lines may precede it)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("["):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return []
    return []


def task_instances(env: dict, batch: Batch) -> list[dict]:
    """The task instances (task_id, state, start_date, end_date) of the newest run for the batch."""
    runs = subprocess.run(
        _airflow("dags", "list-runs", DAG_ID, "-o", "json"),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    mine = [
        r
        for r in _json_output(runs.stdout)
        if str(r.get("logical_date", "")).startswith(batch.start.isoformat())
    ]
    if not mine:
        return []
    newest = max(mine, key=lambda r: r.get("run_after") or r.get("start_date") or "")
    tis = subprocess.run(
        _airflow("tasks", "states-for-dag-run", DAG_ID, newest["run_id"], "-o", "json"),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return _json_output(tis.stdout)


def task_states(env: dict, batch: Batch) -> list[tuple[str, str]]:
    return [(r["task_id"], r.get("state") or "") for r in task_instances(env, batch)]


def _seconds(row: dict) -> float | None:
    try:
        start = datetime.fromisoformat(row["start_date"])
        end = datetime.fromisoformat(row["end_date"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def parse_seconds() -> float:
    """Seconds to execute the DAG file once airflow.sdk and cosmos are imported."""
    code = (
        "import time, importlib.util, airflow.sdk, cosmos;"
        "t = time.perf_counter();"
        f"spec = importlib.util.spec_from_file_location('retail_elt', r'{DAG_FILE}');"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec));"
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def summary(s: Settings) -> None:
    from include.reporting import print_summary

    print_summary(s.warehouse_path)


def component(s: Settings, args: list[str]) -> None:
    """Become one Airflow component (`airflow ARGS...`) in the platform's environment: the
    compose stack's containers and the scale-out test start every component this way."""
    if not args:
        raise ValueError("component needs the airflow command to run, e.g. `component scheduler`")
    env = airflow_env(s)
    if args[0] == "api-server":
        write_admin_password(env)  # the users the API server's auth manager reads
    os.execvpe(_airflow()[0], _airflow(*args), env)


def standalone(s: Settings) -> None:
    env = airflow_env(s)
    where = write_admin_password(env)
    password = "AIRFLOW_ADMIN_PASSWORD (.env)" if where else f"see {passwords_file(env)}"
    print(
        f"Airflow UI: http://127.0.0.1:{env['AIRFLOW__API__PORT']}  user: {admin_username(env)}  "
        f"password: {password}",
        flush=True,
    )
    os.execvpe(_airflow("standalone")[0], _airflow("standalone"), env)


def _batch(args: argparse.Namespace) -> Batch:
    return Batch(date.fromisoformat(args.start), date.fromisoformat(args.end))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create/upgrade the Airflow metadata DB and the pool")
    for name in ("land", "run", "trigger"):
        p = sub.add_parser(name, help=f"{name} a range of days")
        p.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        p.add_argument("--to", dest="end", required=True, help="last day (inclusive), YYYY-MM-DD")
        p.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of day files")
        if name == "run":
            p.add_argument("--no-land", action="store_true", help="run on what is in S3 already")
        if name == "trigger":
            p.add_argument("--no-wait", action="store_true", help="return once the run is queued")
    sub.add_parser("summary", help="rows per layer, gate results, a sample of gold")
    sub.add_parser("airflow", help="start the local Airflow UI (airflow standalone)")
    comp = sub.add_parser("component", help="run one Airflow component: `airflow ARGS...`")
    comp.add_argument("args", nargs=argparse.REMAINDER, help="e.g. scheduler | celery worker -q default")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    s = settings()
    try:
        if args.command == "init":
            init(s)
        elif args.command == "land":
            land(s, _batch(args), args.source)
        elif args.command == "run":
            return run(s, _batch(args), None if args.no_land else args.source)
        elif args.command == "trigger":
            return trigger(s, _batch(args), wait=not args.no_wait)
        elif args.command == "summary":
            summary(s)
        elif args.command == "component":
            component(s, args.args)
        else:
            standalone(s)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
