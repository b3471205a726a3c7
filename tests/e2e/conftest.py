from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from include.config import settings
from include.localenv import airflow_env
from include.pipeline.batch import Batch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYTHON = PROJECT_ROOT / ".venv" / "airflow" / "bin" / "python"


class PipelineRunner:
    """Runs `make run`'s command (land + one `airflow dags test` run) in a private setup."""

    def __init__(self, source: Path):
        self.source = source

    def run(self, start: str, end: str, source: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        command = [str(PYTHON), "-m", "include.cli", "run", "--from", start, "--to", end]
        command += ["--source", str(source or self.source)]
        proc = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
        print(proc.stdout[-5000:], proc.stderr[-5000:])
        return proc

    def task_states(self, start: str, end: str) -> dict[str, str]:
        from include.cli import task_states

        batch = Batch(date.fromisoformat(start), date.fromisoformat(end))
        return dict(task_states(airflow_env(settings()), batch))

    def log_tail(self) -> str:
        logs = sorted((settings().runtime_dir / "logs").glob("run-*.log"))
        return logs[-1].read_text()[-6000:] if logs else "(no run log)"


@pytest.fixture
def pipeline(s3_env, airflow_home, day_files, monkeypatch) -> PipelineRunner:
    # Failed tasks still retry (TASK_RETRIES), just without the production wait between tries.
    monkeypatch.setenv("TASK_RETRY_DELAY_SECONDS", "1")
    return PipelineRunner(day_files)
