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


def gross_revenue_by_country(paths: list[Path]) -> dict[tuple[str, str], Decimal]:
    """(sales_date, country) -> gross revenue of sale lines, exact duplicates counted once."""
    seen = set()
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for path in paths:
        for row in raw_rows(path):
            identity = tuple(row.values())
            if identity in seen:
                continue
            seen.add(identity)
            invoice = row["InvoiceNo"].strip()
            quantity = int(row["Quantity"])
            price = Decimal(row["UnitPrice"])
            is_sale = not invoice.startswith(("C", "A")) and quantity > 0 and price > 0
            if is_sale:
                country = row["Country"].strip()
                key = (row["InvoiceDate"][:10], COUNTRY_CONFORMED.get(country, country))
                totals[key] += quantity * price
    return {k: v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for k, v in totals.items()}
