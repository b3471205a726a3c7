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

import logging
import os
import signal
import tempfile
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
    check_gzip,
    csv_header,
    detect_format,
    missing_required,
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


class RejectedShareExceeded(RuntimeError):
    """The batch loaded, but too much of it was rejected: someone must look at the source."""


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


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    return [
        row[0] for row in con.execute(f"describe select * from read_parquet({_sql_list([path])})").fetchall()
    ]


def _json_object_sql(columns: list[str] | tuple[str, ...]) -> str:
    """SQL for a JSON object of these columns, keyed by their names."""
    pairs = ", ".join("'" + c.replace("'", "''") + "', \"" + c.replace('"', '""') + '"' for c in columns)
    return f"json_object({pairs})"


def _extra_json(columns: tuple[str, ...]) -> str:
    extra = [c for c in columns if c not in RAW_COLUMNS]
    return _json_object_sql(extra) if extra else "null::json"


def _read_csv_group(
    con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], files: list[tuple[str, Path]], name: str
) -> None:
    """Read CSV files sharing one header in one statement into view `name`; bad lines too.

    The rows are read once into a table; the view adds keys and row numbers without copying.
    """
    con.execute(f"create or replace temp table {name}_keys (filename varchar, key varchar)")
    con.executemany(f"insert into {name}_keys values (?, ?)", [(str(p), k) for k, p in files])
    con.execute("drop table if exists _csv_reject_errors; drop table if exists _csv_reject_scans")
    con.execute(
        f"""
        create or replace temp table {name}_rows as
        select filename, ordinality as ord, {_Q}, {_extra_json(columns)} as _extra
        from read_csv({_sql_list([p for _, p in files])}, {_csv_options(columns)},
                      ignore_errors = true, store_rejects = true,
                      rejects_table = '_csv_reject_errors', rejects_scan = '_csv_reject_scans')
             with ordinality
        """
    )
    # Malformed lines: their physical line number (the header is line 1) and the raw text.
    con.execute(
        f"""
        create or replace temp table {name}_rejects as
        select s.file_path as filename, e.line - 1 as row_number, any_value(e.csv_line) as raw,
               arg_min(e.error_type || ': ' || e.error_message, e.column_idx) as reason
        from _csv_reject_errors e join _csv_reject_scans s using (scan_id, file_id)
        group by all
        """
    )
    con.execute("drop table _csv_reject_errors; drop table _csv_reject_scans")
    # The ordinal runs over all files in list order, one contiguous range per file, and skips
    # malformed lines. Good row i of a file (i = ord - the file's first ord + 1) is data row
    # i + #{j : r_j - j < i}, with r1 < r2 < ... that file's malformed data rows.
    columns_sql = ", ".join(f'g."{c}"' for c in RAW_COLUMNS)
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
        create or replace temp view {name} as
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
        select k.key, {shifted} as row_number, {columns_sql}, g._extra,
               null::varchar as raw, null::varchar as reason
        from good g
        join {name}_keys k using (filename)
        {shift_join}
        union all
        select k.key, r.row_number, {", ".join("null" for _ in RAW_COLUMNS)}, null, r.raw,
               'malformed CSV line: ' || r.reason
        from {name}_rejects r join {name}_keys k using (filename)
        """
    )


def _read_jsonl(con: duckdb.DuckDBPyConnection, files: list[tuple[str, Path]]) -> None:
    """JSON Lines, read line by line so every row keeps its line number and raw text."""
    con.execute("create or replace temp table _file_keys (filename varchar, key varchar)")
    con.executemany("insert into _file_keys values (?, ?)", [(str(p), k) for k, p in files])
    fields = ", ".join(f"case when ok then j ->> '{c}' end" for c in RAW_COLUMNS)
    known = ", ".join(f"'{c}'" for c in RAW_COLUMNS)
    con.execute(
        f"""
        insert into {_OTHER}
        with lines as (
            select filename, ordinality as row_number, line
            from read_csv({_sql_list([p for _, p in files])}, {_JSONL_LINES}, filename = true)
                 with ordinality
        ),
        parsed as (
            select *, case when json_valid(line) then json_type(line::json) = 'OBJECT' else false end as ok,
                   case when json_valid(line) then line::json end as j
            from lines
            where line is not null and trim(line) <> ''
        )
        select k.key, p.row_number, {fields},
               case when ok and len(list_filter(json_keys(j), c -> c not in ({known}))) > 0 then
                   to_json(map_from_entries(list_transform(
                       list_filter(json_keys(j), c -> c not in ({known})), c -> {{'k': c, 'v': j -> c}})))
               end,
               p.line,
               case when not ok then 'malformed JSON line' end
        from parsed p join _file_keys k using (filename)
        """
    )


def _read_parquet(con: duckdb.DuckDBPyConnection, files: list[tuple[str, Path]]) -> None:
    for key, path in files:  # one statement per file: each may have its own schema
        columns = _parquet_columns(con, path)
        text = ", ".join(f'cast("{c}" as varchar)' for c in RAW_COLUMNS)
        con.execute(
            f"""
            insert into {_OTHER}
            select ?, file_row_number + 1, {text}, {_extra_json(tuple(columns))},
                   {_json_object_sql(RAW_COLUMNS)}::varchar,
                   null
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


def _gzip_damage(paths: dict[str, Path]) -> dict[str, str]:
    """key -> reason for every gzip file that is truncated or corrupt (checked in parallel)."""

    def check(item: tuple[str, Path]) -> tuple[str, str | None]:
        try:
            check_gzip(item[1])
        except FileRejected as exc:
            return item[0], str(exc)
        return item[0], None

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {key: reason for key, reason in pool.map(check, paths.items()) if reason}


def _classify(con: duckdb.DuckDBPyConnection, loads: dict[str, FileLoad], paths: dict[str, Path]) -> dict:
    """Reject what the cheap checks catch; group the rest by how they are read."""
    groups: dict[tuple, list[tuple[str, Path]]] = defaultdict(list)
    damaged = _gzip_damage({k: p for k, p in paths.items() if loads[k].fmt is not None})
    for key, load in loads.items():
        path = paths[key]
        if key in damaged:
            load.status, load.reason = "rejected", damaged[key]
            continue
        if load.fmt is None:
            load.status, load.reason = (
                "rejected",
                "unknown format (expected .csv[.gz], .jsonl[.gz], .ndjson[.gz], .parquet)",
            )
            continue
        if path.stat().st_size == 0:
            load.status, load.reason = "rejected", "empty file (0 bytes)"
            continue
        try:
            if load.fmt == CSV:
                groups[(CSV, csv_header(path).columns)].append((key, path))
            elif load.fmt == JSONL:
                groups[(JSONL,)].append((key, path))
            else:
                columns = _parquet_columns(con, path)
                missing = missing_required(columns)
                if missing:
                    raise FileRejected(f"missing required columns {missing} (columns {columns})")
                groups[(PARQUET,)].append((key, path))
        except FileRejected as exc:
            load.status, load.reason = "rejected", str(exc)
        except duckdb.Error as exc:
            load.status, load.reason = "rejected", _read_error(load.fmt, exc)
    return groups


def _read_all(
    con: duckdb.DuckDBPyConnection, loads: dict[str, FileLoad], paths: dict[str, Path]
) -> list[str]:
    """Read every loadable file; define the view `incoming_rows` over all of them.

    Returns the temporary views and tables made (views first), for the caller to drop.
    """
    _create_incoming(con)
    made = [("table", _OTHER), ("table", "_file_keys")]
    csv_views: list[str] = []
    for index, (group, files) in enumerate(_classify(con, loads, paths).items()):
        if group[0] == CSV:
            name = f"_csv{index}"
            parts = ("rows", "rejects", "keys", "offsets")
            made += [("view", name), *(("table", f"{name}_{part}") for part in parts)]

            def read(f, g=group, n=name):
                _read_csv_group(con, g[1], f, n)
        else:
            name = None

            def read(f, fmt=group[0]):
                (_read_jsonl if fmt == JSONL else _read_parquet)(con, f)

        try:
            read(files)
        except duckdb.Error:
            # Some file of the group cannot be read whole: find it, reject it, read the others.
            con.execute(
                f"delete from {_OTHER} where key in (select unnest(?::varchar[]))", [[k for k, _ in files]]
            )
            readable = []
            for key, path in files:
                reason = _probe(con, group[0], path)
                if reason:
                    loads[key].status, loads[key].reason = "rejected", reason
                else:
                    readable.append((key, path))
            if not readable:
                continue
            read(readable)
        if name:
            csv_views.append(name)
    union = " union all ".join([f"select * from {_OTHER}", *(f"select * from {v}" for v in csv_views)])
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
_TYPED_REASON = f"""
    concat_ws('; ',
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
    )
"""


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
                _apply(con, loads, run_id, loaded_at)
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
    raw_fields = f"json_merge_patch({_json_object_sql(RAW_COLUMNS)}, coalesce(_extra, '{{}}'::json))"
    con.execute(
        f"""
        insert into {QUARANTINE_TABLE}
        select key, etag, partition_date, row_number, coalesce(raw, {raw_fields}::varchar),
               final_reason, ?, ?
        from _checked where final_reason is not null
        order by key, row_number
        """,
        [run_id, loaded_at],
    )
    counts = {
        key: (n_in, n_dup, n_quar)
        for key, n_in, n_dup, n_quar in con.execute(
            """
            select c.key, count(*), count(*) filter (where d.key is not null),
                   count(*) filter (where c.final_reason is not null)
            from _checked c left join _duplicates d using (key, row_number)
            group by c.key
            """
        ).fetchall()
    }
    for key, load in loads.items():
        if load.status == "rejected":
            continue
        n_in, n_dup, n_quar = counts.get(key, (0, 0, 0))
        load.rows_in, load.rows_duplicate, load.rows_quarantined = n_in, n_dup, n_quar
        load.rows_loaded = n_in - n_dup - n_quar
        if n_in == 0:
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
    for table in ("_meta", "_checked", "_duplicates", "_versions"):
        con.execute(f"drop table if exists {table}")


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
