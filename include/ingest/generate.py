"""Seeded generator of future days in the raw landing contract, sampled from the real history.

    python -m include.ingest.generate --from 2011-09-01 --to 2011-09-07 \\
        [--rows-per-day 5000] [--dirt none|all|duplicates,nulls,...] [--out DIR] [--seed 42]

Products (stock code, description, price), customers (id, country), basket sizes, quantities
and the share of cancellations and of lines without a customer are drawn from the shipped
real days. Output: `<out>/invoice_date=YYYY-MM-DD/part-NNNNN.csv.gz`, which `make run
SOURCE=<out>` lands as it is. Only days after the history (2011-08-31) can be generated.

Dirt kinds (each deterministic for a seed):

| kind | what it does | what the loader must do |
| --- | --- | --- |
| duplicates | 1% of lines repeated in the same file | count them as duplicates |
| nulls | 0.5% of lines lose InvoiceNo, StockCode or InvoiceDate | quarantine them |
| bad_numbers | 0.5% of lines get a non-numeric Quantity or UnitPrice | quarantine them |
| truncated | one extra file per day, cut in the middle of its gzip stream | reject the file |
| drift | one extra file per day with an extra `Channel` column | keep it in `_extra` |
| small_files | the day split into 200 small files | load them in one go |
| late | one extra file per day under `<out>/late/`, to land after the day's run | the lookback loads it |
| redelivered | a changed copy of part-00000 under `<out>/redelivered/` (same name) | replace its rows |
"""

from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import io
import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from include.ingest.formats import REQUIRED_COLUMNS

HISTORY = Path(__file__).resolve().parents[2] / "data" / "online_retail_uci" / "by_day"
LAST_REAL_DAY = date(2011, 8, 31)
DIRT_KINDS = (
    "duplicates",
    "nulls",
    "bad_numbers",
    "truncated",
    "drift",
    "small_files",
    "late",
    "redelivered",
)
FIRST_INVOICE = 700000  # above every real invoice number (the history ends near 565000)


@dataclass(frozen=True)
class Catalogue:
    products: list[tuple[str, str, str]]  # stock code, description, price text
    product_weights: list[float]  # cumulative
    customers: list[tuple[str, str]]  # customer id text ('' = none), country
    baskets: list[int]  # observed lines per invoice
    quantities: list[int]  # observed positive quantities
    cancel_share: float


def load_catalogue(history: Path = HISTORY) -> Catalogue:
    con = duckdb.connect()
    rows = f"read_csv('{history}/*.csv.gz', all_varchar = true)"
    products = con.execute(
        f"""
        select "StockCode", mode("Description"), mode("UnitPrice"), count(*) as n
        from {rows}
        where "InvoiceNo" not like 'C%' and "InvoiceNo" not like 'A%'
          and try_cast("Quantity" as bigint) > 0 and try_cast("UnitPrice" as double) > 0
          and "Description" is not null
        group by 1 order by 1
        """
    ).fetchall()
    customers = con.execute(
        f"""
        select coalesce("CustomerID", ''), mode("Country") from {rows}
        group by 1 order by 1
        """
    ).fetchall()
    baskets = [
        r[0] for r in con.execute(f'select count(*) from {rows} group by "InvoiceNo" order by 1').fetchall()
    ]
    quantities = [
        r[0]
        for r in con.execute(
            f"""select cast("Quantity" as bigint) from {rows}
                where try_cast("Quantity" as bigint) between 1 and 1000 order by 1"""
        ).fetchall()
    ]
    cancel_share = con.execute(f"""select avg(("InvoiceNo" like 'C%')::int) from {rows}""").fetchone()[0]
    con.close()
    cumulative, total = [], 0.0
    for *_, n in products:
        total += n
        cumulative.append(total)
    return Catalogue(
        products=[(code, desc, price) for code, desc, price, _ in products],
        product_weights=cumulative,
        customers=[(cid, country) for cid, country in customers],
        baskets=baskets,
        quantities=quantities,
        cancel_share=float(cancel_share),
    )


def _day_rows(
    cat: Catalogue, day: date, n_rows: int, rng: random.Random, first_invoice: int
) -> list[list[str]]:
    rows: list[list[str]] = []
    invoice = first_invoice
    total = cat.product_weights[-1]
    while len(rows) < n_rows:
        basket = min(rng.choice(cat.baskets), n_rows - len(rows))
        customer_id, country = rng.choice(cat.customers)
        at = datetime.combine(day, datetime.min.time()) + timedelta(minutes=rng.randrange(8 * 60, 20 * 60))
        stamp = at.strftime("%Y-%m-%d %H:%M:%S")
        cancelled = rng.random() < cat.cancel_share
        number = f"C{invoice}" if cancelled else str(invoice)
        for _ in range(basket):
            code, desc, price = cat.products[bisect.bisect_left(cat.product_weights, rng.random() * total)]
            quantity = rng.choice(cat.quantities)
            rows.append(
                [
                    number,
                    code,
                    desc,
                    str(-quantity if cancelled else quantity),
                    stamp,
                    price,
                    customer_id,
                    country,
                ]
            )
        invoice += 1
    return rows


def _dirty(rows: list[list[str]], dirt: set[str], rng: random.Random) -> list[list[str]]:
    out = []
    for row in rows:
        roll = rng.random()
        if "nulls" in dirt and roll < 0.005:
            row = list(row)
            row[rng.choice((0, 1, 4))] = ""
        elif "bad_numbers" in dirt and 0.005 <= roll < 0.01:
            row = list(row)
            index = rng.choice((3, 5))
            row[index] = "n/a" if index == 3 else "12,5o"
        out.append(row)
        if "duplicates" in dirt and rng.random() < 0.01:
            out.append(list(row))
    return out


def _csv_gz(rows: list[list[str]], header: tuple[str, ...] = REQUIRED_COLUMNS) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode(), compresslevel=6, mtime=0)


def generate(
    start: date,
    end: date,
    out: Path,
    rows_per_day: int = 5000,
    dirt: set[str] | None = None,
    seed: int = 42,
    progress: bool = True,
    catalogue: Catalogue | None = None,
) -> dict[str, int]:
    """Write the days and return counts: days, files, rows (data rows written, dirt included)."""
    if start <= LAST_REAL_DAY:
        raise ValueError(f"generate days after the real history ({LAST_REAL_DAY}); got {start}")
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    dirt = set(dirt or ())
    unknown = dirt - set(DIRT_KINDS)
    if unknown:
        raise ValueError(f"unknown dirt kinds {sorted(unknown)}; choose from {', '.join(DIRT_KINDS)}")
    cat = catalogue or load_catalogue()
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    counts = {"days": 0, "files": 0, "rows": 0}

    def write(path: Path, body: bytes, n_rows: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        counts["files"] += 1
        counts["rows"] += n_rows

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("generating days", total=len(days))
        for index, day in enumerate(days):
            rng = random.Random(f"{seed}-{day.isoformat()}")
            folder = out / f"invoice_date={day.isoformat()}"
            first_invoice = FIRST_INVOICE + (day - LAST_REAL_DAY).days * 100_000
            rows = _dirty(_day_rows(cat, day, rows_per_day, rng, first_invoice), dirt, rng)
            parts = 200 if "small_files" in dirt else max(1, len(rows) // 250_000)
            size = -(-len(rows) // parts)
            for p in range(parts):
                chunk = rows[p * size : (p + 1) * size]
                if chunk:
                    write(folder / f"part-{p:05d}.csv.gz", _csv_gz(chunk), len(chunk))
            extra = _day_rows(cat, day, 50, rng, first_invoice + 90_000)
            if "drift" in dirt:
                drifted = [[*r, rng.choice(("web", "phone", "marketplace"))] for r in extra[:25]]
                write(folder / "drift-00000.csv.gz", _csv_gz(drifted, (*REQUIRED_COLUMNS, "Channel")), 25)
            if "truncated" in dirt:
                body = _csv_gz(extra[25:])
                write(folder / "truncated-00000.csv.gz", body[: len(body) // 2], 0)
            if "late" in dirt:
                late = _day_rows(cat, day, 40, rng, first_invoice + 95_000)
                write(out / "late" / folder.name / "late-00000.csv.gz", _csv_gz(late), len(late))
            if "redelivered" in dirt:
                first = rows[:size]
                changed = [*first[: len(first) // 2], *_day_rows(cat, day, 10, rng, first_invoice + 98_000)]
                write(out / "redelivered" / folder.name / "part-00000.csv.gz", _csv_gz(changed), len(changed))
            counts["days"] += 1
            bar.update(task, advance=1, description=f"generated {day} ({index + 1}/{len(days)})")
    return counts


def _dirt_arg(text: str) -> set[str]:
    if text in ("", "none"):
        return set()
    if text == "all":
        return set(DIRT_KINDS)
    return {part.strip() for part in text.split(",") if part.strip()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.ingest.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    parser.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    parser.add_argument("--rows-per-day", type=int, default=5000)
    parser.add_argument("--dirt", type=_dirt_arg, default=set(), help="none, all, or a comma list of kinds")
    parser.add_argument("--out", type=Path, default=Path(".runtime/generated"))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        counts = generate(args.start, args.end, args.out, args.rows_per_day, args.dirt, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {counts['rows']} rows in {counts['files']} files for {counts['days']} days under {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
