#!/bin/bash
# Runs once, when the PostgreSQL volume is first initialised (/docker-entrypoint-initdb.d):
# Superset's metadata database and its own user beside Airflow's (POSTGRES_DB/POSTGRES_USER).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$SUPERSET_DB_NAME" -v user="$SUPERSET_DB_USER" -v password="$SUPERSET_DB_PASSWORD" <<'SQL'
CREATE USER :"user" WITH PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
