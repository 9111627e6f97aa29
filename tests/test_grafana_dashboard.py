"""The provisioned dashboard is generated: grafana/dashboards/model-monitoring.json is what
mlwatch.grafana_dashboard builds from its panel definitions and the queries in grafana/panels and
grafana/variables, one file per panel or variable."""

from __future__ import annotations

import json

from conftest import PROJECT_DIR

from mlwatch import dashboard as static
from mlwatch import grafana_dashboard

GENERATED = grafana_dashboard.render(PROJECT_DIR)


def test_the_committed_dashboard_is_the_generated_one() -> None:
    committed = (PROJECT_DIR / static.DASHBOARD_FILE).read_text()
    assert committed == GENERATED, "run `make grafana-dashboard` and commit grafana/dashboards/model-monitoring.json"


def test_each_query_file_is_one_panel_or_variable_query() -> None:
    board = json.loads(GENERATED)
    panels = {grafana_dashboard.file_stem(panel["title"]): panel for panel in static.panels(board)}
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    sql_files = {path.stem: path for path in (PROJECT_DIR / grafana_dashboard.PANEL_SQL).glob("*.sql")}
    assert set(sql_files) == set(panels) and len(panels) == 22, "no file without its panel, no panel without its file"
    for stem, panel in panels.items():
        assert static.target(panel)["rawSql"] + "\n" == sql_files[stem].read_text(), stem
    variable_files = {path.stem: path for path in (PROJECT_DIR / grafana_dashboard.VARIABLE_SQL).glob("*.sql")}
    assert set(variable_files) == set(variables) == {"model_version", "column"}
    for name, variable in variables.items():
        assert variable["query"] + "\n" == variable_files[name].read_text(), name


def test_panel_titles_become_plain_file_names() -> None:
    assert grafana_dashboard.file_stem("R² against the reference") == "r2_against_the_reference"
    assert grafana_dashboard.file_stem("Bias (mean error) against the reference") == (
        "bias_mean_error_against_the_reference"
    )
    assert grafana_dashboard.file_stem("Drift detected per column at Evidently's default threshold") == (
        "drift_detected_per_column_at_evidentlys_default_threshold"
    )
