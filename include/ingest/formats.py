"""Raw file formats of the landing contract and the cheap checks made before a bulk read."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

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


def csv_header(path: Path) -> CsvHeader:
    """Read a CSV file's header line; reject files that cannot hold contract rows."""
    if path.stat().st_size == 0:
        raise FileRejected("empty file (0 bytes)")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            first = raw.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"cannot decompress: {exc}") from exc
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
        raise FileRejected(f"missing required columns {missing} (header {list(columns)})")
    return CsvHeader(columns)


def check_gzip(path: Path) -> None:
    """Reject a gzip file that is truncated or corrupt (DuckDB would read up to the damage)."""
    if not path.name.lower().endswith(".gz"):
        return
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"truncated or corrupt gzip: {exc}") from exc
