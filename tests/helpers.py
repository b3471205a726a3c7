"""Test helpers.

* Independent readings of the raw files, for tests to compare the pipeline against: plain
  Python (csv + decimal), deliberately not DuckDB or dbt, so a figure computed here does not
  come from the code under test.
* Building a warehouse without Airflow: the real loader on local files, the real dbt project.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from include.config import environment
from include.ingest.load import load_files
from include.storage.layout import RawObject, raw_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT = PROJECT_ROOT / ".venv" / "dbt" / "bin" / "dbt"
DBT_PROJECT = PROJECT_ROOT / "dbt"

COUNTRY_CONFORMED = {
    "EIRE": "Ireland",
    "RSA": "South Africa",
    "USA": "United States",
    "European Community": "Unspecified",
}


def raw_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _conformed(country: str) -> str:
    country = country.strip()
    return COUNTRY_CONFORMED.get(country, country)


def daily_country_sales_from_raw(paths: list[Path]) -> dict[tuple[str, str], tuple]:
    """The `daily_country_sales` contract, recomputed from raw CSV files in plain Python.

    (sales_date, country) -> (orders, customers, units, gross, cancelled, net), exact
    duplicate rows counted once, revenue rounded to the cent once per figure.
    """
    seen = set()
    sale_invoices: dict[tuple, set] = defaultdict(set)
    sale_customers: dict[tuple, set] = defaultdict(set)
    units: dict[tuple, int] = defaultdict(int)
    gross: dict[tuple, Decimal] = defaultdict(Decimal)
    cancelled: dict[tuple, Decimal] = defaultdict(Decimal)
    keys = set()
    for path in paths:
        for row in raw_rows(path):
            identity = tuple(row.values())
            if identity in seen:
                continue
            seen.add(identity)
            invoice = row["InvoiceNo"].strip()
            quantity = int(row["Quantity"])
            price = Decimal(row["UnitPrice"])
            key = (row["InvoiceDate"][:10], _conformed(row["Country"]))
            if invoice.startswith("C"):
                keys.add(key)
                cancelled[key] += -quantity * price
            elif not invoice.startswith("A") and quantity > 0 and price > 0:
                keys.add(key)
                sale_invoices[key].add(invoice)
                if row["CustomerID"].strip():
                    sale_customers[key].add(int(Decimal(row["CustomerID"])))
                units[key] += quantity
                gross[key] += quantity * price

    def cents(value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    return {
        key: (
            len(sale_invoices[key]),
            len(sale_customers[key]),
            units[key],
            cents(gross[key]),
            cents(cancelled[key]),
            cents(gross[key]) - cents(cancelled[key]),
        )
        for key in keys
    }


# ---- building a warehouse without Airflow (the real loader and the real dbt project) ----


def gold_daily_country_sales(path: Path, day: str) -> dict[tuple[str, str], tuple]:
    """One day of `gold.daily_country_sales` from a warehouse or serving file, keyed and
    shaped as `daily_country_sales_from_raw` returns it."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select country, orders, customers, units, gross_revenue, cancelled_revenue, net_revenue "
            "from gold.daily_country_sales where sales_date = ?",
            [day],
        ).fetchall()
    finally:
        con.close()
    return {(day, country): tuple(figures) for country, *figures in rows}


def stage_files(
    warehouse: Path, files: dict[str, Path], run_id: str, loaded_at: datetime | None = None
) -> None:
    """Load local files through the real loader; keys are 'YYYY-MM-DD/name', etag = md5."""
    objects = {}
    for name, path in files.items():
        day = date.fromisoformat(name[:10])
        key = raw_key("online_retail", day, name[11:])
        etag = hashlib.md5(path.read_bytes()).hexdigest()
        objects[key] = (RawObject(key, etag, path.stat().st_size, day), path)
    load_files(
        warehouse,
        [obj for obj, _ in objects.values()],
        lambda wanted, into: {o.key: objects[o.key][1] for o in wanted},
        run_id,
        loaded_at or datetime.now(UTC).replace(tzinfo=None),
    )


def run_dbt(warehouse: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run dbt on `warehouse`, keeping target/ and logs/ out of the project (Cosmos reads its manifest)."""
    env = {**environment(), "WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [str(DBT), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
    command += ["--target-path", str(tmp_path / "dbt-target"), "--log-path", str(tmp_path / "dbt-logs")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def execute_sql(path: Path, *statements: str) -> None:
    """Run `statements` on the DuckDB file at `path` (a test damaging or changing a warehouse)."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
