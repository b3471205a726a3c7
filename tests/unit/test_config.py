from datetime import UTC, datetime

from include.config import PROJECT_ROOT, settings


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
