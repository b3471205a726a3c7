from datetime import UTC, date, datetime

import pytest

from include.pipeline.batch import Batch, BatchError, resolve_batch


def test_scheduled_run_is_its_data_interval_day():
    batch = resolve_batch({}, datetime(2011, 3, 4, tzinfo=UTC), datetime(2011, 3, 5, tzinfo=UTC))
    assert (batch.start, batch.end) == (date(2011, 3, 4), date(2011, 3, 4))


def test_manual_run_with_zero_length_interval_is_that_day():
    # Airflow gives a manual daily run an interval of length zero.
    at = datetime(2011, 3, 4, tzinfo=UTC)
    assert resolve_batch({"start_date": None, "end_date": None}, at, at) == Batch(
        date(2011, 3, 4), date(2011, 3, 4)
    )


def test_params_override_the_interval():
    batch = resolve_batch(
        {"start_date": "2010-12-01", "end_date": "2010-12-09"},
        datetime(2011, 3, 4, tzinfo=UTC),
        datetime(2011, 3, 5, tzinfo=UTC),
    )
    assert batch == Batch(date(2010, 12, 1), date(2010, 12, 9))
    assert len(batch.days()) == 9
    assert batch.end_exclusive == date(2010, 12, 10)
    assert str(batch) == "2010-12-01..2010-12-09"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"start_date": "2010-12-01"}, "both"),
        ({"start_date": "2010-12-05", "end_date": "2010-12-01"}, "before its start"),
        ({"start_date": "12/01/2010", "end_date": "2010-12-02"}, "not a date"),
    ],
)
def test_bad_params_are_rejected_clearly(params, message):
    with pytest.raises(BatchError, match=message):
        resolve_batch(params, None, None)


def test_no_interval_and_no_params_is_an_error():
    with pytest.raises(BatchError, match="no data interval"):
        resolve_batch({}, None, None)


def test_membership():
    batch = Batch(date(2011, 1, 1), date(2011, 1, 3))
    assert date(2011, 1, 3) in batch
    assert date(2011, 1, 4) not in batch
    assert "2011-01-02" not in batch
