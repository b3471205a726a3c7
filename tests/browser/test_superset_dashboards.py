"""Superset, for real: log in with a browser, open each dashboard, wait for every chart to
render, keep screenshots; the data each chart fetched through Superset's chart-data API
must equal the same question asked of the serving file directly (SQL written here, not
taken from Superset), and the revenue chart must also equal a plain-Python reading of the
raw files."""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from datetime import date
from decimal import Decimal

import duckdb
import pytest

from include.serving.publish import publish
from include.serving.superset import ASSETS_DIR, import_assets
from tests.browser.conftest import SUPERSET_PASSWORD
from tests.helpers import daily_country_sales_from_raw
from tests.superset_charts import (
    EXPECTED,
    assert_charts_show,
    from_serving,
    from_superset,
    norm,
    saved_chart_data,
)

DASHBOARDS = {
    "sales": [
        "Net revenue per day",
        "Orders and customers per day",
        "Net revenue by country",
        "Cancelled revenue per day",
        "Top 10 products by net revenue",
    ],
    "customers": ["Monthly cohort retention", "Customers per RFM segment"],
    "data-quality": [
        "Gate check outcomes per batch",
        "Quarantined rows and rejected files per landing day",
        "Checks that warned or failed",
        "File loads",
    ],
}


def _login(page, url: str) -> None:
    page.goto(f"{url}/login/")
    page.locator("[data-test=username-input]").fill("admin")
    page.locator("[data-test=password-input]").fill(SUPERSET_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/superset/welcome/**")


def _open_dashboard(page, url: str, slug: str, expected_charts: int) -> dict[int, dict]:
    """Open a dashboard; returns {slice_id: chart-data result} once every chart rendered."""
    responses: dict[int, dict] = {}

    def on_response(response):
        if "/api/v1/chart/data" in response.url and response.request.method == "POST":
            body = json.loads(response.request.post_data or "{}")
            slice_id = (body.get("form_data") or {}).get("slice_id")
            assert response.status == 200, (slice_id, response.status, response.text()[:2000])
            payload = response.json()
            for result in payload["result"]:
                assert result.get("error") is None and result.get("status") == "success", result
            responses[slice_id] = payload["result"][0]

    page.on("response", on_response)
    try:
        page.goto(f"{url}/superset/dashboard/{slug}/")
        holders = page.locator('[data-test="dashboard-component-chart-holder"]')
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rendered = sum(
                1
                for i in range(holders.count())
                if holders.nth(i).locator("canvas, svg, table, .ant-empty, [data-test=no-results]").count()
                or "No results were returned" in holders.nth(i).inner_text()
            )
            if (
                holders.count() == expected_charts
                and rendered == expected_charts
                and len(responses) >= expected_charts
                and page.locator('[data-test="loading-indicator"]').count() == 0
            ):
                break
            page.wait_for_timeout(500)
        else:
            pytest.fail(
                f"{slug}: {rendered}/{expected_charts} charts rendered, {len(responses)} data responses"
            )
        page.wait_for_timeout(1000)  # let the last chart's animation finish for the screenshot
        errors = page.locator('[data-test="error-alert"], .ant-alert-error, [data-test="error-message"]')
        assert errors.count() == 0, errors.first.inner_text()
        assert "Unexpected error" not in page.content()
    finally:
        page.remove_listener("response", on_response)
    return responses


def test_dashboards_render_and_show_the_serving_data(superset, served, browser, artifacts_dir, tmp_path):
    client = superset.client()
    charts = {c["id"]: c["slice_name"] for c in client.get("/api/v1/chart/", page_size=100)["result"]}
    assert sorted(charts.values()) == sorted(EXPECTED), "the imported charts are the ones in superset/assets"

    page = browser.new_page()
    _login(page, superset.url)
    seen: dict[str, dict] = {}
    timings = {}
    for slug, names in DASHBOARDS.items():
        started = time.monotonic()
        responses = _open_dashboard(page, superset.url, slug, len(names))
        timings[slug] = time.monotonic() - started
        page.screenshot(path=str(artifacts_dir / f"superset-{slug}.png"), full_page=True)
        assert sorted(charts[sid] for sid in responses) == sorted(names), slug
        seen.update({charts[sid]: result for sid, result in responses.items()})
    print("dashboard render seconds:", {k: round(v, 1) for k, v in timings.items()})

    con = duckdb.connect(str(served["serving"]), read_only=True)
    try:
        assert_charts_show(con, seen)
        for name, (shape, sql) in EXPECTED.items():
            assert from_serving(con, shape, sql), f"{name}: the fixture should give it data"
        # The charts' saved query contexts answer the same through the chart-data API.
        assert_charts_show(con, saved_chart_data(client))
        # The data-quality dashboard shows the fixture's real problems.
        problems = from_serving(con, "rows", EXPECTED["Checks that warned or failed"][1])
        assert problems and all(p[1] == "bronze" and p[4] == "warn" for p in problems), problems
        quarantined = con.execute("select sum(rows_quarantined) from audit.file_loads").fetchone()[0]
        assert quarantined == 1
    finally:
        con.close()

    # And independently of DuckDB: the revenue line equals the raw files read in plain Python.
    extra = served["files"]["2010-12-02/late-extra.csv"]
    with extra.open(newline="") as handle:
        rows = list(csv.reader(handle))
    good = tmp_path / "late-extra-good-rows.csv"
    with good.open("w", newline="") as out:  # the malformed row is the one quarantined
        csv.writer(out).writerows(
            [rows[0]] + [r for r in rows[1:] if r[rows[0].index("Quantity")].lstrip("-").isdigit()]
        )
    raw = daily_country_sales_from_raw(
        [p for k, p in served["files"].items() if k.endswith(".csv.gz")] + [good]
    )
    per_day: dict[str, Decimal] = {}
    for (day, _country), figures in raw.items():
        per_day[day] = per_day.get(day, Decimal(0)) + figures[5]
    shown = {x: v for x, _series, v in from_superset("long", seen["Net revenue per day"])}
    assert shown == {norm(date.fromisoformat(d)): norm(v) for d, v in per_day.items()}


def test_reimport_applies_changed_charts_without_duplicates(superset, tmp_path):
    """Dashboards as code: a chart edited in the repo's YAML changes in Superset on import."""
    client = superset.client()
    before = client.get("/api/v1/chart/", page_size=100)["result"]
    assets = tmp_path / "assets"
    shutil.copytree(ASSETS_DIR, assets)
    chart_file = assets / "charts" / "net_revenue_per_day.yaml"
    chart_file.write_text(
        chart_file.read_text().replace("slice_name: Net revenue per day", "slice_name: Net revenue (edited)")
    )
    import_assets(superset.ss, superset.serving, assets)
    edited = client.get("/api/v1/chart/", page_size=100)["result"]
    assert len(edited) == len(before)
    assert "Net revenue (edited)" in {c["slice_name"] for c in edited}
    assert "Net revenue per day" not in {c["slice_name"] for c in edited}

    import_assets(superset.ss, superset.serving)  # back to the repo's version
    again = client.get("/api/v1/chart/", page_size=100)["result"]
    assert sorted(c["slice_name"] for c in again) == sorted(c["slice_name"] for c in before)
    assert len(client.get("/api/v1/dashboard/", page_size=100)["result"]) == 3
    assert len(client.get("/api/v1/dataset/", page_size=100)["result"]) == 6
    databases = client.get("/api/v1/database/", page_size=100)["result"]
    assert len(databases) == 1


def test_dashboard_queries_keep_answering_while_a_run_publishes(superset, served):
    """Chart-data API calls while the serving file is republished: no lock errors, no gaps."""
    client = superset.client()
    datasets = client.get("/api/v1/dataset/", page_size=100)["result"]
    dataset_id = next(d["id"] for d in datasets if d["table_name"] == "daily_country_sales")
    query = {
        "datasource": {"id": dataset_id, "type": "table"},
        "queries": [
            {
                "columns": ["country"],
                "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(net_revenue)", "label": "net"}],
                "orderby": [],
                "row_limit": 1000,
            }
        ],
        "result_format": "json",
        "result_type": "full",
    }
    con = duckdb.connect(str(served["serving"]), read_only=True)
    expected = {
        c: round(float(v), 2)
        for c, v in con.execute(
            "select country, sum(net_revenue) from gold.daily_country_sales group by 1"
        ).fetchall()
    }
    con.close()

    done = threading.Event()
    publishes = []

    def republish():
        try:
            for _ in range(4):
                publishes.append(publish(served["warehouse"], served["serving"]))
                time.sleep(0.2)
        finally:
            done.set()

    writer = threading.Thread(target=republish)
    writer.start()
    answers, failures = 0, []
    while not done.is_set() or answers < 5:
        response = client.http.post(f"{superset.url}/api/v1/chart/data", json=query, timeout=60)
        if response.status_code != 200:
            failures.append((response.status_code, response.text[:500]))
        else:
            data = response.json()["result"][0]["data"]
            if {row["country"]: round(float(row["net"]), 2) for row in data} != expected:
                failures.append(("wrong data", data[:3]))
        answers += 1
    writer.join()
    assert len(publishes) == 4
    assert failures == [], failures[:3]
    print(f"{answers} chart-data answers during 4 publishes, 0 errors")
