"""The Docker Compose stack's files, checked statically (the stack itself runs for real in
tests/stack).

These checks run against the real files and the real code, in seconds and without a Docker
engine: the compose file and the Dockerfile are parsed; the requirement files the image
installs are compared with the ones `make setup` installs (both read from make's own dry
run); every command a container runs is parsed by the project's CLI or asked for `--help` by
the pinned Airflow; ports and paths are compared with the settings the code computes; Docker
Compose v2 validates the file; the PostgreSQL init script runs against a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.services import POSTGRES_URL, require_postgres, skip_or_fail

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
AIRFLOW_BIN = PROJECT_ROOT / ".venv" / "airflow" / "bin"
ONE_SHOT = {"airflow-init", "minio-init", "superset-init"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value
    return values


def _interpolate(value: str, env: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: env[m.group(1)], value).replace("$$", "$")


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def _commands(service: dict) -> list[list[str]]:
    """Every command line a service's container runs: entrypoint + command, healthcheck."""
    lines = []
    entrypoint = service.get("entrypoint") or []
    command = service.get("command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    if entrypoint == ["/bin/bash", "-c"]:
        lines += [shlex.split(part) for part in re.split(r"&&|;", command[0])]
    elif entrypoint or "build" in service:
        lines.append([*entrypoint, *command])
    # else: a public image's command holds arguments to that image's own entrypoint.
    test = (service.get("healthcheck") or {}).get("test") or []
    if test[:1] == ["CMD"]:
        lines.append(test[1:])
    elif test[:1] == ["CMD-SHELL"]:
        lines.append(shlex.split(test[1]))
    return [line for line in lines if line]


def _dockerfile_stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = None
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = line.split()[-1]
            stages[current] = []
        if current:
            stages[current].append(line)
    return stages


def _synced_requirements(make_args: list[str]) -> dict[str, list[str]]:
    """Which requirement files `make` would sync into which venv (make's own dry run)."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *make_args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    synced = {}
    for line in out.splitlines():
        match = re.search(r"pip sync .*--python \S*\.venv/(\w+)/bin/python (.+)$", line)
        if match:
            synced[match.group(1)] = match.group(2).split()
    return synced


# ---- structure ---------------------------------------------------------------------------


def test_every_long_running_service_has_a_healthcheck_and_restarts(services):
    long_running = set(services) - ONE_SHOT
    assert {"minio", "postgres", "redis", "superset"} <= long_running
    assert {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    } <= long_running
    for name in long_running:
        service = services[name]
        assert (service.get("healthcheck") or {}).get("test"), f"{name} has no healthcheck"
        assert service.get("restart") == "always", name
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", name
        assert "healthcheck" not in services[name], name


def test_one_shot_init_services_gate_what_needs_them(services):
    needs = {
        "airflow-init": {
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
            "airflow-worker",
        },
        "minio-init": {"airflow-scheduler", "airflow-worker"},
        "superset-init": {"superset"},
    }
    for init, dependents in needs.items():
        for name in dependents:
            condition = services[name]["depends_on"][init]["condition"]
            assert condition == "service_completed_successfully", (name, init)
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, (name, dependency)
    # The workers start only once the API server answers: they run their tasks through it.
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_every_image_is_pinned(services, compose):
    version = re.search(r'^version = "([^"]+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)[1]
    for name, service in services.items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and re.search(r"\d", tag), (name, image)
        if "build" in service:
            assert tag == version, f"{name}: a built image is tagged with the project version"
    bases = [line.split()[1] for stage in _dockerfile_stages().values() for line in stage[:1]]
    default_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)[1]
    assert default_base.startswith("python:3.11.") and default_base.endswith("-slim-bookworm")
    assert all(base in ("${PYTHON_IMAGE}", "base") for base in bases), bases


def test_every_variable_is_in_env_example_and_no_credential_is_literal(services):
    env = _env_example()
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    missing = sorted(name for name, _ in used if name not in env)
    assert not missing, f"not in .env.example: {missing}"
    assert all(not default for _, default in used), "defaults belong in .env.example, not in the file"
    secret = re.compile(
        r"PASSWORD|SECRET|FERNET|_USER$|ACCESS_KEY|SQL_ALCHEMY_CONN|RESULT_BACKEND|DATABASE_URI"
    )
    for name, service in services.items():
        for key, value in _environment(service).items():
            if secret.search(key):
                assert VARIABLE.search(value), f"{name}: {key} is written into the compose file"


def _compose_v2() -> list[str]:
    found = shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True)
    if not found or found.returncode:
        skip_or_fail("Docker Compose v2 is not installed (`make docker-deps` installs it)")
    return ["docker", "compose"]


def test_the_compose_file_validates_with_docker_compose():
    validator = _compose_v2()
    proc = subprocess.run(
        [*validator, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not set" not in proc.stderr, proc.stderr

    # The validator does reject a broken file: a service depending on one that is not there.
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["superset"]["depends_on"]["no-such-service"] = {"condition": "service_healthy"}
    broken_file = PROJECT_ROOT / f".compose-broken-{uuid.uuid4().hex[:6]}.yaml"
    try:
        broken_file.write_text(yaml.safe_dump(broken))
        proc = subprocess.run(
            [*validator, "--env-file", str(ENV_EXAMPLE), "-f", str(broken_file), "config", "-q"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        broken_file.unlink()
    assert proc.returncode != 0 and "no-such-service" in proc.stderr, proc.stderr


# ---- the image -------------------------------------------------------------------------


def test_the_image_installs_the_requirement_files_make_setup_installs():
    stages = _dockerfile_stages()
    local = _synced_requirements(["setup"])
    assert set(local) == {"airflow", "dbt", "soda", "superset", "s3"}
    in_image = {}
    for stage, lines in stages.items():
        copied = {f for line in lines if line.startswith("COPY ") for f in line.split()[1:-1]}
        for line in lines:
            if line.startswith("RUN make "):
                synced = _synced_requirements(shlex.split(line.split("&&")[0])[2:])
                for venv, files in synced.items():
                    assert set(files) <= copied, f"{stage}: {files} synced but not all copied"
                    in_image[venv] = files
    # Every venv but the S3 stand-in (the stack runs real MinIO) is in an image, from the
    # same pinned files, without the test tools.
    assert set(in_image) == set(local) - {"s3"}
    for venv, files in in_image.items():
        assert files == [f for f in local[venv] if f != "requirements-dev.txt"], venv
    assert in_image["airflow"] == ["requirements.txt"]


def test_the_image_holds_what_the_containers_use():
    stages = _dockerfile_stages()
    copied = {
        stage: {line.split()[1].rstrip("/") for line in lines if line.startswith("COPY ")}
        for stage, lines in stages.items()
    }
    for source in set().union(*copied.values()):
        assert (PROJECT_ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the project"
    assert {"include", "dags", "plugins", "soda", "dbt", "data"} <= copied["airflow"]
    assert {"include", "superset"} <= copied["superset"]
    # The compiled manifest (Cosmos renders from it; parsing the DAG never runs dbt).
    assert any("make dbt/target/manifest.json" in line for line in stages["airflow"])
    assert any("curl" in line for line in stages["base"] if line.startswith("RUN apt-get"))
    workdir = [line.split()[1] for line in stages["base"] if line.startswith("WORKDIR")]
    assert workdir == ["/opt/lakehouse"]


# ---- commands ----------------------------------------------------------------------------


def _airflow_help(args: list[str]) -> subprocess.CompletedProcess:
    flags = [a for a in args if a.startswith("-")]
    words = args[: args.index(flags[0])] if flags else args
    return subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), *words, "--help"], capture_output=True, text=True, timeout=120
    )


def test_every_command_the_containers_run_exists(services):
    from include import cli
    from include.serving import superset

    parsers = {"include.cli": cli.build_parser(), "include.serving.superset": superset.build_parser()}
    seen_components = set()
    for name, service in services.items():
        for line in _commands(service):
            program = line[0]
            if program == "python":
                assert line[1] == "-m" and line[2] in parsers, (name, line)
                args = parsers[line[2]].parse_args(line[3:])
                if line[2] == "include.cli" and args.command == "component":
                    seen_components.add(tuple(args.args))
            elif program == "celery":
                assert (AIRFLOW_BIN / "celery").exists()
                app = line[line.index("--app") + 1]
                module = app.rsplit(".", 1)[0]
                found = subprocess.run(
                    [
                        str(AIRFLOW_BIN / "python"),
                        "-c",
                        f"import importlib.util as u; print(u.find_spec('{module}'))",
                    ],
                    capture_output=True,
                    text=True,
                )
                assert found.stdout.strip() != "None", (name, module)
            elif program == "/bin/sh":
                script = line[1]
                mounts = dict(v.rsplit(":", 2)[:2] for v in service["volumes"] if v.startswith("./"))
                host = next(h for h, c in mounts.items() if script.startswith(c))
                assert (PROJECT_ROOT / host / Path(script).name).is_file(), (name, script)
            elif program == "airflow":
                proc = _airflow_help(line[1:])
                assert proc.returncode == 0, (name, line, proc.stderr[-2000:])
            elif program == "chown":
                continue
            else:
                # Tools of the public images (curl is installed in ours, see the Dockerfile).
                assert program in {"curl", "mc", "pg_isready", "redis-cli"}, (name, program)
    assert ("api-server",) in seen_components and ("celery", "worker") in seen_components
    for args in sorted(seen_components):
        proc = _airflow_help(list(args))
        assert proc.returncode == 0, (args, proc.stderr[-2000:])


# ---- ports and paths ---------------------------------------------------------------------


def _published(service: dict) -> dict[int, str]:
    """container port -> the host side's variable, from "${BIND}:${HOST_PORT}:container"."""
    ports = {}
    for spec in service.get("ports", []):
        *host, container = spec.split(":")
        ports[int(container)] = ":".join(host)
    return ports


def _mounts(service: dict) -> dict[str, tuple[str, bool]]:
    mounts = {}
    for spec in service.get("volumes", []):
        parts = spec.split(":")
        mounts[parts[1]] = (parts[0], len(parts) > 2 and parts[2] == "ro")
    return mounts


def test_ports_agree_with_the_settings_the_code_reads(services):
    from airflow.configuration import conf

    api = services["airflow-apiserver"]
    env = _environment(api)
    port = int(env["AIRFLOW_PORT"])
    assert _published(api) == {port: "${LAKEHOUSE_BIND_ADDRESS}:${AIRFLOW_PORT}"}
    assert urlparse(api["healthcheck"]["test"][-1]).port == port
    execution = urlparse(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == ("airflow-apiserver", port, "/execution/")

    scheduler_port = conf.getint("scheduler", "scheduler_health_check_server_port")
    assert urlparse(services["airflow-scheduler"]["healthcheck"]["test"][-1]).port == scheduler_port

    sup = services["superset"]
    sup_port = int(_environment(sup)["SUPERSET_PORT"])
    assert _published(sup) == {sup_port: "${LAKEHOUSE_BIND_ADDRESS}:${SUPERSET_PORT}"}
    assert urlparse(sup["healthcheck"]["test"][-1]).port == sup_port

    # MinIO: the address it serves, the pipeline's endpoint, the connection, the init script.
    minio = services["minio"]
    address = minio["command"][minio["command"].index("--address") + 1]
    endpoint = urlparse(env["S3_ENDPOINT_URL"])
    assert (endpoint.hostname, f":{endpoint.port}") == ("minio", address)
    conn = json.loads(_interpolate(env["AIRFLOW_CONN_LAKEHOUSE_S3"], _env_example()))
    assert conn["extra"]["endpoint_url"] == env["S3_ENDPOINT_URL"]
    assert f'"{env["S3_ENDPOINT_URL"]}"' in (PROJECT_ROOT / "docker" / "minio" / "init.sh").read_text()
    assert 9000 in _published(minio) and 9001 in _published(minio)


def test_paths_agree_with_the_settings_the_code_computes(services, monkeypatch):
    from include.config import settings
    from include.localenv import airflow_env

    airflow_services = [n for n in services if n.startswith("airflow-")]
    env = _environment(services["airflow-scheduler"])
    for name in airflow_services:
        assert _environment(services[name]) == env, f"{name} runs with another environment"
    for key in ("LAKEHOUSE_RUNTIME_DIR", "WAREHOUSE_PATH", "SERVING_PATH", "AIRFLOW_HOME"):
        monkeypatch.setenv(key, env[key])
    s = settings()
    computed = airflow_env(s, {k: _interpolate(v, _env_example()) for k, v in env.items()})
    mounts = _mounts(services["airflow-scheduler"])

    # The warehouse and serving files and the task logs live on the named volumes.
    assert mounts[str(s.warehouse_path.parent)] == ("warehouse", False)
    assert mounts[str(s.serving_path.parent)] == ("serving", False)
    assert mounts[computed["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]] == ("airflow-logs", False)
    # Superset reads the very same serving file, from the same volume, read-only.
    for name in ("superset", "superset-init"):
        assert _environment(services[name])["SERVING_PATH"] == str(s.serving_path)
        assert _mounts(services[name])[str(s.serving_path.parent)] == ("serving", True)
    # What the code makes of the container's environment: Celery on the stack's PostgreSQL,
    # the API on all interfaces of the container, the project where the image put it.
    assert computed["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # Every broker address a worker may read names the stack's Redis: Airflow's setting, and
    # CELERY_BROKER_URL, which Celery reads by itself (the image's .env.example holds the
    # local default, 127.0.0.1: with it every worker crash-looped against nothing).
    for name in ("AIRFLOW__CELERY__BROKER_URL", "CELERY_BROKER_URL"):
        assert urlparse(computed[name]).hostname == "redis", (name, computed[name])
    assert computed["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert urlparse(computed["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    assert (computed["AIRFLOW__API__HOST"], computed["AIRFLOW__API__PORT"]) == (
        "0.0.0.0",
        env["AIRFLOW_PORT"],
    )
    workdir = Path("/opt/lakehouse")
    assert Path(env["LAKEHOUSE_RUNTIME_DIR"]) == workdir / ".runtime"
    assert Path(computed["AIRFLOW__CORE__DAGS_FOLDER"]).relative_to(s.project_root) == Path("dags")
    assert "PYTHONPATH=/opt/lakehouse" in DOCKERFILE.read_text()


def test_databases_of_the_stack_agree(services):
    pg = _environment(services["postgres"])
    airflow = _environment(services["airflow-scheduler"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow.endswith("@postgres:5432/${POSTGRES_DB}")
    assert "${POSTGRES_USER}:${POSTGRES_PASSWORD}@" in airflow
    superset_uri = _environment(services["superset"])["SUPERSET_DATABASE_URI"]
    assert superset_uri == (
        "postgresql+psycopg2://${SUPERSET_DB_USER}:${SUPERSET_DB_PASSWORD}@postgres:5432/${SUPERSET_DB_NAME}"
    )
    for key in ("SUPERSET_DB_NAME", "SUPERSET_DB_USER", "SUPERSET_DB_PASSWORD"):
        assert pg[key] == f"${{{key}}}"  # the init script creates what Superset connects to
    assert "/docker-entrypoint-initdb.d/" in " ".join(services["postgres"]["volumes"])


# ---- the init scripts ----------------------------------------------------------------------


def test_the_pipeline_user_in_minio_gets_the_raw_bucket_only():
    script = (PROJECT_ROOT / "docker" / "minio" / "init.sh").read_text()
    policy_text = re.search(r"<<POLICY\n(.*?)\nPOLICY\n", script, re.S)[1]
    policy = json.loads(policy_text.replace("$RAW_BUCKET", "raw"))
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject"}
    assert resources == {"arn:aws:s3:::raw", "arn:aws:s3:::raw/*"}
    # The user is made with the pipeline's credentials and gets only this policy.
    assert 'mc admin user add lakehouse "$S3_ACCESS_KEY" "$S3_SECRET_KEY"' in script
    assert re.findall(r"mc admin policy attach lakehouse (\S+)", script) == ["lakehouse-pipeline"]


def test_the_postgres_init_script_creates_supersets_database_on_a_real_postgres():
    import psycopg2

    require_postgres("the PostgreSQL init script test")
    suffix = uuid.uuid4().hex[:8]
    database, user = f"superset_init_{suffix}", f"superset_init_{suffix}"
    url = urlparse(POSTGRES_URL)
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.path.lstrip("/") or "postgres",
        "SUPERSET_DB_NAME": database,
        "SUPERSET_DB_USER": user,
        "SUPERSET_DB_PASSWORD": "it's-a-test",
    }
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        proc = subprocess.run(
            ["bash", str(PROJECT_ROOT / "docker" / "postgres" / "init-databases.sh")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        with admin.cursor() as cur:
            cur.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s", [database])
            assert cur.fetchall() == [(user,)]
            cur.execute("select rolcanlogin, rolsuper from pg_roles where rolname = %s", [user])
            assert cur.fetchall() == [(True, False)]
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
            cur.execute(f'drop role if exists "{user}"')
        admin.close()
