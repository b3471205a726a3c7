# lakehouse-elt images, built by `make up` (docker compose build). Two targets on one base:
#
#   airflow   every Airflow service (API server, scheduler, DAG processor, triggerer, Celery
#             workers, airflow-init): the Airflow, dbt and Soda virtualenvs, the compiled
#             dbt manifest, the DAG and include/ code, the shipped day files.
#   superset  Superset's virtualenv and the dashboards kept as code.
#
# The virtualenvs are built by the project's own Makefile from the same pinned
# requirements*.txt files that `make setup` installs and `make test` tests (only the test
# tools of requirements-dev.txt stay out of the image).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
# A UTF-8 locale whatever the base image sets: the DAG, the dbt docs and the metadata hold
# non-ASCII text, and Python's default encodings follow LANG.
ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
# make runs the venv rules; curl serves the healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make curl \
    && rm -rf /var/lib/apt/lists/*
# The services run as AIRFLOW_UID (default 50000) with group 0, as in Airflow's own images;
# USER and HOME are set so an AIRFLOW_UID without a passwd entry still has both.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/lakehouse/.runtime/home --no-create-home lakehouse
ENV USER=lakehouse HOME=/opt/lakehouse/.runtime/home
WORKDIR /opt/lakehouse
COPY Makefile .env.example ./

FROM base AS airflow
COPY requirements.txt requirements-dbt.txt requirements-soda.txt ./
RUN make .venv/airflow/.synced .venv/dbt/.synced .venv/soda/.synced AIRFLOW_REQUIREMENTS=requirements.txt
COPY dbt/ dbt/
RUN make dbt/target/manifest.json && rm -rf dbt/logs
COPY include/ include/
COPY dags/ dags/
COPY plugins/ plugins/
COPY soda/ soda/
COPY data/ data/
RUN mkdir -p .runtime/home .runtime/airflow/logs .runtime/warehouse .runtime/serving \
    && chown -R 50000:0 .runtime dbt && chmod -R g+rwX .runtime dbt
ENV PATH=/opt/lakehouse/.venv/airflow/bin:$PATH \
    PYTHONPATH=/opt/lakehouse \
    LAKEHOUSE_RUNTIME_DIR=/opt/lakehouse/.runtime \
    AIRFLOW_HOME=/opt/lakehouse/.runtime/airflow
USER 50000
CMD ["python", "-m", "include.cli", "--help"]

FROM base AS superset
COPY requirements-superset.txt ./
RUN make .venv/superset/.synced
COPY include/ include/
COPY superset/ superset/
RUN mkdir -p .runtime/home .runtime/superset .runtime/serving \
    && chown -R 50000:0 .runtime && chmod -R g+rwX .runtime
ENV PATH=/opt/lakehouse/.venv/superset/bin:$PATH \
    PYTHONPATH=/opt/lakehouse \
    LAKEHOUSE_RUNTIME_DIR=/opt/lakehouse/.runtime \
    SUPERSET_HOME=/opt/lakehouse/.runtime/superset
USER 50000
CMD ["python", "-m", "include.serving.superset", "serve"]
