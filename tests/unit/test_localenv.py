"""The Airflow environment every local command, test and container starts from."""

from __future__ import annotations

import json

import pytest

from include.config import settings
from include.localenv import airflow_env, write_admin_password


def _env(tmp_path, **extra) -> dict[str, str]:
    return airflow_env(settings(), {"AIRFLOW_HOME": str(tmp_path / "home"), "PATH": "/usr/bin", **extra})


def test_default_is_local_executor_on_sqlite_in_the_airflow_home(tmp_path):
    env = _env(tmp_path)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'home'}/airflow.db"
    assert "AIRFLOW__CELERY__BROKER_URL" not in env


def test_celery_takes_the_database_and_broker_from_the_platform_settings(tmp_path):
    env = _env(
        tmp_path,
        AIRFLOW_EXECUTOR="CeleryExecutor",
        AIRFLOW_DATABASE_URL="postgresql+psycopg2://a:b@db:5432/airflow",
        CELERY_BROKER_URL="redis://broker:6379/0",
        AIRFLOW_JWT_SECRET="shared",
    )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://a:b@db:5432/airflow"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://broker:6379/0"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "shared"


def test_airflow_own_variables_win_over_the_platform_settings(tmp_path):
    env = _env(
        tmp_path,
        AIRFLOW_EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__API__HOST="0.0.0.0",
    )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__API__HOST"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "PostgreSQL metadata database"),
        # .env.example's broker is the local Redis: a broker set empty is no broker.
        (
            {"AIRFLOW_DATABASE_URL": "postgresql+psycopg2://127.0.0.1/airflow", "CELERY_BROKER_URL": ""},
            "needs a broker",
        ),
    ],
)
def test_celery_without_its_services_is_a_clear_error(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        _env(tmp_path, AIRFLOW_EXECUTOR="CeleryExecutor", **extra)


def test_the_admin_password_comes_from_the_environment_and_keeps_other_users(tmp_path):
    env = _env(tmp_path, AIRFLOW_ADMIN_PASSWORD="s3cret")
    path = tmp_path / "home" / "simple_auth_manager_passwords.json.generated"
    path.write_text(json.dumps({"admin": "generated", "viewer": "v"}))
    assert write_admin_password(env) == path
    assert json.loads(path.read_text()) == {"admin": "s3cret", "viewer": "v"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert write_admin_password(_env(tmp_path, AIRFLOW_ADMIN_PASSWORD="")) is None
