"""Run a layer's Soda Core checks as a gate and record every check's result.

Soda lives in its own virtualenv (its DuckDB pin clashes with Airflow's), so a scan is a
subprocess of the `soda` CLI. The scan reads the warehouse read-only; the results are then
written to `audit.dq_check_results` by this process. A failed check or a scan error fails
the gate; a warning is logged and recorded but lets the run go on.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from include.config import Settings, environment
from include.pipeline.batch import Batch
from include.storage import warehouse

log = logging.getLogger(__name__)

RESULTS_TABLE = "audit.dq_check_results"
LAYERS = ("bronze", "silver", "gold")
SCAN_TIMEOUT_SECONDS = 600
# soda exit codes: 0 all pass, 1 warnings, 2 failures, 3 errors
_EXIT_FAILURES = 2
# What DuckDB says when another process holds the file (a scan error, exit code 3).
_LOCK_HELD = "Could not set lock on file"


class GateFailed(RuntimeError):
    """A gate's checks failed or its scan could not run: promotion stops here."""


@dataclass(frozen=True)
class CheckResult:
    dataset: str
    name: str
    outcome: str  # pass, warn, fail, or error when Soda could not evaluate it
    value: str | None


@dataclass(frozen=True)
class GateResult:
    layer: str
    exit_code: int
    checks: list[CheckResult]
    output: str

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome in ("fail", "error")]

    @property
    def warned(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome == "warn"]

    @property
    def passed(self) -> bool:
        return self.exit_code < _EXIT_FAILURES and not self.failed and bool(self.checks)


def _soda_home(settings: Settings) -> Path:
    """A HOME for the soda process whose config turns usage telemetry off."""
    home = settings.runtime_dir / "soda-home"
    config = home / ".soda" / "config.yml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("send_anonymous_usage_stats: false\n")
    return home


def parse_results(layer: str, exit_code: int, results: dict, output: str) -> GateResult:
    checks = []
    for check in results.get("checks", []):
        value = (check.get("diagnostics") or {}).get("value")
        checks.append(
            CheckResult(
                dataset=check.get("table") or "",
                name=check.get("name") or check.get("definition", "").strip(),
                outcome=check.get("outcome") or "error",
                value=None if value is None else str(value),
            )
        )
    return GateResult(layer=layer, exit_code=exit_code, checks=checks, output=output)


def scan_variables(batch: Batch, settings: Settings) -> dict[str, str]:
    """The variables every check file may use (`${name}` in SodaCL)."""
    return {
        "batch_start": batch.start.isoformat(),
        "batch_end_exclusive": batch.end_exclusive.isoformat(),
        # The first day the run rewrote: dbt's incremental window (macros/incremental_window.sql).
        "window_start": (batch.start - timedelta(days=settings.lookback_days)).isoformat(),
        "max_quarantined_share": repr(settings.max_rejected_share),
        "freshness_warn": f"{settings.freshness_warn_hours:g}h",
        "revenue_warn_factor": repr(settings.revenue_warn_factor),
        "revenue_fail_factor": repr(settings.revenue_fail_factor),
    }


def run_scan(layer: str, batch: Batch, settings: Settings) -> GateResult:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
    if not settings.soda_executable.exists():
        raise GateFailed(f"{settings.soda_executable} is missing: run `make setup`")
    with tempfile.TemporaryDirectory(prefix=f"soda-{layer}-") as tmp:
        results_file = Path(tmp) / "results.json"
        command = [
            str(settings.soda_executable),
            "scan",
            "-d",
            f"warehouse_{layer}",
            "-c",
            str(settings.soda_dir / "configuration.yml"),
            *(
                arg
                for name, value in scan_variables(batch, settings).items()
                for arg in ("-v", f"{name}={value}")
            ),
            "-srf",
            str(results_file),
            str(settings.soda_dir / "checks" / layer),
        ]
        env = {
            **environment(),
            "HOME": str(_soda_home(settings)),
            "WAREHOUSE_PATH": str(settings.warehouse_path),
        }

        def scan() -> tuple[int, str]:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                cwd=settings.soda_dir,
                timeout=SCAN_TIMEOUT_SECONDS,
                check=False,
            )
            output = proc.stdout + proc.stderr
            if proc.returncode > _EXIT_FAILURES and _LOCK_HELD in output:
                # Soda could not open the warehouse: another process holds it for a moment.
                raise duckdb.IOException(f"{_LOCK_HELD}: {output[-500:]}")
            return proc.returncode, output

        exit_code, output = warehouse.wait_for_lock(scan, f"soda {layer} scan")
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return parse_results(layer, exit_code, results, output)


def record(warehouse_path: Path, gate: GateResult, batch: Batch, run_id: str, scanned_at: datetime) -> None:
    con = warehouse.connect(warehouse_path)
    try:
        con.execute("create schema if not exists audit")
        con.execute(
            f"""
            create table if not exists {RESULTS_TABLE} (
                run_id varchar not null,
                interval_start date not null,
                interval_end date not null,
                layer varchar not null,
                dataset varchar not null,
                check_name varchar not null,
                outcome varchar not null,
                measured_value varchar,
                scanned_at timestamp not null
            )
            """
        )
        rows = [
            (run_id, batch.start, batch.end, gate.layer, c.dataset, c.name, c.outcome, c.value, scanned_at)
            for c in gate.checks
        ]
        if rows:
            con.executemany(f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()


def run_gate(layer: str, batch: Batch, run_id: str, settings: Settings, scanned_at: datetime) -> GateResult:
    """Scan, record, and raise `GateFailed` unless every check passed or only warned."""
    gate = run_scan(layer, batch, settings)
    log.info("soda %s gate output:\n%s", layer, gate.output)
    if gate.checks:
        record(settings.warehouse_path, gate, batch, run_id, scanned_at)
    for check in gate.warned:
        log.warning("soda %s gate warning: %s (value %s)", layer, check.name, check.value)
    if not gate.passed:
        if gate.failed:
            detail = "; ".join(f"{c.dataset}: {c.name} (value {c.value})" for c in gate.failed)
        else:
            detail = f"the scan did not run its checks (exit code {gate.exit_code}):\n{gate.output[-2000:]}"
        raise GateFailed(f"{layer} gate failed for {batch}: {detail}")
    return gate
