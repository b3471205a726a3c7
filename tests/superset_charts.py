"""What each Superset chart must show, as SQL written here against the serving file (not
taken from Superset), and the comparison of a chart-data answer with it. Used by the browser
tests (charts as the dashboards fetch them) and the Docker stack test (saved charts through
the REST API)."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal

# Per chart: how to read what Superset returned ("long" = one (x, series, value) per point of
# a time series; "rows" = the rows as they are; "ordered" = rows, order kept) and the same
# question written directly against the serving file.
EXPECTED = {
    "Net revenue per day": (
        "long",
        "select sales_date, 'Net revenue', sum(net_revenue) from gold.daily_country_sales group by 1",
    ),
    "Orders and customers per day": (
        "long",
        "select sales_date, 'Orders', sum(orders) from gold.daily_country_sales group by 1 "
        "union all select sales_date, 'Customers', sum(customers) from gold.daily_country_sales group by 1",
    ),
    "Net revenue by country": (
        "long",
        "select country, 'Net revenue', sum(net_revenue) from gold.daily_country_sales group by 1",
    ),
    "Cancelled revenue per day": (
        "long",
        "select sales_date, 'Cancelled revenue', sum(cancelled_revenue) "
        "from gold.daily_country_sales group by 1",
    ),
    "Top 10 products by net revenue": (
        "ordered",
        "select stock_code, description, orders, units_sold, net_revenue, cancellation_rate "
        "from gold.product_performance where is_product order by net_revenue desc limit 10",
    ),
    "Monthly cohort retention": (
        "rows",
        "select months_since_first, cohort_month, max(retention_rate) "
        "from gold.monthly_customer_cohorts group by 1, 2",
    ),
    "Customers per RFM segment": ("rows", "select rfm_segment, count(*) from gold.customer_rfm group by 1"),
    "Gate check outcomes per batch": (
        "long",
        "select interval_start, outcome, count(*) from audit.dq_check_results group by 1, 2",
    ),
    "Quarantined rows and rejected files per landing day": (
        "long",
        "select partition_date, 'Quarantined rows', sum(rows_quarantined) from audit.file_loads "
        "where status <> 'superseded' group by 1 union all "
        "select partition_date, 'Rejected files', count(*) filter (where status = 'rejected') "
        "from audit.file_loads where status <> 'superseded' group by 1",
    ),
    "Checks that warned or failed": (
        "rows",
        "select scanned_at, layer, dataset, check_name, outcome, measured_value, interval_start, "
        "interval_end from audit.dq_check_results where outcome <> 'pass'",
    ),
    "File loads": (
        "rows",
        "select partition_date, key, status, rows_in, rows_loaded, rows_duplicate, rows_quarantined, reason, "
        "loaded_at from audit.file_loads",
    ),
}


def norm(value):
    """One comparable form for values from DuckDB and from Superset's JSON (which sends
    temporal values as epoch milliseconds, UTC; the warehouse's are naive UTC)."""
    if isinstance(value, datetime):
        return round(calendar.timegm(value.utctimetuple()) * 1000 + value.microsecond / 1000, 3)
    if isinstance(value, date):
        return float(calendar.timegm(value.timetuple()) * 1000)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return round(float(value), 3)
    return value


def from_superset(shape: str, result: dict, width: int | None = None) -> list:
    """Superset's rows; `width` keeps the first columns (a heatmap adds its own rank column)."""
    columns, rows = result["colnames"][:width], result["data"]
    if shape == "long":
        x = columns[0]
        return sorted(
            (norm(row[x]), series, norm(row[series]))
            for row in rows
            for series in columns[1:]
            if row[series] is not None
        )
    table = [tuple(norm(row[c]) for c in columns) for row in rows]
    return table if shape == "ordered" else sorted(table, key=repr)


def from_serving(con, shape: str, sql: str) -> list:
    rows = [tuple(norm(v) for v in row) for row in con.execute(sql).fetchall()]
    if shape == "ordered":
        return rows
    return sorted(rows) if shape == "long" else sorted(rows, key=repr)


def saved_chart_data(client) -> dict[str, dict]:
    """Every chart's data as Superset computes it from the chart's saved query context
    (`GET /api/v1/chart/<id>/data/`: what cache warm-up, reports and API users get)."""
    charts = client.get("/api/v1/chart/", page_size=100)["result"]
    answers = {}
    for chart in charts:
        response = client.http.get(f"{client.base}/api/v1/chart/{chart['id']}/data/", timeout=120)
        assert response.status_code == 200, (chart["slice_name"], response.status_code, response.text[:500])
        result = response.json()["result"][0]
        assert result.get("error") is None and result.get("status") == "success", result
        answers[chart["slice_name"]] = result
    return answers


def assert_charts_show(con, answers: dict[str, dict]) -> None:
    """Each chart's answer equals its question asked of the serving file (`con`)."""
    assert sorted(answers) == sorted(EXPECTED), "the charts are the ones in superset/assets"
    for name, (shape, sql) in EXPECTED.items():
        want = from_serving(con, shape, sql)
        width = None if shape == "long" else len(con.execute(sql).description)
        got = from_superset(shape, answers[name], width)
        assert got == want, f"{name}: Superset showed {got[:5]}..., the serving file holds {want[:5]}..."
