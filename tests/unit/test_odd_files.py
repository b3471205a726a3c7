"""Odd but realistic files, each through the real S3 code path and loader, one file per case.

Every expectation here is written by hand from the bytes the case builds: how many data rows
the file has (what `rows_in` must be), which rows a careful engineer would load, which belong
in quarantine and why. For every quarantined CSV or JSON Lines row the original bytes must be
kept (or, for a row too long to copy, where they are), and must be exactly the case's bytes.
Nothing loaded may be garbled: loaded text equals the text the case wrote.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

import duckdb
import pytest

from include.ingest.load import MANIFEST_TABLE, QUARANTINE_TABLE, STAGING_TABLE

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
COLUMNS = HEADER.split(",")


def row(code: str, description: str = "WHITE METAL LANTERN", **fields: str) -> str:
    """A CSV data row whose StockCode names it (every case's rows have distinct codes)."""
    values = {
        "InvoiceNo": "536365",
        "StockCode": code,
        "Description": description,
        "Quantity": "6",
        "InvoiceDate": "2010-12-01 08:26:00",
        "UnitPrice": "2.55",
        "CustomerID": "17850.0",
        "Country": "United Kingdom",
        **fields,
    }
    return ",".join(values[c] for c in COLUMNS)


def jrow(code: str, **fields) -> str:
    values = {c: v for c, v in zip(COLUMNS, row(code).split(","), strict=True)}
    values.update(fields)
    return json.dumps(values, ensure_ascii=False)


@dataclass
class Case:
    name: str  # the object's file name (its suffix is its format)
    body: bytes
    rows: int  # data rows in the file, counted by hand
    loaded: dict[str, str] = field(default_factory=dict)  # StockCode -> Description, as loaded
    quarantined: list[tuple[int, str, bytes]] = field(default_factory=list)  # row, reason, bytes
    rejected: str | None = None  # the whole file: a fragment of the reason


LONG = "X" * 3_000_000
LATIN1 = f"{HEADER}\n{row('A1', 'PLAIN')}\n{row('A2', 'CAFÉ CRÈME')}\n{row('A3', 'PLAIN TOO')}\n".encode(
    "latin-1"
)
CP1252 = f"{HEADER}\n{row('B1', '“QUOTED” TEXT')}\n{row('B2', 'OK')}\n".encode("cp1252")
UTF8_RAW = f"{row('J2', 'BAD')}".encode()


def _cases() -> list[Case]:
    good = row("G1", "WHITE HANGING HEART")
    return [
        # -- the three kinds the issue names -------------------------------------------------
        Case(
            "huge-field.csv",
            f"{HEADER}\n{good}\n{row('L1', chr(34) + LONG + chr(34))}\n{row('G2')}\n".encode(),
            rows=3,
            loaded={"G1": "WHITE HANGING HEART", "G2": "WHITE METAL LANTERN"},
            quarantined=[(2, "Maximum line size", row("L1", chr(34) + LONG + chr(34)).encode())],
        ),
        Case(
            "nested.jsonl",
            "\n".join(
                [
                    jrow("J1", Description={"en": "HEART", "fr": "COEUR"}),
                    jrow("J2", Quantity=[6]),
                    jrow("J3", meta={"channel": "web", "tags": [1, 2]}),
                    jrow("J4", Quantity=6, UnitPrice=2.55, CustomerID=17850),
                ]
            ).encode()
            + b"\n",
            rows=4,
            loaded={"J3": "WHITE METAL LANTERN", "J4": "WHITE METAL LANTERN"},
            quarantined=[
                (
                    1,
                    "Description is a JSON object, not a value",
                    jrow("J1", Description={"en": "HEART", "fr": "COEUR"}).encode(),
                ),
                (2, "Quantity is a JSON array, not a value", jrow("J2", Quantity=[6]).encode()),
            ],
        ),
        Case(
            "latin1.csv",
            LATIN1,
            rows=3,
            loaded={"A1": "PLAIN", "A3": "PLAIN TOO"},
            quarantined=[(2, "not UTF-8: byte 0xC9", row("A2", "CAFÉ CRÈME").encode("latin-1"))],
        ),
        # -- encodings and line structure ------------------------------------------------------
        Case(
            "cp1252.csv",
            CP1252,
            rows=2,
            loaded={"B2": "OK"},
            quarantined=[(1, "not UTF-8: byte 0x93", row("B1", "“QUOTED” TEXT").encode("cp1252"))],
        ),
        Case(
            "utf8.csv",
            f"{HEADER}\n{row('U1', 'CRÈME BRÛLÉE ÉTAGÈRE')}\n{row('U2', '陶瓷杯')}\n".encode(),
            rows=2,
            loaded={"U1": "CRÈME BRÛLÉE ÉTAGÈRE", "U2": "陶瓷杯"},
        ),
        Case(
            "bom.csv",
            b"\xef\xbb\xbf" + f"{HEADER}\n{row('M1')}\n".encode(),
            rows=1,
            loaded={"M1": "WHITE METAL LANTERN"},
        ),
        Case(
            "crlf.csv",
            f"{HEADER}\r\n{row('C1')}\r\n{row('C2')}\r\n".encode(),
            rows=2,
            loaded={"C1": "WHITE METAL LANTERN", "C2": "WHITE METAL LANTERN"},
        ),
        Case(
            "quoted-newline.csv",
            f"{HEADER}\n{row('Q1', chr(34) + 'SET 7 BABUSHKA' + chr(10) + 'NESTING BOXES' + chr(34))}\n"
            f"{row('Q2', 'AFTER IT')}\n".encode(),
            rows=2,
            loaded={"Q1": "SET 7 BABUSHKA\nNESTING BOXES", "Q2": "AFTER IT"},
        ),
        Case(
            "blank-lines.csv",
            f"{HEADER}\n{row('K1')}\n\n\n{row('K2')}".encode(),  # and no newline at the end
            rows=2,
            loaded={"K1": "WHITE METAL LANTERN", "K2": "WHITE METAL LANTERN"},
        ),
        Case(
            "unterminated-quote.csv",
            f"{HEADER}\n{row('T1')}\n{row('T2', chr(34) + 'POPPY')}\n{row('T3')}\n".encode(),
            # The open quote runs to the end of the file: one record, T3 inside it.
            rows=2,
            loaded={"T1": "WHITE METAL LANTERN"},
            quarantined=[(2, "unterminated quote", f"{row('T2', chr(34) + 'POPPY')}\n{row('T3')}".encode())],
        ),
        Case(
            "columns.csv",
            f"{HEADER}\n{row('N1')},extra\n{row('N2')}\n{','.join(row('N3').split(',')[:7])}\n".encode(),
            rows=3,
            loaded={"N2": "WHITE METAL LANTERN"},
            quarantined=[
                (1, "TOO MANY COLUMNS", f"{row('N1')},extra".encode()),
                (3, "MISSING COLUMNS", ",".join(row("N3").split(",")[:7]).encode()),
            ],
        ),
        Case(
            "nul.csv",
            f"{HEADER}\n{row('Z1', 'GLASS' + chr(0) + 'STAR')}\n{row('Z2')}\n".encode(),
            rows=2,
            loaded={"Z2": "WHITE METAL LANTERN"},
            quarantined=[(1, "a NUL character in Description", row("Z1", "GLASS\x00STAR").encode())],
        ),
        Case(
            "concatenated.csv",
            f"{HEADER}\n{row('H1')}\n{HEADER}\n{row('H2')}\n".encode(),
            rows=3,
            loaded={"H1": "WHITE METAL LANTERN", "H2": "WHITE METAL LANTERN"},
            quarantined=[(2, "the header line again", HEADER.encode())],
        ),
        Case(
            "numbers.csv",
            f"{HEADER}\n{row('O1', Quantity='99999999999999999999')}\n{row('O2', UnitPrice='1.2E+3')}\n"
            f"{row('O3', Quantity=' 7 ')}\n".encode(),
            rows=3,
            loaded={"O3": "WHITE METAL LANTERN"},
            quarantined=[
                (1, "bad Quantity 99999999999999999999", row("O1", Quantity="99999999999999999999").encode()),
                (2, "bad UnitPrice 1.2E+3", row("O2", UnitPrice="1.2E+3").encode()),
            ],
        ),
        Case(
            "reordered-extra.csv",
            (
                "Channel,Country,InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
                "web,France,536370,R1,CAFÉ,3,2010-12-01 08:45:00,3.75,12583.0\n"
            ).encode(),
            rows=1,
            loaded={"R1": "CAFÉ"},
        ),
        # -- JSON Lines ----------------------------------------------------------------------------
        Case(
            "odd.jsonl",
            (
                jrow("J1").encode()
                + b"\n\n   \n"
                + jrow("J2", Description="CAF\udcc9").encode("utf-8", "surrogateescape")
                + b"\n[1, 2]\n"
                + b'{"StockCode": "J4", "StockCode": "J5"}\n'
                + jrow("J6").encode()
                + b"\n"
            ),
            rows=5,  # lines 1, 4, 5, 6 and 7; lines 2 and 3 are blank
            loaded={"J1": "WHITE METAL LANTERN", "J6": "WHITE METAL LANTERN"},
            quarantined=[
                (
                    4,
                    "not UTF-8: byte 0xC9",
                    jrow("J2", Description="CAF\udcc9").encode("utf-8", "surrogateescape"),
                ),
                (5, "the line is a JSON array, not an object", b"[1, 2]"),
                (6, "a field name repeats", b'{"StockCode": "J4", "StockCode": "J5"}'),
            ],
        ),
        # -- whole files that cannot hold contract rows --------------------------------------
        Case("utf16.csv", f"{HEADER}\n{row('W1')}\n".encode("utf-16"), rows=0, rejected="UTF-16"),
        Case(
            "semicolons.csv",
            f"{HEADER.replace(',', ';')}\n{row('S1').replace(',', ';')}\n".encode(),
            rows=0,
            rejected="separated by ';'",
        ),
        Case("header-only.csv", f"{HEADER}\n".encode(), rows=0, rejected="no data rows"),
        Case("empty.csv", b"", rows=0, rejected="empty file"),
        Case(
            "truncated.csv.gz",
            gzip.compress(f"{HEADER}\n{row('X1')}\n{row('X2')}\n".encode())[:-12],
            rows=0,
            rejected="truncated or corrupt gzip",
        ),
    ]


def _staged(lake, key: str) -> dict[str, str]:
    rows = lake.query(f'select "StockCode", "Description" from {STAGING_TABLE} where _source_key = ?', [key])
    return dict(rows)


def _decompressed(case: Case) -> bytes:
    return gzip.decompress(case.body) if case.name.endswith(".gz") else case.body


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.name)
def test_an_odd_file_is_loaded_or_quarantined_row_by_row(lake, case):
    key = lake.put(case.name, case.body)
    lake.load()
    m = lake.manifest(key)
    if case.rejected:
        assert m["status"] == "rejected" and case.rejected in m["reason"], m
        assert lake.staged(key) == [] and lake.quarantined(key) == []
        return
    assert m["status"] == "loaded", m
    # rows_in is the hand count; each part is what the tables hold for this file version.
    assert m["rows_in"] == case.rows, m
    assert m["rows_loaded"] == len(lake.staged(key)) == len(case.loaded), m
    assert m["rows_quarantined"] == len(lake.quarantined(key)) == len(case.quarantined), m
    assert m["rows_in"] == m["rows_loaded"] + m["rows_duplicate"] + m["rows_quarantined"], m
    # Loaded rows hold exactly the text the file has.
    assert _staged(lake, key) == case.loaded
    # Quarantined rows: the row, a reason naming the real problem, the original bytes.
    found = lake.query(
        f"select row_number, reason, raw_bytes, byte_offset, byte_length from {QUARANTINE_TABLE} "
        "where key = ? order by row_number",
        [key],
    )
    body = _decompressed(case)
    for (number, reason, raw, offset, length), (want_number, want_reason, want_bytes) in zip(
        found, case.quarantined, strict=True
    ):
        assert number == want_number, found
        assert want_reason in reason, reason
        if case.name.endswith((".csv", ".jsonl")):
            # Where the row is in the file version, and its bytes (a row too long to copy is
            # only pointed to, and the reason says where).
            assert body[offset : offset + length] == want_bytes
            if length > 1 << 20:
                assert raw is None and f"bytes {offset:,} to {offset + length:,}" in reason, reason
            else:
                assert raw == want_bytes


def test_a_row_too_long_to_copy_keeps_a_preview_and_its_place(lake):
    case = _cases()[0]
    key = lake.put(case.name, case.body)
    lake.load()
    [(preview, reason)] = lake.query(
        f"select raw_content, reason from {QUARANTINE_TABLE} where key = ?", [key]
    )
    assert preview.startswith('536365,L1,"XXXX') and len(preview) < 100_000
    assert "Maximum line size of 2000000 bytes exceeded" in reason  # the real problem, not "missing ..."


def test_a_file_whose_bulk_read_loses_rows_is_read_again_alone(lake):
    """DuckDB 1.5's multi-file CSV read drops a rejected unterminated-quote line, and the
    rows after it, when it reads many files at once (seen with 15 files). The independent
    count catches the shortfall; the file is read again alone and its rows are all there."""
    names = []
    for i in range(15):
        names.append(
            lake.put(f"plain-{i:02d}.csv", f"{HEADER}\n{row(f'P{i}')}\n{row(f'P{i}x', 'EXTRA')}\n".encode())
        )
    key = lake.put(
        "zz-unterminated.csv",
        f"{HEADER}\n{row('T1')}\n{row('T2', chr(34) + 'POPPY')}\n{row('T3')}\n".encode(),
    )
    lake.load()
    m = lake.manifest(key)
    assert (m["status"], m["rows_in"], m["rows_loaded"], m["rows_quarantined"]) == ("loaded", 2, 1, 1), m
    assert [q[1] for q in lake.quarantined(key)] == [
        "malformed CSV line: UNQUOTED VALUE: Value with unterminated quote found."
    ]
    for name in names:
        assert lake.manifest(name)["rows_loaded"] == 2


def test_a_quarantined_row_can_be_repaired_and_replayed(lake):
    """What the README tells an operator to do: take the original bytes, fix them, land them
    as a new file of the same day; the fixed row loads, the quarantined one stays recorded."""
    key = lake.put("latin1.csv", LATIN1)
    lake.load()
    [(raw,)] = lake.query(f"select raw_bytes from {QUARANTINE_TABLE} where key = ?", [key])
    fixed = raw.decode("cp1252").encode("utf-8")
    replay = lake.put("latin1-replayed.csv", HEADER.encode() + b"\n" + fixed + b"\n")
    lake.load(run_id="run-2")
    assert _staged(lake, replay) == {"A2": "CAFÉ CRÈME"}
    assert lake.manifest(key)["rows_quarantined"] == 1
    counts = lake.query(f"select sum(rows_in), sum(rows_loaded), sum(rows_quarantined) from {MANIFEST_TABLE}")
    assert counts == [(4, 3, 1)]


def test_quarantine_of_an_older_warehouse_gains_the_byte_columns(lake, tmp_path):
    con = duckdb.connect(str(lake.warehouse))
    con.execute("create schema quarantine")
    con.execute(
        f"create table {QUARANTINE_TABLE} (key varchar not null, etag varchar not null, partition_date date "
        "not null, row_number bigint, raw_content varchar, reason varchar not null, run_id varchar not null, "
        "quarantined_at timestamp not null)"
    )
    con.close()
    key = lake.put("latin1.csv", LATIN1)
    lake.load()
    assert lake.query(f"select raw_bytes is not null from {QUARANTINE_TABLE} where key = ?", [key]) == [
        (True,)
    ]


def test_a_file_whose_rows_cannot_be_accounted_for_is_rejected_whole(lake, monkeypatch):
    """If the bulk read and the independent count disagree even when the file is read alone,
    nothing of the file is loaded and the manifest says why (both counts)."""
    from include.ingest import load

    real = load.count_rows
    monkeypatch.setattr(load, "count_rows", lambda fmt, path: real(fmt, path) + 1)
    key = lake.put("plain.csv", f"{HEADER}\n{row('V1')}\n{row('V2')}\n".encode())
    lake.load()
    m = lake.manifest(key)
    assert m["status"] == "rejected" and "rows could not be accounted for" in m["reason"], m
    assert "has 3 data rows" in m["reason"] and "returned 2" in m["reason"], m
    assert lake.staged(key) == [] and lake.quarantined(key) == []
