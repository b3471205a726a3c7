"""Raw file formats of the landing contract and the cheap checks made before a bulk read."""

from __future__ import annotations

import csv
import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Python's csv module is the loader's independent reader: no field is too long for it.
csv.field_size_limit(sys.maxsize)

REQUIRED_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

CSV, JSONL, PARQUET = "csv", "jsonl", "parquet"
_SUFFIXES = (
    (".csv.gz", CSV),
    (".csv", CSV),
    (".jsonl.gz", JSONL),
    (".ndjson.gz", JSONL),
    (".jsonl", JSONL),
    (".ndjson", JSONL),
    (".parquet", PARQUET),
)


def detect_format(key: str) -> str | None:
    """The format a key's name declares, or None when it is not one the contract allows."""
    name = key.lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    return None


class FileRejected(Exception):
    """A whole file cannot be loaded; the message is the reason recorded in the manifest."""


@dataclass(frozen=True)
class CsvHeader:
    columns: tuple[str, ...]

    @property
    def extra(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in REQUIRED_COLUMNS)


def missing_required(columns: tuple[str, ...] | list[str]) -> list[str]:
    return [c for c in REQUIRED_COLUMNS if c not in columns]


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def csv_header(path: Path) -> CsvHeader:
    """Read a CSV file's header line; reject files that cannot hold contract rows."""
    if path.stat().st_size == 0:
        raise FileRejected("empty file (0 bytes)")
    try:
        with _open(path) as raw:
            first = raw.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"cannot decompress: {exc}") from exc
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected("UTF-16 text (it starts with a UTF-16 byte-order mark): the contract is UTF-8")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"header is not UTF-8: {exc}") from exc
    if not text.strip():
        raise FileRejected("empty file (no header)")
    columns = tuple(c.strip() for c in next(csv.reader(io.StringIO(text))))
    if len(set(columns)) != len(columns):
        raise FileRejected(f"duplicate column names in header {list(columns)}")
    missing = missing_required(columns)
    if missing:
        for delimiter in (";", "\t", "|"):
            if len(columns) == 1 and not missing_required([c.strip() for c in text.split(delimiter)]):
                raise FileRejected(f"columns are separated by {delimiter!r}: the contract's delimiter is ','")
        raise FileRejected(f"missing required columns {missing} (header {list(columns)})")
    return CsvHeader(columns)


# ---- the independent reader ----------------------------------------------------------------
#
# DuckDB reads the files in bulk; these functions read them again with Python's own csv module
# (CSV) or line by line (JSON Lines), so that every file's rows are counted by code that shares
# nothing with the bulk read: rows_in comes from here, and a bulk read that returns fewer or
# more rows than this count is caught. They also cut out a row's original bytes for quarantine.


class _Lines:
    """Binary lines decoded for the csv module (undecodable bytes kept as surrogates), with the
    byte offset reached so far: after the csv module returns a record, it is the record's end."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.offset = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.raw.readline()
        if not line:
            raise StopIteration
        self.offset += len(line)
        return line.decode("utf-8", "surrogateescape")


def csv_records(path: Path) -> Iterator[tuple[int, int, int]]:
    """(data row number, start, end) byte spans in the decompressed file of every data record
    (the header and blank lines are not records); a record may span lines (quoted newlines)."""
    with _open(path) as raw:
        lines = _Lines(raw)
        reader = csv.reader(lines)
        start = 0
        number = -1  # the header is record 0
        for record in reader:
            end = lines.offset
            if record:
                number += 1
                if number > 0:
                    yield number, start, end
            start = end


def jsonl_records(path: Path) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) of every physical line of a JSON Lines file."""
    with _open(path) as raw:
        offset = 0
        for number, line in enumerate(raw, start=1):
            start, offset = offset, offset + len(line)
            yield number, start, offset


def count_rows(fmt: str, path: Path) -> int:
    """Data rows of a CSV file (records after the header) or a JSON Lines file (lines with
    something but blanks on them), counted by the independent reader."""
    if fmt == CSV:
        with _open(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
            rows = sum(1 for record in csv.reader(text) if record)
        return max(rows - 1, 0)
    with _open(path) as raw:
        return sum(1 for line in raw if line.strip())


Span = tuple[int, int, bytes | None]  # byte offset, byte length, the bytes (None: too long)


def record_bytes(fmt: str, path: Path, numbers: set[int], limit: int) -> dict[int, Span]:
    """Row number -> (byte offset, byte length, the row's original bytes without its line
    ending, or None when longer than `limit`) for the requested rows of a CSV/JSON Lines file."""
    found: dict[int, Span] = {}
    if not numbers:
        return found
    spans = csv_records(path) if fmt == CSV else jsonl_records(path)
    wanted = {}
    for number, start, end in spans:
        if number in numbers:
            wanted[number] = (start, end)
            if len(wanted) == len(numbers):
                break
    with _open(path) as raw:
        for number, (start, end) in sorted(wanted.items(), key=lambda item: item[1]):
            if end - start > limit:  # not copied: its length without the line ending
                raw.seek(max(start, end - 2))
                ending = raw.read(end - max(start, end - 2))
                found[number] = (start, end - start - (len(ending) - len(ending.rstrip(b"\r\n"))), None)
                continue
            raw.seek(start)
            body = raw.read(end - start).rstrip(b"\r\n")
            found[number] = (start, len(body), body)
    return found
