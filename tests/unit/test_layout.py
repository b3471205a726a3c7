from datetime import date

import pytest

from include.storage.layout import day_of_key, day_prefix, raw_key


def test_key_round_trip():
    key = raw_key("online_retail", date(2010, 12, 1), "2010-12-01.csv.gz")
    assert key == "online_retail/invoice_date=2010-12-01/2010-12-01.csv.gz"
    assert day_of_key("online_retail", key) == date(2010, 12, 1)
    assert day_prefix("online_retail", date(2010, 12, 1)) == "online_retail/invoice_date=2010-12-01/"


@pytest.mark.parametrize(
    "key",
    [
        "other/invoice_date=2010-12-01/a.csv",
        "online_retail/invoice_date=2010-12-01/",
        "online_retail/invoice_date=2010-12-01/sub/a.csv",
        "online_retail/day=2010-12-01/a.csv",
        "online_retail/invoice_date=2010-13-01/a.csv",
        "online_retail/a.csv",
    ],
)
def test_keys_outside_the_layout_have_no_day(key):
    assert day_of_key("online_retail", key) is None
