"""The loader on real and deliberately broken files, through the real S3 code path, into DuckDB.

Every case checks conservation per file (rows_in = loaded + duplicate + quarantined) and the
reason recorded; expected counts come from the test's own reading of the input.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.ingest.load import MANIFEST_TABLE, QUARANTINE_TABLE, RAW_COLUMNS, STAGING_TABLE, load_from_s3
from include.pipeline.batch import Batch
from include.storage.listing import list_raw_files
from tests.helpers import raw_rows
from tests.unit.conftest import DAY, LOADED_AT, PREFIX

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _real_lines(day_files: Path, n: int = 20) -> list[str]:
    """The header and the first `n` distinct rows of the first real day (no quoted fields)."""
    text = gzip.decompress((day_files / "2010-12-01.csv.gz").read_bytes()).decode()
    lines, seen = [text.splitlines()[0]], set()
    for line in text.splitlines()[1:]:
        if '"' not in line and line not in seen:
            seen.add(line)
            lines.append(line)
        if len(lines) == n + 1:
            break
    return lines


def _csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def _assert_conserved(m: dict) -> None:
    assert m["rows_in"] == m["rows_loaded"] + m["rows_duplicate"] + m["rows_quarantined"], m


# ---- real files --------------------------------------------------------------------------


def test_real_days_load_with_lineage_and_duplicates_counted(lake, day_files):
    days = [date(2010, 12, 1), date(2010, 12, 2), date(2010, 12, 3)]
    keys = {d: lake.put(f"{d}.csv.gz", (day_files / f"{d}.csv.gz").read_bytes(), d) for d in days}
    result = lake.load(days[0], days[-1])
    assert result.files_seen == 3 and result.files_rejected == 0

    for d, key in keys.items():
        rows = raw_rows(day_files / f"{d}.csv.gz")
        distinct = len({tuple(r.values()) for r in rows})
        m = lake.manifest(key)
        assert (m["rows_in"], m["rows_loaded"], m["rows_duplicate"], m["rows_quarantined"]) == (
            len(rows),
            distinct,
            len(rows) - distinct,
            0,
        )
        assert m["status"] == "loaded"

    # Lineage: row numbers point at the file's rows; the etag is the object's.
    first = raw_rows(day_files / "2010-12-02.csv.gz")[0]
    key = keys[date(2010, 12, 2)]
    row = lake.query(
        f'select "InvoiceNo", "StockCode", "Description", _source_etag, _run_id, _loaded_at '
        f"from {STAGING_TABLE} where _source_key = ? and _row_number = 1",
        [key],
    )[0]
    etag = hashlib.md5((day_files / "2010-12-02.csv.gz").read_bytes()).hexdigest()
    assert row == (first["InvoiceNo"], first["StockCode"], first["Description"], etag, "run-1", LOADED_AT)


def test_rerunning_three_times_leaves_staging_byte_identical(lake, day_files, tmp_path):
    for d in (date(2010, 12, 1), date(2010, 12, 2)):
        lake.put(f"{d}.csv.gz", (day_files / f"{d}.csv.gz").read_bytes(), d)

    def export() -> str:
        out = tmp_path / "export.csv"
        con = duckdb.connect(str(lake.warehouse), read_only=True)
        for table in (STAGING_TABLE, MANIFEST_TABLE, QUARANTINE_TABLE):
            con.execute(f"copy (select * from {table} order by all) to '{out}' (header)")
            digest = hashlib.sha256(out.read_bytes()).hexdigest()
            export.digests.append(digest)
        con.close()
        return "".join(export.digests[-3:])

    export.digests = []
    lake.load(date(2010, 12, 1), date(2010, 12, 2), run_id="run-1")
    first = export()
    for run in ("run-2", "run-3", "run-4"):
        result = lake.load(date(2010, 12, 1), date(2010, 12, 2), run_id=run)
        assert result.files_skipped == 2 and not result.files
        assert export() == first


def test_redelivered_file_replaces_its_rows(lake, day_files):
    lines = _real_lines(day_files)
    key = lake.put("part-1.csv", _csv(lines[:11]))
    lake.load()
    assert len(lake.staged(key)) == 10

    lake.put("part-1.csv", _csv(lines[:1] + lines[11:16]))  # same key, new content
    result = lake.load(run_id="run-2")
    assert [f.obj.key for f in result.files] == [key]
    staged = lake.staged(key)
    assert [r[0] for r in staged] == [line.split(",")[0] for line in lines[11:16]]
    statuses = lake.query(
        f"select status from {MANIFEST_TABLE} where key = ? order by loaded_at, status", [key]
    )
    assert sorted(s for (s,) in statuses) == ["loaded", "superseded"]


def test_replacing_a_file_keeps_a_row_another_file_had_as_duplicate(lake, day_files):
    lines = _real_lines(day_files, 6)
    a = lake.put("a.csv", _csv(lines[:4]))  # rows 1-3
    b = lake.put("b.csv", _csv([lines[0], lines[3], lines[4]]))  # row 3 again (duplicate), row 4
    lake.load()
    assert lake.manifest(b)["rows_duplicate"] == 1

    lake.put("a.csv", _csv(lines[:3]))  # A no longer has row 3: B's copy must now be the one staged
    lake.load(run_id="run-2")
    invoices = sorted(r[1] for r in lake.staged())  # StockCode is unique per line in these rows
    assert invoices == sorted(line.split(",")[1] for line in lines[1:5])
    assert lake.manifest(b)["rows_duplicate"] == 0
    assert lake.manifest(a)["rows_loaded"] == 2
    # One manifest row per file version: B (unchanged, reloaded) keeps one; A has two versions.
    versions = lake.query(f"select key, status from {MANIFEST_TABLE} order by key, status")
    assert versions == [(a, "loaded"), (a, "superseded"), (b, "loaded")]


def test_duplicates_within_a_file_and_against_loaded_rows_of_the_day(lake, day_files):
    lines = _real_lines(day_files, 5)
    first = lake.put("first.csv", _csv(lines[:4]))
    lake.load()
    second = lake.put("second.csv", _csv([lines[0], lines[1], lines[1], lines[5], lines[5]]))
    lake.load(run_id="run-2")
    m = lake.manifest(second)
    assert (m["rows_in"], m["rows_loaded"], m["rows_duplicate"]) == (4, 1, 3)
    assert lake.manifest(first)["rows_loaded"] == 3
    assert len(lake.staged()) == 4


def test_late_file_inside_the_lookback_window_is_loaded_once(lake, day_files):
    lines = _real_lines(day_files, 4)
    lake.put("on-time.csv", _csv(lines[:3]), date(2010, 12, 3))
    lake.load(date(2010, 12, 3), date(2010, 12, 3))
    late = lake.put("late.csv", _csv([lines[0], lines[3], lines[4]]), date(2010, 12, 1))
    # The next day's run sweeps back over its lookback window and finds only the late file new.
    result = lake.load(date(2010, 11, 29), date(2010, 12, 6), run_id="run-2")
    assert [f.obj.key for f in result.files] == [late] and result.files_skipped == 1
    assert lake.manifest(late)["rows_loaded"] == 2


def test_hundreds_of_small_files_of_one_day_load_together(lake, day_files):
    lines = _real_lines(day_files, 300)
    for i in range(300):
        lake.put(f"part-{i:04d}.csv", _csv([lines[0], lines[i + 1]]))
    result = lake.load()
    assert len(result.files) == 300 and result.rows_loaded == 300
    assert lake.query(f"select count(distinct _source_key), count(*) from {STAGING_TABLE}") == [(300, 300)]


def test_json_lines_and_parquet_load_like_csv(lake, day_files, tmp_path):
    lines = _real_lines(day_files, 6)
    header = lines[0].split(",")
    records = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:4]]
    body = "\n".join(json.dumps(r) for r in records) + "\n"
    jkey = lake.put("rows.jsonl.gz", gzip.compress(body.encode()))
    pq = tmp_path / "rows.parquet"
    con = duckdb.connect()
    con.execute(f"create table t ({', '.join(f'{c} varchar' for c in header)})")
    rows = [line.split(",") for line in lines[4:7]]
    con.executemany(f"insert into t values ({', '.join('?' for _ in header)})", rows)
    con.execute(f"copy t to '{pq}' (format parquet)")
    con.close()
    pkey = lake.put("rows.parquet", pq.read_bytes())
    lake.load()
    assert lake.manifest(jkey)["rows_loaded"] == 3 and lake.manifest(pkey)["rows_loaded"] == 3
    staged = {r[1] for r in lake.staged()}
    assert staged == {line.split(",")[1] for line in lines[1:7]}


def test_schema_drift_keeps_extra_columns_as_json(lake, day_files):
    lines = _real_lines(day_files, 2)
    key = lake.put("drift.csv", _csv([lines[0] + ",Channel", lines[1] + ",web", lines[2] + ",app"]))
    lake.load()
    extras = [
        json.loads(r[0]) for r in lake.query(f"select _extra from {STAGING_TABLE} order by _row_number")
    ]
    assert extras == [{"Channel": "web"}, {"Channel": "app"}]
    assert lake.manifest(key)["rows_loaded"] == 2


# ---- the bad-input suite: one case per kind of damage --------------------------------------


def _bad_row_cases():
    """(name, transform of the real lines, quarantined row numbers, reason fragment)."""
    return [
        ("too many columns", lambda ls: [*ls[:3], ls[3] + ",x", *ls[4:]], [3], "TOO MANY COLUMNS"),
        ("too few columns", lambda ls: [*ls[:3], "536365,85123A", *ls[4:]], [3], "MISSING COLUMNS"),
        ("bad quantity", lambda ls: [*ls[:2], _set_field(ls[2], 3, "six"), *ls[3:]], [2], "bad Quantity six"),
        (
            "bad unit price",
            lambda ls: [*ls[:2], _set_field(ls[2], 5, "2.55x"), *ls[3:]],
            [2],
            "bad UnitPrice 2.55x",
        ),
        (
            "bad timestamp",
            lambda ls: [*ls[:5], _set_field(ls[5], 4, "2010-13-01 08:26:00"), *ls[6:]],
            [5],
            "bad InvoiceDate",
        ),
        (
            "missing invoice",
            lambda ls: [*ls[:4], _set_field(ls[4], 0, ""), *ls[5:]],
            [4],
            "missing InvoiceNo",
        ),
        (
            "missing stock code",
            lambda ls: [*ls[:4], _set_field(ls[4], 1, " "), *ls[5:]],
            [4],
            "missing StockCode",
        ),
        (
            "missing timestamp",
            lambda ls: [*ls[:6], _set_field(ls[6], 4, ""), *ls[7:]],
            [6],
            "missing InvoiceDate",
        ),
        (
            "bad customer",
            lambda ls: [*ls[:7], _set_field(ls[7], 6, "17850.0a"), *ls[8:]],
            [7],
            "bad CustomerID",
        ),
        (
            "decimal quantity",
            lambda ls: [*ls[:8], _set_field(ls[8], 3, "1.5"), *ls[9:]],
            [8],
            "bad Quantity 1.5",
        ),
    ]


@pytest.mark.parametrize(
    "name, transform, bad_rows, reason", _bad_row_cases(), ids=[c[0] for c in _bad_row_cases()]
)
def test_bad_rows_are_quarantined_with_their_reason(lake, day_files, name, transform, bad_rows, reason):
    lines = transform(_real_lines(day_files))
    key = lake.put(f"{name.replace(' ', '-')}.csv", _csv(lines))
    lake.load()
    m = lake.manifest(key)
    _assert_conserved(m)
    assert m["status"] == "loaded"
    assert (m["rows_in"], m["rows_quarantined"]) == (len(lines) - 1, len(bad_rows))
    quarantined = lake.quarantined(key)
    assert [q[0] for q in quarantined] == bad_rows
    assert reason is None or reason in quarantined[0][1], quarantined
    # The good rows keep their own row numbers around the bad one.
    assert [r[11] for r in lake.staged(key)] == [n for n in range(1, len(lines)) if n not in bad_rows]


def test_malformed_json_lines_are_quarantined(lake, day_files):
    header = _real_lines(day_files, 1)[0].split(",")
    good = dict(zip(header, _real_lines(day_files, 1)[1].split(","), strict=True))
    body = json.dumps(good) + "\n{not json\n" + json.dumps({**good, "Quantity": "two"}) + "\n[1, 2]\n"
    key = lake.put("rows.jsonl", body.encode())
    lake.load()
    m = lake.manifest(key)
    _assert_conserved(m)
    assert (m["rows_in"], m["rows_loaded"], m["rows_quarantined"]) == (4, 1, 3)
    assert [(q[0], q[1]) for q in lake.quarantined(key)] == [
        (2, "malformed JSON line"),
        (3, "bad Quantity two"),
        (4, "the line is a JSON array, not an object"),
    ]


def _rejected_file_cases(day_files):
    lines = _real_lines(day_files, 5)
    real_gz = (day_files / "2010-12-01.csv.gz").read_bytes()
    return [
        ("empty.csv", b"", "empty file"),
        ("header-only.csv", _csv(lines[:1]), "no data rows"),
        ("truncated.csv.gz", real_gz[: len(real_gz) // 2], "truncated or corrupt gzip"),
        ("not-gzip.csv.gz", b"this is not gzip at all", "truncated or corrupt gzip"),
        ("sheet.xlsx", b"PK\x03\x04", "unknown format"),
        (
            "renamed.csv",
            _csv([lines[0].replace("UnitPrice", "Price"), *lines[1:]]),
            "missing required columns ['UnitPrice']",
        ),
        (
            "no-country.csv",
            _csv([",".join(x.split(",")[:7]) for x in lines]),
            "missing required columns ['Country']",
        ),
        ("corrupt.parquet", b"PAR1 not really parquet", "cannot read parquet"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_unreadable_files_are_rejected_and_the_rest_of_the_day_loads(lake, day_files, index):
    name, body, reason = _rejected_file_cases(day_files)[index]
    lines = _real_lines(day_files, 5)
    good = lake.put("good.csv", _csv(lines))
    bad = lake.put(name, body)
    result = lake.load()
    m = lake.manifest(bad)
    _assert_conserved(m)
    assert m["status"] == "rejected" and reason in m["reason"], m
    assert lake.manifest(good)["rows_loaded"] == 5
    assert result.files_rejected == 1
    assert not lake.staged(bad)


def test_a_crash_mid_load_leaves_the_warehouse_as_it_was(lake, s3_env, day_files):
    lake.put("2010-12-01.csv.gz", (day_files / "2010-12-01.csv.gz").read_bytes())
    lake.load()
    before = (lake.staged(), lake.query(f"select * from {MANIFEST_TABLE} order by all"))
    lake.put("2010-12-02.csv.gz", (day_files / "2010-12-02.csv.gz").read_bytes(), date(2010, 12, 2))

    code = (
        "import sys, boto3; from datetime import date, datetime; from pathlib import Path;"
        "from tests.unit.test_load import _load_in_subprocess; _load_in_subprocess()"
    )
    env = {**os.environ, "LAKEHOUSE_FAILPOINT": "load_before_commit", "TEST_WAREHOUSE": str(lake.warehouse)}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PYTHONPATH": str(root)}, cwd=root, check=False
    )
    assert proc.returncode == -9  # killed inside the transaction

    assert (lake.staged(), lake.query(f"select * from {MANIFEST_TABLE} order by all")) == before
    result = lake.load(date(2010, 12, 1), date(2010, 12, 2), run_id="run-3")
    assert [f.obj.day for f in result.files] == [date(2010, 12, 2)]


def _load_in_subprocess() -> None:
    """Body of the crash test's child process: load 2010-12-01..02 from the test bucket."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    bucket = os.environ["RAW_BUCKET"]
    found = list_raw_files(client, bucket, PREFIX, Batch(date(2010, 12, 1), date(2010, 12, 2)))
    load_from_s3(client, bucket, found, Path(os.environ["TEST_WAREHOUSE"]), "run-crash", LOADED_AT)


def test_a_warehouse_staged_before_the_manifest_is_upgraded(lake, day_files):
    """Staging written by the first loader (no `_extra`, no manifest) is migrated and reloaded."""
    key = lake.put("2010-12-01.csv.gz", (day_files / "2010-12-01.csv.gz").read_bytes())
    lake.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(lake.warehouse))
    con.execute("create schema staging")
    columns = ", ".join(f'"{c}" varchar' for c in RAW_COLUMNS)
    con.execute(
        f"create table {STAGING_TABLE} ({columns}, _source_key varchar, _source_etag varchar, "
        "_row_number bigint, _partition_date date, _loaded_at timestamp, _run_id varchar)"
    )
    con.execute(
        f"insert into {STAGING_TABLE} select *, ?, 'old', row_number() over (), ?, now(), 'old-run' "
        "from read_csv(?, all_varchar = true)",
        [key, DAY, str(day_files / "2010-12-01.csv.gz")],
    )
    con.close()
    lake.load()
    rows = raw_rows(day_files / "2010-12-01.csv.gz")
    distinct = len({tuple(r.values()) for r in rows})
    assert lake.manifest(key)["rows_loaded"] == distinct
    assert lake.query(f"select count(*), count(distinct _run_id) from {STAGING_TABLE}") == [(distinct, 1)]
