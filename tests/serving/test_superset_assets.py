"""The dashboards as code: every chart carries the query context Superset's own Explore view
saved for it (what `GET /api/v1/chart/<id>/data/`, cache warm-up and Alerts & Reports run),
and that context was built from the chart's current params: a chart edited in the YAML
without re-saving it in Superset would answer the API with its old query."""

from __future__ import annotations

import json

import pytest
import yaml

from include.serving.superset import ASSETS_DIR

CHARTS = sorted((ASSETS_DIR / "charts").glob("*.yaml"))


def test_there_are_charts():
    assert len(CHARTS) == 11


@pytest.mark.parametrize("path", CHARTS, ids=lambda p: p.stem)
def test_each_chart_has_a_query_context_built_from_its_params(path):
    chart = yaml.safe_load(path.read_text())
    assert chart["query_context"], f"{path.name}: no saved query context (open it in Explore and save)"
    context = json.loads(chart["query_context"])
    form_data = context["form_data"]
    stale = {key for key, value in chart["params"].items() if form_data.get(key) != value}
    assert not stale, f"{path.name}: query context differs from params in {sorted(stale)}"
    assert form_data["viz_type"] == chart["viz_type"]
    assert context["queries"] and context["result_type"] == "full"
    assert "slice_id" not in form_data  # ids belong to one Superset install, not to the repo
