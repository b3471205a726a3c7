"""List the raw files of a batch with one paginated listing, not one call per day."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from include.pipeline.batch import Batch
from include.storage.layout import RawObject, day_of_key, day_prefix

log = logging.getLogger(__name__)


def list_raw_files(client: Any, bucket: str, prefix: str, batch: Batch) -> dict:
    """Map each day of `batch` that has files to its objects, sorted by key.

    `client` is a boto3 S3 client (the Airflow S3Hook's `get_conn()`). Keys under the prefix
    that do not follow the layout are logged and left alone.
    """
    found: dict = defaultdict(list)
    paginator = client.get_paginator("list_objects_v2")
    # "<day prefix without its slash>0" sorts after every key of that day ('/' < '0') and
    # before the next day's keys, so the listing starts and stops at the batch's edges.
    start_after = day_prefix(prefix, batch.start - timedelta(days=1))[:-1] + "0"
    stop_after = day_prefix(prefix, batch.end)[:-1] + "0"
    pages = paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/", StartAfter=start_after)
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key > stop_after:
                return dict(found)
            day = day_of_key(prefix, key)
            if day is None:
                log.warning("ignoring s3://%s/%s: not in the landing layout", bucket, key)
                continue
            if day in batch:
                found[day].append(
                    RawObject(key=key, etag=obj["ETag"].strip('"'), size=int(obj["Size"]), day=day)
                )
    return dict(found)
