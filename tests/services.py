"""The machine's own services and tools that some tests need (PostgreSQL, Redis, the compose
validator): where they are, and what a test does without them.

Without one, a test skips and says what is missing. LAKEHOUSE_NO_SKIP=1 (which `.ci/run`
sets) turns that skip into a failure, so CI cannot pass without running them.
"""

from __future__ import annotations

import os

import pytest

NO_SKIP_FLAG = "LAKEHOUSE_NO_SKIP"
POSTGRES_URL = os.environ.get("SCALEOUT_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("SCALEOUT_REDIS_URL") or "redis://127.0.0.1:6379/0"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(NO_SKIP_FLAG) == "1":
        pytest.fail(f"{reason} ({NO_SKIP_FLAG}=1: this test must run here)")
    pytest.skip(reason)


def postgres_problem() -> str | None:
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"no PostgreSQL at {POSTGRES_URL} ({str(exc).strip()})"
    return None


def redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"no Redis at {REDIS_URL} ({exc})"
    return None


def require_postgres_and_redis(what: str) -> None:
    problems = [p for p in (postgres_problem(), redis_problem()) if p]
    if problems:
        skip_or_fail(
            f"{what} needs PostgreSQL and Redis: {'; '.join(problems)}. Set SCALEOUT_POSTGRES_URL / "
            "SCALEOUT_REDIS_URL, or see README, 'Scaling out'"
        )


def require_postgres(what: str) -> None:
    problem = postgres_problem()
    if problem:
        skip_or_fail(f"{what} needs PostgreSQL: {problem}. Set SCALEOUT_POSTGRES_URL")
