"""A batch is the inclusive range of invoice days one DAG run processes.

A scheduled run's batch is its data interval (one day). A manual run may span a range through
the `start_date`/`end_date` params, so `make run` loads months in one DAG run instead of one
run per day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any


class BatchError(ValueError):
    """The run's params do not describe a valid batch."""


@dataclass(frozen=True)
class Batch:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise BatchError(f"batch end {self.end} is before its start {self.start}")

    @property
    def end_exclusive(self) -> date:
        return self.end + timedelta(days=1)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _parse_day(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise BatchError(f"param {name}={value!r} is not a date (YYYY-MM-DD)") from exc


def resolve_batch(
    params: Mapping[str, Any],
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
) -> Batch:
    """The batch for a run: explicit params win, else the data interval [start, end)."""
    start = _parse_day(params.get("start_date"), "start_date")
    end = _parse_day(params.get("end_date"), "end_date")
    if start or end:
        if not (start and end):
            raise BatchError("give both start_date and end_date, or neither")
        return Batch(start, end)
    if data_interval_start is None or data_interval_end is None:
        raise BatchError("run has no data interval and no start_date/end_date params")
    last = data_interval_end - timedelta(microseconds=1)
    return Batch(data_interval_start.date(), max(last.date(), data_interval_start.date()))
