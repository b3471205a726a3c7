"""Load raw files from S3 into DuckDB staging: every row exactly once, or quarantined with a reason.

One load is one transaction over the warehouse:

* `audit.file_loads` (the manifest) has one row per file version (key + etag). A key whose etag
  is already there is skipped, so rerunning a day changes nothing. A key that comes back with
  new content is a *replacement*: that day's rows are rebuilt from all of its current files,
  so duplicates between files are decided again and nothing is lost or doubled.
* A file that cannot be read as a whole (empty, header only, corrupt or truncated gzip,
  unknown format, required column missing or renamed) is recorded with status `rejected`
  and its reason; the other files still load.
* A row that cannot be typed (bad number or timestamp, missing InvoiceNo/StockCode/
  InvoiceDate, wrong column count, malformed JSON) goes to `quarantine.rows` with its raw
  content and reason.
* An exact duplicate row (all 8 fields equal) of a row already loaded for the same day, or
  earlier in the same load, is counted in `rows_duplicate` and not staged again.
* Columns beyond the 8 required ones (schema drift) are kept as JSON in `_extra`.

For every file: rows_in = rows_loaded + rows_duplicate + rows_quarantined.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import tempfile
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from include.ingest.formats import (
    CSV,
    JSONL,
    PARQUET,
    REQUIRED_COLUMNS,
    FileRejected,
    count_rows,
    csv_header,
    detect_format,
    missing_required,
    record_bytes,
)
from include.storage import warehouse
from include.storage.layout import RawObject

log = logging.getLogger(__name__)

STAGING_TABLE = "staging.raw_invoice_lines"
MANIFEST_TABLE = "audit.file_loads"
QUARANTINE_TABLE = "quarantine.rows"
RAW_COLUMNS = REQUIRED_COLUMNS
_Q = ", ".join(f'"{c}"' for c in RAW_COLUMNS)


class LoadError(RuntimeError):
    """The load could not run; nothing of it was written."""


class RowsUnaccounted(LoadError):
    """A file's rows do not add up to what was staged, duplicate and quarantined (a defect)."""


@dataclass
class FileLoad:
    """One manifest row in the making."""

    obj: RawObject
    fmt: str | None
    status: str = "loaded"
    reason: str | None = None
    rows_in: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    rows_expected: int | None = None  # the independent reader's count


@dataclass
class LoadResult:
    files_seen: int = 0
    files_skipped: int = 0
    files: list[FileLoad] = field(default_factory=list)
    days: list[date] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_duplicate(self) -> int:
        return sum(f.rows_duplicate for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_rejected(self) -> int:
        return sum(f.status == "rejected" for f in self.files)

    def summary(self) -> dict:
        return {
            "files_seen": self.files_seen,
            "files_skipped": self.files_skipped,
            "files_loaded": len(self.files) - self.files_rejected,
            "files_rejected": self.files_rejected,
            "rows_in": self.rows_in,
            "rows_loaded": self.rows_loaded,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": self.rows_quarantined,
            "days": [d.isoformat() for d in self.days],
        }


# ---- schema ------------------------------------------------------------------------------


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for schema in ("staging", "audit", "quarantine"):
        con.execute(f"create schema if not exists {schema}")
    columns = ",\n".join(f'"{name}" varchar' for name in RAW_COLUMNS)
    con.execute(
        f"""
        create table if not exists {STAGING_TABLE} (
            {columns},
            _extra json,
            _source_key varchar not null,
            _source_etag varchar not null,
            _row_number bigint not null,
            _partition_date date not null,
            _loaded_at timestamp not null,
            _run_id varchar not null
        )
        """
    )
    # Warehouses staged before the manifest existed lack the drift column; their rows are
    # replaced the first time their files load again (a load deletes its keys' rows first).
    con.execute(f"alter table {STAGING_TABLE} add column if not exists _extra json")
    con.execute(
        f"""
        create table if not exists {MANIFEST_TABLE} (
            key varchar not null,
            etag varchar not null,
            size bigint not null,
            format varchar,
            partition_date date not null,
            rows_in bigint not null,
            rows_loaded bigint not null,
            rows_duplicate bigint not null,
            rows_quarantined bigint not null,
            status varchar not null,
            reason varchar,
            run_id varchar not null,
            loaded_at timestamp not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {QUARANTINE_TABLE} (
            key varchar not null,
            etag varchar not null,
            partition_date date not null,
            row_number bigint,
            raw_content varchar,
            reason varchar not null,
            run_id varchar not null,
            quarantined_at timestamp not null
        )
        """
    )
    # The row's original bytes as the file holds them (CSV and JSON Lines rows), and where
    # they are in the file version (key, etag): a row too long to copy is found there.
    for column, kind in (("raw_bytes", "blob"), ("byte_offset", "bigint"), ("byte_length", "bigint")):
        con.execute(f"alter table {QUARANTINE_TABLE} add column if not exists {column} {kind}")


# ---- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadPlan:
    to_load: list[RawObject]  # new keys, and every file of a day where a key changed content
    skipped: int


def plan_load(con: duckdb.DuckDBPyConnection, listed: list[RawObject]) -> LoadPlan:
    """Which file versions to load. Same key + etag: skip. New etag: rebuild that day."""
    current = dict(
        con.execute(
            f"select key, etag from {MANIFEST_TABLE} where status <> 'superseded' "
            "and partition_date in (select unnest(?::date[]))",
            [sorted({o.day for o in listed})],
        ).fetchall()
    )
    changed_days = {o.day for o in listed if o.key in current and current[o.key] != o.etag}
    to_load = [
        o
        for o in sorted(listed, key=lambda o: (o.day, o.key))
        if o.day in changed_days or o.key not in current
    ]
    return LoadPlan(to_load, len(listed) - len(to_load))


# ---- reading -----------------------------------------------------------------------------

_INCOMING = "incoming_rows"  # temp view: key, row_number, 8 text columns, _extra, raw, reason
_OTHER = "_incoming_other"  # JSON Lines and Parquet rows (CSV groups stay in their own tables)
_JSONL = "_jsonl"  # the prefix of a JSON Lines read's temporary tables


def _create_incoming(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f'"{c}" varchar' for c in RAW_COLUMNS)
    con.execute(
        f"""
        create or replace temp table {_OTHER} (
            key varchar, row_number bigint, {columns}, _extra json, raw varchar, reason varchar
        )
        """
    )


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _csv_options(columns: tuple[str, ...]) -> str:
    spec = ", ".join("'" + c.replace("'", "''") + "': 'VARCHAR'" for c in columns)
    return (
        "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"strict_mode = true, null_padding = false, columns = {{{spec}}}, filename = true"
    )


# Reads a JSON Lines file as raw lines (chr(30) never occurs in them), so each line keeps its
# number and text even when it is not JSON.
_JSONL_LINES = (
    "columns = {'line': 'VARCHAR'}, header = false, delim = chr(30), quote = '', escape = '', "
    "auto_detect = false, strict_mode = false"
)


def _read_error(fmt: str, exc: duckdb.Error) -> str:
    return f"cannot read {fmt}: {str(exc).splitlines()[0][:300]}"


def _parquet_types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """A Parquet file's columns and their DuckDB types, in file order."""
    describe = f"describe select * from read_parquet({_sql_list([path])})"
    return dict(con.execute(f"select column_name, column_type from ({describe})").fetchall())


def _json_object_sql(columns: list[str] | tuple[str, ...]) -> str:
    """SQL for a JSON object of these columns, keyed by their names."""
    pairs = ", ".join("'" + c.replace("'", "''") + "', \"" + c.replace('"', '""') + '"' for c in columns)
    return f"json_object({pairs})"


def _extra_json(columns: tuple[str, ...]) -> str:
    extra = [c for c in columns if c not in RAW_COLUMNS]
    return _json_object_sql(extra) if extra else "null::json"


def _read_numbered(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[str, Path]],
    name: str,
    reader: str,
    select: str,
    header_lines: int,
) -> None:
    """Read files sharing one layout in one statement; keep every row's physical row number.

    Makes `{name}_rows` (the rows read, `select` over `reader`), `{name}_rejects` (lines the
    reader could not read: row number, raw text, reason) and the view `{name}_numbered`
    (key, row_number, the selected columns) over the good rows, without copying them.
    """
    con.execute(f"create or replace temp table {name}_keys (filename varchar, key varchar)")
    con.executemany(f"insert into {name}_keys values (?, ?)", [(str(p), k) for k, p in files])
    con.execute("drop table if exists _csv_reject_errors; drop table if exists _csv_reject_scans")
    con.execute(
        f"""
        create or replace temp table {name}_rows as
        select filename, ordinality as ord, {select}
        from read_csv({_sql_list([p for _, p in files])}, {reader}, filename = true,
                      ignore_errors = true, store_rejects = true,
                      rejects_table = '_csv_reject_errors', rejects_scan = '_csv_reject_scans')
             with ordinality
        """
    )
    # Lines the reader rejected: their row number (the header is line 1 of a CSV file) and
    # text. A line can have several errors (one per column); the first column's names it.
    con.execute(
        f"""
        create or replace temp table {name}_rejects as
        select s.file_path as filename, e.line - {header_lines} as row_number, any_value(e.csv_line) as raw,
               arg_min(e.error_type || ': ' || e.error_message, coalesce(e.column_idx, -1)) as reason
        from _csv_reject_errors e join _csv_reject_scans s using (scan_id, file_id)
        group by all
        """
    )
    con.execute("drop table _csv_reject_errors; drop table _csv_reject_scans")
    # The ordinal runs over all files in list order, one contiguous range per file, and skips
    # rejected lines. Good row i of a file (i = ord - the file's first ord + 1) is data row
    # i + #{j : r_j - j < i}, with r1 < r2 < ... that file's rejected rows.
    has_rejects = con.execute(f"select count(*) from {name}_rejects").fetchone()[0] > 0
    shifted = "g.good_index + coalesce(s.shift, 0)" if has_rejects else "g.good_index"
    shift_join = (
        "asof left join shifts s on g.filename = s.filename and g.good_index > s.gap" if has_rejects else ""
    )
    con.execute(
        f"""
        create or replace temp table {name}_offsets as
        select filename, min(ord) - 1 as offset from {name}_rows group by filename
        """
    )
    con.execute(
        f"""
        create or replace temp view {name}_numbered as
        with gaps as (
            select filename,
                   row_number - row_number() over (partition by filename order by row_number) as gap,
                   row_number() over (partition by filename order by row_number) as j
            from {name}_rejects
        ),
        shifts as (select filename, gap, max(j) as shift from gaps group by all),
        good as (
            select g.*, g.ord - o.offset as good_index
            from {name}_rows g join {name}_offsets o using (filename)
        )
        select k.key, {shifted} as row_number, g.* exclude (filename, ord, good_index)
        from good g
        join {name}_keys k using (filename)
        {shift_join}
        """
    )


def _read_csv_group(
    con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], files: list[tuple[str, Path]], name: str
) -> None:
    """CSV files sharing one header, read once into view `name`: good rows and rejected lines."""
    _read_numbered(
        con, files, name, _csv_options(columns), f"{_Q}, {_extra_json(columns)} as _extra", header_lines=1
    )
    con.execute(
        f"""
        create or replace temp view {name} as
        select key, row_number, {_Q}, _extra, null::varchar as raw, null::varchar as reason
        from {name}_numbered
        union all
        select k.key, r.row_number, {", ".join("null" for _ in RAW_COLUMNS)}, null, r.raw,
               'malformed CSV line: ' || r.reason
        from {name}_rejects r join {name}_keys k using (filename)
        """
    )


def _read_jsonl(con: duckdb.DuckDBPyConnection, files: list[tuple[str, Path]]) -> None:
    """JSON Lines, read line by line so every row keeps its line number and raw text; a line
    that is not an object of scalar values is quarantined with what is wrong with it."""
    _read_numbered(con, files, _JSONL, _JSONL_LINES, "line", header_lines=0)
    fields = ", ".join(f"case when ok then j ->> '{c}' end" for c in RAW_COLUMNS)
    known = ", ".join(f"'{c}'" for c in RAW_COLUMNS)
    nested = ", ".join(
        f"case when json_type(j -> '{c}') in ('OBJECT', 'ARRAY') "
        f"then '{c} is a JSON ' || lower(json_type(j -> '{c}')) || ', not a value' end"
        for c in RAW_COLUMNS
    )
    con.execute(
        f"""
        insert into {_OTHER}
        with parsed as (
            select *, case when json_valid(line) then json_type(line::json) = 'OBJECT' else false end as ok,
                   case when json_valid(line) then line::json end as j
            from {_JSONL}_numbered
            where line is not null and trim(line) <> ''
        )
        select p.key, p.row_number, {fields},
               case when ok and len(list_filter(json_keys(j), c -> c not in ({known}))) > 0 then
                   to_json(map_from_entries(list_transform(
                       list_filter(json_keys(j), c -> c not in ({known})), c -> {{'k': c, 'v': j -> c}})))
               end,
               p.line,
               case
                   when j is null then 'malformed JSON line'
                   when not ok then 'the line is a JSON ' || lower(json_type(j)) || ', not an object'
                   when len(json_keys(j)) <> len(list_distinct(json_keys(j)))
                       then 'a field name repeats in the JSON object'
                   else nullif(concat_ws('; ', {nested}), '')
               end
        from parsed p
        union all
        select k.key, r.row_number, {", ".join("null" for _ in RAW_COLUMNS)}, null, r.raw,
               'unreadable JSON line: ' || r.reason
        from {_JSONL}_rejects r join {_JSONL}_keys k using (filename)
        """
    )


def _read_parquet(con: duckdb.DuckDBPyConnection, files: list[tuple[str, Path]]) -> None:
    for key, path in files:  # one statement per file: each may have its own schema
        types = _parquet_types(con, path)
        columns = list(types)
        text = ", ".join(f'cast("{c}" as varchar)' for c in RAW_COLUMNS)
        # A nested value (struct, list, map) where the contract has a scalar is no value.
        nested = [
            f"case when \"{c}\" is not null then '{c} is a nested {kind} value, not a scalar' end"
            for c in RAW_COLUMNS
            for kind in [types[c].split("(")[0].split("[")[0].lower()]
            if any(marker in types[c].upper() for marker in ("STRUCT", "MAP", "[]", "UNION"))
        ]
        reason = f"nullif(concat_ws('; ', {', '.join(nested)}), '')" if nested else "null"
        con.execute(
            f"""
            insert into {_OTHER}
            select ?, file_row_number + 1, {text}, {_extra_json(tuple(columns))},
                   {_json_object_sql(RAW_COLUMNS)}::varchar,
                   {reason}
            from read_parquet({_sql_list([path])}, file_row_number = true)
            """,
            [key],
        )


def _probe(con: duckdb.DuckDBPyConnection, fmt: str, path: Path) -> str | None:
    """Why a file cannot be read whole (None if it can): used to find a bulk read's culprit."""
    try:
        if fmt == CSV:
            header = csv_header(path)
            con.execute(
                f"select count(*) from read_csv({_sql_list([path])}, {_csv_options(header.columns)}, "
                "ignore_errors = true)"
            )
        elif fmt == JSONL:
            con.execute(f"select count(*) from read_csv({_sql_list([path])}, {_JSONL_LINES})")
        else:
            con.execute(f"select count(*) from read_parquet({_sql_list([path])})")
    except FileRejected as exc:
        return str(exc)
    except duckdb.Error as exc:
        return _read_error(fmt, exc)
    return None


def _count_rows(loads: dict[str, FileLoad], paths: dict[str, Path]) -> dict[str, int | str]:
    """key -> the file's data rows as the independent reader counts them (CSV, JSON Lines),
    or the reason it cannot be read at all (a truncated or corrupt gzip stream, say)."""

    def count(key: str) -> tuple[str, int | str]:
        try:
            return key, count_rows(loads[key].fmt, paths[key])
        except (OSError, EOFError, zlib.error) as exc:
            damage = "truncated or corrupt gzip" if paths[key].suffix == ".gz" else "cannot read"
            return key, f"{damage}: {exc}"
        except csv.Error as exc:
            return key, f"cannot read as CSV: {exc}"

    readable = [k for k, load in loads.items() if load.fmt in (CSV, JSONL)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(count, readable))


def _classify(con: duckdb.DuckDBPyConnection, loads: dict[str, FileLoad], paths: dict[str, Path]) -> dict:
    """Count each file's rows independently, reject what the cheap checks catch; group the
    rest by how they are read."""
    groups: dict[tuple, list[tuple[str, Path]]] = defaultdict(list)
    counted = _count_rows(loads, paths)
    for key, load in loads.items():
        path = paths[key]
        if load.fmt is None:
            load.status, load.reason = (
                "rejected",
                "unknown format (expected .csv[.gz], .jsonl[.gz], .ndjson[.gz], .parquet)",
            )
            continue
        if path.stat().st_size == 0:
            load.status, load.reason = "rejected", "empty file (0 bytes)"
            continue
        if isinstance(counted.get(key), str):
            load.status, load.reason = "rejected", counted[key]
            continue
        try:
            if load.fmt == CSV:
                load.rows_expected = counted[key]
                groups[(CSV, csv_header(path).columns)].append((key, path))
            elif load.fmt == JSONL:
                load.rows_expected = counted[key]
                groups[(JSONL,)].append((key, path))
            else:
                columns = list(_parquet_types(con, path))
                missing = missing_required(columns)
                if missing:
                    raise FileRejected(f"missing required columns {missing} (columns {columns})")
                # The footer's row count: what the file says it holds, whatever a scan returns.
                load.rows_expected = con.execute(
                    f"select sum(num_rows) from parquet_file_metadata({_sql_list([path])})"
                ).fetchone()[0]
                groups[(PARQUET,)].append((key, path))
        except FileRejected as exc:
            load.status, load.reason = "rejected", str(exc)
        except duckdb.Error as exc:
            load.status, load.reason = "rejected", _read_error(load.fmt, exc)
    return groups


def _read_all(
    con: duckdb.DuckDBPyConnection, loads: dict[str, FileLoad], paths: dict[str, Path]
) -> list[tuple[str, str]]:
    """Read every loadable file; define the view `incoming_rows` over all of them.

    Every file's rows read in bulk are checked against its independent count. A file of a
    multi-file read that comes out short or long is read again alone (DuckDB 1.5's CSV reader
    can lose a rejected line, and the rows after it, in a read of many files); a file whose
    rows still cannot all be accounted for is rejected whole, with both counts.

    Returns the temporary views and tables made (views first), for the caller to drop.
    """
    _create_incoming(con)
    made = [("table", _OTHER)]
    csv_views: dict[str, set[str]] = {}  # a CSV read's view -> the keys not to take from it

    def read(fmt: str, columns: tuple[str, ...] | None, files: list[tuple[str, Path]], name: str) -> None:
        if fmt in (CSV, JSONL):  # the temporary objects of `_read_numbered`, dropped by the caller
            prefix = name if fmt == CSV else _JSONL
            parts = ("rows", "rejects", "keys", "offsets")
            made.extend([("view", f"{prefix}_numbered"), *(("table", f"{prefix}_{p}") for p in parts)])
        if fmt == CSV:
            made.append(("view", name))
            _read_csv_group(con, columns, files, name)
        elif fmt == JSONL:
            _read_jsonl(con, files)
        else:
            _read_parquet(con, files)

    def unaccounted(fmt: str, files: list[tuple[str, Path]], name: str) -> dict[str, int]:
        got = dict(
            con.execute(
                f"select key, count(*) from {name if fmt == CSV else _OTHER} "
                "where key in (select unnest(?::varchar[])) group by key",
                [[k for k, _ in files]],
            ).fetchall()
        )
        return {k: got.get(k, 0) for k, _ in files if got.get(k, 0) != loads[k].rows_expected}

    groups = list(_classify(con, loads, paths).items())
    index = 0
    while groups:
        (fmt, *rest), files = groups.pop(0)
        columns = rest[0] if rest else None
        name = f"_csv{index}"
        index += 1
        try:
            read(fmt, columns, files, name)
        except duckdb.Error:
            # Some file of the group cannot be read whole: find it, reject it, read the others.
            con.execute(
                f"delete from {_OTHER} where key in (select unnest(?::varchar[]))", [[k for k, _ in files]]
            )
            readable = []
            for key, path in files:
                reason = _probe(con, fmt, path)
                if reason:
                    loads[key].status, loads[key].reason = "rejected", reason
                else:
                    readable.append((key, path))
            if not readable:
                continue
            read(fmt, columns, readable, name)
            files = readable
        if fmt == CSV:
            csv_views[name] = set()
        for key, got in unaccounted(fmt, files, name).items():
            if fmt == CSV:
                csv_views[name].add(key)
            else:
                con.execute(f"delete from {_OTHER} where key = ?", [key])
            if len(files) > 1:
                groups.append(((fmt, *rest), [(key, paths[key])]))  # read it again, alone
            else:
                loads[key].status = "rejected"
                loads[key].reason = (
                    f"rows could not be accounted for: the file has {loads[key].rows_expected} data rows "
                    f"(counted by a second, independent reader), the bulk read returned {got}; "
                    "nothing of it was loaded"
                )

    def kept(view: str, dropped: set[str]) -> str:
        if not dropped:
            return f"select * from {view}"
        keys = ", ".join("'" + k.replace("'", "''") + "'" for k in sorted(dropped))
        return f"select * from {view} where key not in ({keys})"

    union = " union all ".join([f"select * from {_OTHER}", *(kept(v, d) for v, d in csv_views.items())])
    con.execute(f"create or replace temp view {_INCOMING} as {union}")
    return sorted([("view", _INCOMING), *made], key=lambda item: item[0] != "view")


# ---- the transaction ---------------------------------------------------------------------


def _failpoint(name: str) -> None:
    """Crash here if LAKEHOUSE_FAILPOINT names this point (tests prove the load is atomic)."""
    if os.environ.get("LAKEHOUSE_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# Why a row cannot be typed ('' when it can). Patterns are strict on purpose: a cast alone would
# turn '1.5' into quantity 2 or '2.5555' into price 2.556.
_INTEGER = r"[+-]?[0-9]+"
_PRICE = r"[+-]?([0-9]+(\.[0-9]{0,3})?|\.[0-9]{1,3})"
_CUSTOMER = r"[0-9]+(\.0*)?"
_HEADER_AGAIN = " and ".join(f"\"{c}\" = '{c}'" for c in RAW_COLUMNS)
_NUL = ", ".join(
    f"case when contains(\"{c}\", chr(0)) then 'a NUL character in {c}' end" for c in RAW_COLUMNS
)
_TYPED_REASON = f"""
    case when {_HEADER_AGAIN} then 'the header line again, inside the file' else concat_ws('; ',
        {_NUL},
        case when nullif(trim("InvoiceNo"), '') is null then 'missing InvoiceNo' end,
        case when nullif(trim("StockCode"), '') is null then 'missing StockCode' end,
        case when nullif(trim("InvoiceDate"), '') is null then 'missing InvoiceDate'
             when try_strptime(trim("InvoiceDate"), '%Y-%m-%d %H:%M:%S') is null
             then 'bad InvoiceDate ' || "InvoiceDate" end,
        case when nullif(trim("Quantity"), '') is null then 'missing Quantity'
             when not regexp_full_match(trim("Quantity"), '{_INTEGER}')
               or try_cast(trim("Quantity") as bigint) is null
             then 'bad Quantity ' || "Quantity" end,
        case when nullif(trim("UnitPrice"), '') is null then 'missing UnitPrice'
             when not regexp_full_match(trim("UnitPrice"), '{_PRICE}')
               or try_cast(trim("UnitPrice") as decimal(18, 3)) is null
             then 'bad UnitPrice ' || "UnitPrice" end,
        case when nullif(trim("CustomerID"), '') is not null
              and not regexp_full_match(trim("CustomerID"), '{_CUSTOMER}')
             then 'bad CustomerID ' || "CustomerID" end
    ) end
"""
# A quarantined row's original bytes are copied up to this size; a longer row is pointed to.
RAW_COPY_LIMIT = 1 << 20


def load_files(
    warehouse_path: Path,
    listed: list[RawObject],
    fetch: Any,
    run_id: str,
    loaded_at: datetime,
) -> LoadResult:
    """Plan, fetch and load `listed` objects in one transaction (see the module docstring).

    `fetch(objects, into_dir) -> {key: local path}` downloads the files the plan needs.
    """
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = warehouse.connect(warehouse_path)
    result = LoadResult(files_seen=len(listed))
    try:
        ensure_tables(con)
        plan = plan_load(con, listed)
        result.files_skipped = plan.skipped
        if not plan.to_load:
            return result
        with tempfile.TemporaryDirectory(prefix="raw-load-") as tmp:
            paths = fetch(plan.to_load, Path(tmp))
            loads = {o.key: FileLoad(obj=o, fmt=detect_format(o.key)) for o in plan.to_load}
            # Reading fills temporary tables only; the warehouse changes in one transaction.
            scratch = _read_all(con, loads, paths)
            con.execute("begin transaction")
            try:
                _apply(con, loads, paths, run_id, loaded_at)
                _failpoint("load_before_commit")
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            finally:
                for kind, name in scratch:
                    con.execute(f"drop {kind} if exists {name}")
        result.files = list(loads.values())
        result.days = sorted({o.day for o in plan.to_load})
    except duckdb.Error as exc:
        raise LoadError(f"load failed, nothing written: {exc}") from exc
    finally:
        con.close()
    return result


def _apply(
    con: duckdb.DuckDBPyConnection,
    loads: dict[str, FileLoad],
    paths: dict[str, Path],
    run_id: str,
    loaded_at: datetime,
) -> None:
    keys = list(loads)
    # Replaced keys and rebuilt days: their old rows go; old versions are superseded.
    con.execute(f"delete from {STAGING_TABLE} where _source_key in (select unnest(?::varchar[]))", [keys])
    con.execute(f"delete from {QUARANTINE_TABLE} where key in (select unnest(?::varchar[]))", [keys])
    # A version loaded again (an unchanged file of a rebuilt day) keeps one manifest row;
    # other versions of these keys are superseded.
    con.execute("create or replace temp table _versions (key varchar, etag varchar)")
    con.executemany("insert into _versions values (?, ?)", [(k, load.obj.etag) for k, load in loads.items()])
    con.execute(f"delete from {MANIFEST_TABLE} where (key, etag) in (select (key, etag) from _versions)")
    con.execute(
        f"update {MANIFEST_TABLE} set status = 'superseded' "
        "where key in (select key from _versions) and status <> 'superseded'"
    )
    meta = [(k, load.obj.etag, load.obj.day) for k, load in loads.items() if load.status != "rejected"]
    con.execute("create or replace temp table _meta (key varchar, etag varchar, partition_date date)")
    if meta:
        con.executemany("insert into _meta values (?, ?, ?)", meta)

    # Type-check every row; hash the valid ones for the duplicate search.
    con.execute(
        f"""
        create or replace temp table _checked as
        select c.*, case when c.final_reason is null then hash(c.partition_date, {_Q}) end as row_hash
        from (
            select i.key, i.row_number, {", ".join(f'i."{c}"' for c in RAW_COLUMNS)}, i._extra, i.raw,
                   m.etag, m.partition_date,
                   coalesce(i.reason, nullif({_TYPED_REASON}, '')) as final_reason
            from {_INCOMING} i join _meta m using (key)
        ) c
        """
    )
    # Exact duplicates (all 8 fields, same day): only rows whose hash repeats, in this load or
    # among the day's staged rows, are compared field by field; the first copy by (key, row)
    # stays, and a copy of an already-staged row never stays.
    fields_equal = " and ".join(f'a."{c}" is not distinct from b."{c}"' for c in RAW_COLUMNS)
    con.execute(
        f"""
        create or replace temp table _duplicates as
        with staged as (
            select _partition_date as partition_date, {_Q}, hash(_partition_date, {_Q}) as row_hash
            from {STAGING_TABLE}
            where _partition_date in (select distinct partition_date from _meta)
        ),
        repeated as (
            select row_hash from _checked where row_hash is not null
            group by row_hash having count(*) > 1
            union
            select c.row_hash from _checked c semi join staged s using (row_hash)
        ),
        candidates as (
            select * from _checked where row_hash in (select row_hash from repeated)
        ),
        ranked as (
            select key, row_number, row_number() over (
                partition by partition_date, {_Q} order by key, row_number) as copy_number
            from candidates
        )
        select key, row_number from ranked where copy_number > 1
        union
        select a.key, a.row_number
        from candidates a join staged b
          on a.row_hash = b.row_hash and a.partition_date = b.partition_date and {fields_equal}
        """
    )
    con.execute(
        f"""
        insert into {STAGING_TABLE} ({_Q}, _extra, _source_key, _source_etag, _row_number,
                                     _partition_date, _loaded_at, _run_id)
        select {", ".join(f'c."{c}"' for c in RAW_COLUMNS)}, c._extra, c.key, c.etag, c.row_number,
               c.partition_date, ?, ?
        from _checked c anti join _duplicates d using (key, row_number)
        where c.final_reason is null
        """,
        [loaded_at, run_id],
    )
    _original_bytes(con, loads, paths)
    raw_fields = f"json_merge_patch({_json_object_sql(RAW_COLUMNS)}, coalesce(_extra, '{{}}'::json))"
    con.execute(
        f"""
        insert into {QUARANTINE_TABLE} (key, etag, partition_date, row_number, raw_content, reason, run_id,
                                        quarantined_at, raw_bytes, byte_offset, byte_length)
        select c.key, c.etag, c.partition_date, c.row_number,
               coalesce(b.text, c.raw, {raw_fields}::varchar),
               coalesce(b.encoding, c.final_reason || coalesce('; ' || b.note, '')), ?, ?,
               b.raw_bytes, b.byte_offset, b.byte_length
        from _checked c left join _original b using (key, row_number)
        where c.final_reason is not null
        order by c.key, c.row_number
        """,
        [run_id, loaded_at],
    )
    # Each part of every file's rows, counted from where the rows went; rows_in is the
    # independent reader's count. They must add up, or nothing of this load is written.
    read, staged, quarantined, duplicate = (
        dict(con.execute(sql).fetchall())
        for sql in (
            "select key, count(*) from _checked group by key",
            f"select _source_key, count(*) from {STAGING_TABLE} s join _meta m "
            "on s._source_key = m.key and s._source_etag = m.etag group by 1",
            f"select q.key, count(*) from {QUARANTINE_TABLE} q join _meta m using (key, etag) group by 1",
            "select key, count(*) from _duplicates group by key",
        )
    )
    for key, load in loads.items():
        if load.status == "rejected":
            continue
        load.rows_in = load.rows_expected if load.rows_expected is not None else read.get(key, 0)
        load.rows_loaded, load.rows_quarantined = staged.get(key, 0), quarantined.get(key, 0)
        load.rows_duplicate = duplicate.get(key, 0)
        if load.rows_in != load.rows_loaded + load.rows_duplicate + load.rows_quarantined:
            raise RowsUnaccounted(
                f"{key}: {load.rows_in} rows in, but {load.rows_loaded} staged + {load.rows_duplicate} "
                f"duplicate + {load.rows_quarantined} quarantined"
            )
        if load.rows_in == 0:
            load.status, load.reason = "rejected", "no data rows (header only or blank)"
    con.executemany(
        f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                load.obj.key,
                load.obj.etag,
                load.obj.size,
                load.fmt,
                load.obj.day,
                load.rows_in,
                load.rows_loaded,
                load.rows_duplicate,
                load.rows_quarantined,
                load.status,
                load.reason,
                run_id,
                loaded_at,
            )
            for load in loads.values()
        ],
    )
    for table in ("_meta", "_checked", "_duplicates", "_versions", "_original"):
        con.execute(f"drop table if exists {table}")


def _original_bytes(
    con: duckdb.DuckDBPyConnection, loads: dict[str, FileLoad], paths: dict[str, Path]
) -> None:
    """`_original`: each quarantined CSV / JSON Lines row's bytes as the file holds them, where
    it is in the file, its text, the reason when the bytes are not UTF-8, and a note when the
    row is too long to copy."""
    con.execute(
        "create or replace temp table _original (key varchar, row_number bigint, raw_bytes blob, "
        "byte_offset bigint, byte_length bigint, text varchar, encoding varchar, note varchar)"
    )
    wanted: dict[str, set[int]] = defaultdict(set)
    for key, number in con.execute(
        "select key, row_number from _checked where final_reason is not null"
    ).fetchall():
        if loads[key].fmt in (CSV, JSONL):
            wanted[key].add(number)
    rows = []
    for key, numbers in wanted.items():
        for number, (offset, length, body) in record_bytes(
            loads[key].fmt, paths[key], numbers, RAW_COPY_LIMIT
        ).items():
            text = encoding = note = None
            if body is None:
                note = (
                    f"its {length:,} bytes are not copied here: they are bytes {offset:,} to "
                    f"{offset + length:,} of the decompressed file version (key, etag)"
                )
            else:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    text = body.decode("cp1252", errors="replace")
                    encoding = (
                        f"not UTF-8: byte 0x{body[exc.start]:02X} at offset {exc.start} of the row "
                        "(raw_bytes keeps the original; raw_content shows it read as Windows-1252)"
                    )
            rows.append((key, number, body, offset, length, text, encoding, note))
    if rows:
        con.executemany("insert into _original values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


# ---- S3 ----------------------------------------------------------------------------------


def s3_fetcher(client: Any, bucket: str):
    """A `fetch` for `load_files` that downloads objects in parallel with a boto3 client."""

    def fetch(objects: list[RawObject], into: Path) -> dict[str, Path]:
        def one(item: tuple[int, RawObject]) -> tuple[str, Path]:
            index, obj = item
            target = into / f"{index:06d}-{Path(obj.key).name}"
            client.download_file(bucket, obj.key, str(target))
            return obj.key, target

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(one, enumerate(objects)))

    return fetch


def load_from_s3(
    client: Any,
    bucket: str,
    files_by_day: dict[date, list[RawObject]],
    warehouse_path: Path,
    run_id: str,
    loaded_at: datetime,
) -> LoadResult:
    listed = [obj for day in sorted(files_by_day) for obj in files_by_day[day]]
    result = load_files(warehouse_path, listed, s3_fetcher(client, bucket), run_id, loaded_at)
    log.info("load: %s", result.summary())
    return result


@dataclass(frozen=True)
class RejectedShare:
    files: int
    files_rejected: int
    rows_in: int
    rows_quarantined: int

    @property
    def file_share(self) -> float:
        return self.files_rejected / self.files if self.files else 0.0

    @property
    def row_share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def exceeds(self, limit: float) -> bool:
        return self.file_share > limit or self.row_share > limit

    def __str__(self) -> str:
        return (
            f"{self.files_rejected} of {self.files} files rejected ({self.file_share:.1%}), "
            f"{self.rows_quarantined} of {self.rows_in} rows quarantined ({self.row_share:.1%})"
        )


def rejected_share(warehouse_path: Path, days: list[date]) -> RejectedShare:
    """How much of the current file versions of `days` was rejected or quarantined."""
    con = warehouse.connect(warehouse_path, read_only=True)
    try:
        ensure_exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'audit' and table_name = 'file_loads'"
        ).fetchone()[0]
        if not ensure_exists:
            return RejectedShare(0, 0, 0, 0)
        row = con.execute(
            f"""
            select count(*), count(*) filter (where status = 'rejected'),
                   coalesce(sum(rows_in), 0), coalesce(sum(rows_quarantined), 0)
            from {MANIFEST_TABLE}
            where status <> 'superseded' and partition_date in (select unnest(?::date[]))
            """,
            [days],
        ).fetchone()
    finally:
        con.close()
    return RejectedShare(*(int(v) for v in row))
