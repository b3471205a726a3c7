"""The operator's path, for real: log into the local Airflow UI (`make airflow`), trigger
`retail_elt` for a landed day from the trigger form, and wait for the scheduler to run it.
The day's gold rows must then be in the warehouse and the serving file, equal to the raw
file read in plain Python. Also: the plugin's links to Superset and the dbt docs are there."""

from __future__ import annotations

import time
from datetime import date

from include.config import settings
from include.pipeline.batch import Batch
from include.storage.landing import ensure_buckets, land_files, minio_client_from_env, source_day_files
from tests.airflow_api import AirflowApi
from tests.helpers import daily_country_sales_from_raw, gold_daily_country_sales

DAY = "2010-12-03"
LANDED = Batch(date(2010, 12, 1), date(2010, 12, 3))


def test_trigger_a_landed_day_from_the_airflow_ui(airflow_ui, s3_env, day_files, browser, artifacts_dir):
    s = settings()
    client = minio_client_from_env()
    ensure_buckets(client, [s.raw_bucket])
    land_files(client, s.raw_bucket, s.raw_prefix, source_day_files(day_files, LANDED))
    started = time.monotonic()

    page = browser.new_page()
    page.goto(f"{airflow_ui.url}/")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(airflow_ui.password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{airflow_ui.url}/")

    # The plugin's links, in the Plugins menu under "Lakehouse".
    page.get_by_role("button", name="Plugins").click()
    page.get_by_role("menuitem", name="Lakehouse").hover()
    links = {
        "Superset: Sales": "/superset/dashboard/sales/",
        "Superset: Customers": "/superset/dashboard/customers/",
        "Superset: Data quality": "/superset/dashboard/data-quality/",
        "dbt docs (models, tests, lineage)": ":8081/",
    }
    for name, href in links.items():
        item = page.get_by_role("menuitem", name=name)
        item.wait_for(state="visible")
        assert href in item.get_attribute("href"), (name, item.get_attribute("href"))
    page.screenshot(path=str(artifacts_dir / "airflow-plugin-links.png"))
    page.keyboard.press("Escape")

    page.goto(f"{airflow_ui.url}/dags/retail_elt")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_start_date").fill(DAY)
    dialog.locator("#element_end_date").fill(DAY)
    page.screenshot(path=str(artifacts_dir / "airflow-trigger-form.png"))
    with page.expect_response(lambda r: r.url.endswith("/dagRuns") and r.request.method == "POST") as posted:
        dialog.get_by_role("button", name="Trigger").click()
    assert posted.value.status == 200, posted.value.text()
    run = posted.value.json()
    assert run["conf"] == {"start_date": DAY, "end_date": DAY}
    assert run["triggered_by"] == "ui"

    state, tis = AirflowApi(airflow_ui.url, airflow_ui.password()).wait_for_run(run["dag_run_id"])
    took = time.monotonic() - started
    page.goto(f"{airflow_ui.url}/dags/retail_elt/runs/{run['dag_run_id']}")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(artifacts_dir / "airflow-run.png"), full_page=True)
    assert state == "success", sorted((t["task_id"], t["state"]) for t in tis)
    assert len(tis) >= 20 and all(t["state"] == "success" for t in tis)
    print(f"UI-triggered run of {DAY}: {state} {took:.0f}s after landing")

    expected = {k: v for k, v in daily_country_sales_from_raw([day_files / f"{DAY}.csv.gz"]).items()}
    assert gold_daily_country_sales(s.warehouse_path, DAY) == expected
    assert gold_daily_country_sales(s.serving_path, DAY) == expected  # published for the dashboards
