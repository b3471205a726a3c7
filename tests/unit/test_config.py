import os
import subprocess
import sys
from datetime import UTC, datetime

from include.config import PROJECT_ROOT, environment, settings


def test_defaults_live_under_the_runtime_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_PATH", "")  # empty means "the default", as in .env.example
    monkeypatch.delenv("SERVING_PATH", raising=False)
    s = settings()
    assert s.warehouse_path == tmp_path / "warehouse" / "lakehouse.duckdb"
    assert s.serving_path == tmp_path / "serving" / "lakehouse_serving.duckdb"
    assert s.dbt_manifest_path == PROJECT_ROOT / "dbt" / "target" / "manifest.json"


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("SERVING_PATH", str(tmp_path / "s.duckdb"))
    monkeypatch.setenv("RAW_PREFIX", "/online_retail/")
    monkeypatch.setenv("RETAIL_ELT_START_DATE", "2011-01-04")
    s = settings()
    assert s.warehouse_path == tmp_path / "w.duckdb"
    assert s.serving_path == tmp_path / "s.duckdb"
    assert s.raw_prefix == "online_retail"
    assert s.schedule_start == datetime(2011, 1, 4, tzinfo=UTC)


def _project(tmp_path, example: str, dot_env: str | None = None):
    (tmp_path / ".env.example").write_text(example)
    if dot_env is not None:
        (tmp_path / ".env").write_text(dot_env)
    return tmp_path


def test_the_environment_beats_dot_env_which_beats_env_example(tmp_path):
    root = _project(
        tmp_path,
        "RAW_BUCKET=example\nRAW_PREFIX=example\nS3_REGION=example\nWAREHOUSE_PATH=\n",
        "RAW_PREFIX=dotenv\nS3_REGION=dotenv\n",
    )
    env = environment({"S3_REGION": "shell", "PATH": "/usr/bin"}, root=root)
    assert (env["RAW_BUCKET"], env["RAW_PREFIX"], env["S3_REGION"]) == ("example", "dotenv", "shell")
    assert env["WAREHOUSE_PATH"] == "" and env["PATH"] == "/usr/bin"
    # Without .env, .env.example alone.
    (root / ".env").unlink()
    assert environment({}, root=root)["RAW_PREFIX"] == "example"


def test_references_in_the_files_expand_against_the_winning_values(tmp_path):
    root = _project(
        tmp_path,
        "S3_ENDPOINT_URL=http://127.0.0.1:9000\n"
        'CONN={"endpoint_url": "${S3_ENDPOINT_URL}", "x": "${UNSET}"}\n',
        "S3_ENDPOINT_URL=http://minio:9000\n",
    )
    assert environment({}, root=root)["CONN"] == '{"endpoint_url": "http://minio:9000", "x": ""}'
    shell = environment({"S3_ENDPOINT_URL": "http://shell:9000"}, root=root)
    assert shell["CONN"] == '{"endpoint_url": "http://shell:9000", "x": ""}'
    # A value set in the environment is taken as it is, never expanded.
    assert environment({"CONN": "${S3_ENDPOINT_URL}"}, root=root)["CONN"] == "${S3_ENDPOINT_URL}"


def test_a_process_reads_the_settings_files_under_its_environment(tmp_path):
    """What the CLI, the DAG and the tasks see: the project's .env.example when nothing else
    sets a value, and an exported value over it (the bug: exported settings were ignored)."""
    code = (
        "from include.config import settings; s = settings(); "
        "print(s.raw_bucket, s.warehouse_path, s.dbt_threads)"
    )
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True)
    bucket, warehouse, threads = out.stdout.split()
    assert bucket == "raw" and threads == "4"  # from .env.example (no .env in CI)
    assert warehouse == str(PROJECT_ROOT / ".runtime" / "warehouse" / "lakehouse.duckdb")
    env = {**base, "WAREHOUSE_PATH": str(tmp_path / "wh.duckdb"), "RAW_BUCKET": "mine"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == ["mine", str(tmp_path / "wh.duckdb")]
