"""Landing and listing against a real S3-compatible server (the local stand-in)."""

from datetime import date

import pytest

from include.pipeline.batch import Batch
from include.storage import landing
from include.storage.listing import list_raw_files


def test_land_then_list_a_range(s3_env, s3_client, day_files):
    client = landing.minio_client_from_env()
    bucket = s3_env["RAW_BUCKET"]
    assert landing.ensure_buckets(client, [bucket]) == [bucket]
    assert landing.ensure_buckets(client, [bucket]) == []  # idempotent

    week = Batch(date(2010, 12, 1), date(2010, 12, 7))
    files = landing.source_day_files(day_files, week)
    # 2010-12-04 is a Saturday: no trading, no file.
    assert sorted(files) == [date(2010, 12, d) for d in (1, 2, 3, 5, 6, 7)]
    assert landing.land_files(client, bucket, "online_retail", files) == 6

    # A stray key and a neighbouring day must not leak into the listing.
    s3_client.put_object(Bucket=bucket, Key="online_retail/README.txt", Body=b"x")
    s3_client.put_object(Bucket=bucket, Key="online_retail/invoice_date=2010-12-08/x.csv", Body=b"x")
    s3_client.put_object(Bucket=bucket, Key="online_retail/invoice_date=2010-11-30/x.csv", Body=b"x")

    listed = list_raw_files(s3_client, bucket, "online_retail", Batch(date(2010, 12, 2), date(2010, 12, 6)))
    assert sorted(listed) == [date(2010, 12, d) for d in (2, 3, 5, 6)]
    obj = listed[date(2010, 12, 2)][0]
    assert obj.key == "online_retail/invoice_date=2010-12-02/2010-12-02.csv.gz"
    assert obj.size == (day_files / "2010-12-02.csv.gz").stat().st_size
    assert obj.etag and '"' not in obj.etag


def test_listing_pages_through_many_files(s3_env, s3_client):
    bucket = s3_env["RAW_BUCKET"]
    s3_client.create_bucket(Bucket=bucket)
    for i in range(1005):  # more than one page of 1000 keys
        s3_client.put_object(
            Bucket=bucket, Key=f"online_retail/invoice_date=2011-01-05/part-{i:04d}.csv", Body=b""
        )
    listed = list_raw_files(s3_client, bucket, "online_retail", Batch(date(2011, 1, 5), date(2011, 1, 5)))
    assert len(listed[date(2011, 1, 5)]) == 1005


def test_source_folder_in_landing_layout(tmp_path):
    day_dir = tmp_path / "invoice_date=2011-02-01"
    day_dir.mkdir()
    (day_dir / "a.csv").write_text("x")
    (day_dir / "b.csv").write_text("x")
    (tmp_path / "2011-02-02.csv").write_text("x")
    files = landing.source_day_files(tmp_path, Batch(date(2011, 2, 1), date(2011, 2, 1)))
    assert [p.name for p in files[date(2011, 2, 1)]] == ["a.csv", "b.csv"]


def test_missing_source_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        landing.source_day_files(tmp_path / "nope", Batch(date(2011, 2, 1), date(2011, 2, 1)))


def test_bad_endpoint_settings_are_a_clear_error(monkeypatch):
    monkeypatch.setenv("S3_ENDPOINT_URL", "127.0.0.1:9000")
    with pytest.raises(landing.S3SettingsError, match="not an http"):
        landing.minio_client_from_env()
