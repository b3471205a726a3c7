"""The raw landing contract: `<raw bucket>/<prefix>/invoice_date=YYYY-MM-DD/<file name>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_DAY_PART = re.compile(r"^invoice_date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class RawObject:
    key: str
    etag: str
    size: int
    day: date


def day_prefix(prefix: str, day: date) -> str:
    return f"{prefix}/invoice_date={day.isoformat()}/"


def raw_key(prefix: str, day: date, file_name: str) -> str:
    return day_prefix(prefix, day) + file_name


def day_of_key(prefix: str, key: str) -> date | None:
    """The invoice day a key belongs to, or None when the key is outside the layout."""
    head = prefix + "/"
    if not key.startswith(head):
        return None
    parts = key[len(head) :].split("/")
    if len(parts) != 2 or not parts[1]:
        return None
    match = _DAY_PART.match(parts[0])
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None
