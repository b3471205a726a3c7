"""Superset's configuration for lakehouse-elt (loaded through SUPERSET_CONFIG_PATH).

Everything secret or machine-specific comes from the environment (`.env.example` holds the
local-only defaults); `make superset` and the tests set these variables.

* SUPERSET_SECRET_KEY   signs sessions and encrypts stored connection secrets (required).
* SUPERSET_DATABASE_URI Superset's own metadata DB; default SQLite under SUPERSET_HOME.
* SUPERSET_HOME         where Superset keeps its state (default .runtime/superset).

Dashboards read only the serving file, opened read-only with external access disabled: see
superset/assets/databases/ (the connection) and include/serving/superset.py (import).
"""

import os
from pathlib import Path

_home = Path(
    os.environ.get("SUPERSET_HOME") or Path(__file__).resolve().parent.parent / ".runtime" / "superset"
)
_home.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")
if not SECRET_KEY:
    raise RuntimeError("SUPERSET_SECRET_KEY is not set (see .env.example)")

SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_DATABASE_URI") or f"sqlite:///{_home / 'superset.db'}"
DATA_DIR = str(_home)

# Dashboards show what the serving file holds now: no result caching between publishes.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Single-process rate limiting and no HTTPS locally; a deployment puts a proxy in front.
RATELIMIT_STORAGE_URI = "memory://"
TALISMAN_ENABLED = os.environ.get("SUPERSET_TALISMAN_ENABLED", "false").lower() == "true"
# No calls home, no example data.
SUPERSET_LOAD_EXAMPLES = False
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
