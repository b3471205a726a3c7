from datetime import UTC, date, datetime, timedelta

from include.ingest.wait import decide
from include.pipeline.batch import Batch

GRACE = timedelta(hours=6)
BATCH = Batch(date(2011, 5, 6), date(2011, 5, 8))  # Fri..Sun; the shop never trades on Saturday


def test_ready_when_every_day_has_a_file():
    decision = decide(BATCH, set(BATCH.days()), datetime(2011, 5, 8, 1, tzinfo=UTC), GRACE)
    assert decision.done and not decision.skip
    assert decision.days_with_files == BATCH.days()


def test_waits_for_missing_days_until_the_grace_period_ends():
    some = {date(2011, 5, 6), date(2011, 5, 8)}
    before = datetime(2011, 5, 9, 5, 59, tzinfo=UTC)
    decision = decide(BATCH, some, before, GRACE)
    assert not decision.done
    assert "1 of 3 days" in decision.message


def test_goes_on_with_what_landed_after_the_grace_period():
    some = {date(2011, 5, 6), date(2011, 5, 8)}
    decision = decide(BATCH, some, datetime(2011, 5, 9, 6, tzinfo=UTC), GRACE)
    assert decision.done and not decision.skip
    assert "2011-05-07" in decision.message
    assert decision.days_with_files == sorted(some)


def test_skips_a_batch_without_any_file_after_the_grace_period():
    decision = decide(BATCH, set(), datetime(2026, 1, 1, tzinfo=UTC), GRACE)
    assert decision.done and decision.skip
    assert "nothing to load" in decision.message


def test_files_outside_the_batch_do_not_count():
    decision = decide(BATCH, {date(2011, 5, 9)}, datetime(2011, 5, 8, tzinfo=UTC), GRACE)
    assert not decision.done
    assert decision.days_with_files == []
