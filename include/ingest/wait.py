"""When has a batch's raw data landed? The rule behind the `wait_for_raw_files` sensor.

A batch is ready as soon as every day in it has at least one file. Days with no trading (the
shop never trades on Saturdays) never get a file, so once the landing grace period after the
batch's last day has passed the batch is ready with whatever landed, and a batch with no file
at all is skipped: there is nothing to load, and nothing downstream runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from include.pipeline.batch import Batch


@dataclass(frozen=True)
class WaitDecision:
    done: bool
    skip: bool
    message: str
    days_with_files: list[date] = field(default_factory=list)


def decide(batch: Batch, days_with_files: set[date], now: datetime, grace: timedelta) -> WaitDecision:
    present = sorted(d for d in days_with_files if d in batch)
    missing = [d for d in batch.days() if d not in days_with_files]
    if not missing:
        return WaitDecision(True, False, f"all {len(present)} days of {batch} have files", present)
    deadline = datetime.combine(batch.end_exclusive, time(), tzinfo=UTC) + grace
    if now < deadline:
        return WaitDecision(
            False,
            False,
            f"{len(missing)} of {len(batch.days())} days of {batch} have no file yet; "
            f"waiting until {deadline.isoformat()}",
            present,
        )
    if not present:
        return WaitDecision(
            True, True, f"no raw file landed for {batch} by {deadline.isoformat()}: nothing to load"
        )
    shown = ", ".join(d.isoformat() for d in missing[:10]) + (" ..." if len(missing) > 10 else "")
    return WaitDecision(
        True,
        False,
        f"{len(present)} days of {batch} have files; no file for {len(missing)} days ({shown}) "
        "after the grace period: loading what landed",
        present,
    )
