"""Where the user-facing surfaces live, for links between them (the Airflow UI plugin).

The addresses come from the environment: SUPERSET_PUBLIC_URL / DBT_DOCS_PUBLIC_URL when the
browser reaches them elsewhere (a proxy, the compose stack's published ports), else the
local `make superset` / `make docs` addresses built from SUPERSET_PORT / DBT_DOCS_PORT.
"""

from __future__ import annotations

from include.config import setting

SUPERSET_DASHBOARDS = (("Sales", "sales"), ("Customers", "customers"), ("Data quality", "data-quality"))


def superset_url() -> str:
    url = setting("SUPERSET_PUBLIC_URL")
    return (url or f"http://127.0.0.1:{setting('SUPERSET_PORT', '8088')}").rstrip("/")


def dbt_docs_url() -> str:
    url = setting("DBT_DOCS_PUBLIC_URL")
    return (url or f"http://127.0.0.1:{setting('DBT_DOCS_PORT', '8081')}").rstrip("/")


def external_views() -> list[dict]:
    """Airflow 3 plugin `external_views`: menu links in the top navigation, and the data
    quality dashboard as a link on the DAG's page."""
    superset = superset_url()
    views = [
        {
            "name": f"Superset: {title}",
            "href": f"{superset}/superset/dashboard/{slug}/",
            "destination": "nav",
            "category": "Lakehouse",
        }
        for title, slug in SUPERSET_DASHBOARDS
    ]
    views.append(
        {
            "name": "dbt docs (models, tests, lineage)",
            "href": f"{dbt_docs_url()}/",
            "destination": "nav",
            "category": "Lakehouse",
        }
    )
    views.append(
        {
            "name": "Data quality dashboard",
            "href": f"{superset}/superset/dashboard/data-quality/",
            "destination": "dag",
        }
    )
    return views
