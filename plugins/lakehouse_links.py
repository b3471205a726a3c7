"""Airflow UI plugin: links from Airflow to the Superset dashboards and the dbt docs.

They appear under *Lakehouse* in the top navigation (and on retail_elt's page); addresses
come from the environment (see include/ui_links.py).
"""

from airflow.plugins_manager import AirflowPlugin

from include.ui_links import external_views


class LakehouseLinksPlugin(AirflowPlugin):
    name = "lakehouse_links"
    external_views = external_views()
