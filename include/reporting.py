"""The end-of-demo summary: rows per layer, the newest gate results, a sample of gold."""

from __future__ import annotations

from pathlib import Path

import duckdb

from include.storage import warehouse

# Schemas in pipeline order; the summary counts every table and view in them.
LAYER_SCHEMAS = ("staging", "bronze", "silver", "snapshots", "gold")


def _table(headers: list[str], rows: list[tuple]) -> str:
    cells = [headers] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def layer_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?::varchar[])) order by table_name",
        [list(LAYER_SCHEMAS)],
    ).fetchall()
    tables.sort(key=lambda t: LAYER_SCHEMAS.index(t[0]))
    return [
        (schema, f"{schema}.{name}", con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0])
        for schema, name in tables
    ]


def newest_gate_results(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        """
        select layer, check_name, outcome, measured_value
        from audit.dq_check_results
        where run_id = (select run_id from audit.dq_check_results order by scanned_at desc limit 1)
        order by case layer when 'bronze' then 1 when 'silver' then 2 else 3 end, check_name
        """
    ).fetchall()


def print_summary(warehouse_path: Path) -> None:
    if not warehouse_path.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}: run `make run` first")
    con = warehouse.connect(warehouse_path, read_only=True)
    try:
        print(f"warehouse: {warehouse_path}\n")
        print(_table(["layer", "table", "rows"], layer_counts(con)))
        gates = newest_gate_results(con)
        failed = [g for g in gates if g[2] not in ("pass", "warn")]
        print(f"\nnewest run's gate checks: {len(gates)} run, {len(gates) - len(failed)} passed or warned\n")
        print(_table(["layer", "check", "outcome", "value"], gates))
        sample = con.execute(
            """
            select * from gold.daily_country_sales
            order by sales_date desc, net_revenue desc
            limit 8
            """
        ).fetchall()
        columns = [d[0] for d in con.description]
        print("\ngold.daily_country_sales, newest days first:\n")
        print(_table(columns, sample))
    finally:
        con.close()
