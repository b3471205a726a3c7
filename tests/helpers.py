"""Independent readings of the raw files, for tests to compare the pipeline against.

Plain Python (csv + decimal), deliberately not DuckDB or dbt: a figure computed here does
not come from the code under test.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

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
