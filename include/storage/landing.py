"""Land day files from a local folder into the raw bucket (what an upstream exporter does).

Used by `make run` and the tests; the DAG never calls it. A source folder holds either day
files named `YYYY-MM-DD<anything>` (the shipped history: `2010-12-01.csv.gz`) or folders
already in the landing layout (`invoice_date=YYYY-MM-DD/<files>`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from include.pipeline.batch import Batch
from include.storage.layout import raw_key

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})[^/]*$")
_DAY_DIR = re.compile(r"^invoice_date=(\d{4}-\d{2}-\d{2})$")


class S3SettingsError(RuntimeError):
    """The S3 endpoint settings are missing or malformed."""


def source_day_files(source: Path, batch: Batch) -> dict[date, list[Path]]:
    """The files of `source` that belong to the days of `batch`, by day."""
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist")
    found: dict[date, list[Path]] = defaultdict(list)
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and (m := _DAY_FILE.match(entry.name)):
            day = date.fromisoformat(m.group(1))
            if day in batch:
                found[day].append(entry)
        elif entry.is_dir() and (m := _DAY_DIR.match(entry.name)):
            day = date.fromisoformat(m.group(1))
            if day in batch:
                found[day].extend(p for p in sorted(entry.iterdir()) if p.is_file())
    return dict(found)


def minio_client_from_env():
    """A `minio.Minio` client for S3_ENDPOINT_URL with S3_ACCESS_KEY / S3_SECRET_KEY."""
    from minio import Minio

    from include.config import environment

    env = environment()
    endpoint = env.get("S3_ENDPOINT_URL", "")
    access_key = env.get("S3_ACCESS_KEY", "")
    secret_key = env.get("S3_SECRET_KEY", "")
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise S3SettingsError(f"S3_ENDPOINT_URL={endpoint!r} is not an http(s) URL")
    if not access_key or not secret_key:
        raise S3SettingsError("S3_ACCESS_KEY and S3_SECRET_KEY must be set (see .env.example)")
    return Minio(
        url.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=url.scheme == "https",
        region=env.get("S3_REGION") or "us-east-1",
    )


def ensure_buckets(client, names: list[str]) -> list[str]:
    """Create the buckets that do not exist yet; return the ones created."""
    created = []
    for name in names:
        if not client.bucket_exists(name):
            client.make_bucket(name)
            created.append(name)
    return created


def land_files(client, bucket: str, prefix: str, files_by_day: dict[date, list[Path]]) -> int:
    """Upload every file to its landing key; re-landing the same bytes is harmless."""
    count = 0
    for day in sorted(files_by_day):
        for path in files_by_day[day]:
            client.fput_object(bucket, raw_key(prefix, day, path.name), str(path))
            count += 1
    return count
