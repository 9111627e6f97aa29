"""The Grafana dashboard, generated with Grafana's Python SDK (grafana-foundation-sdk) into grafana/dashboards.

This module is the one definition of the panels: Grafana provisions the JSON it writes, and mlwatch.dashboard
draws the same JSON offline. Each panel's query is grafana/panels/<panel title>.sql and each template
variable's is grafana/variables/<name>.sql, so sqlfluff lints them (grafana/.sqlfluff). The SDK is a dev
dependency, which is why only this module imports it. `make grafana-dashboard` regenerates the JSON and
tests/test_grafana_dashboard.py fails when the committed file differs from what this module generates.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders import barchart, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DynamicConfigValue,
    FieldColor,
    FieldColorModeId,
    Panel,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableModel,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from mlwatch.dashboard import DASHBOARD_FILE

PANEL_SQL = Path("grafana") / "panels"
VARIABLE_SQL = Path("grafana") / "variables"
# The marts, as grafana/provisioning/datasources/mlwatch.yaml provisions them.
DATASOURCE = DataSourceRef(type_val="grafana-postgresql-datasource", uid="mlwatch-postgres")
GREY = "#8E8E8E"

PanelBuilder = TypeVar("PanelBuilder", barchart.Panel, stat.Panel, statetimeline.Panel, table.Panel, timeseries.Panel)
Panels = list[cogbuilder.Builder[Panel]]


class SqlQuery(cogvariants.Dataquery):
    """A raw SQL query of Grafana's Postgres datasource, for which the SDK has no query type."""

    def __init__(self, sql: str, result_format: str) -> None:
        self.sql = sql
        self.result_format = result_format

    def to_json(self) -> dict[str, object]:
        return {
            "refId": "A",
            "datasource": DATASOURCE,
            "editorMode": "code",
            "format": self.result_format,
            "rawQuery": True,
            "rawSql": self.sql,
        }


class SqlQueryBuilder(cogbuilder.Builder[SqlQuery]):
    def __init__(self, sql: str, result_format: str) -> None:
        self._internal = SqlQuery(sql, result_format)

    def build(self) -> SqlQuery:
        return self._internal


@dataclass(frozen=True)
class SqlFiles:
    """The queries' .sql files of one project checkout."""

    project_dir: Path

    def panel(self, title: str) -> str:
        return self._read(PANEL_SQL / f"{file_stem(title)}.sql")

    def variable(self, name: str) -> str:
        return self._read(VARIABLE_SQL / f"{name}.sql")

    def _read(self, relative: Path) -> str:
        # The files end with a newline, as sqlfluff wants; the JSON keeps the query alone.
        return (self.project_dir / relative).read_text().strip()


def file_stem(title: str) -> str:
    """A panel title as a file name: `R² against the reference` -> `r2_against_the_reference`."""
    plain = unicodedata.normalize("NFKD", title).replace("'", "")
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


# --- Field and option values the panels share -----------------------------------------------------------


def _steps(*steps: tuple[str, float | None]) -> dashboard_builders.ThresholdsConfig:
    """Absolute threshold steps, (colour, lower bound) each; the base step's bound is None."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for color, value in steps])
    )


def _color(color: str) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="color", value=FieldColor(mode=FieldColorModeId.FIXED, fixed_color=color))


def _reference_line(color: str) -> list[DynamicConfigValue]:
    """A dashed line without points: the reference value or a threshold beside the daily series."""
    return [
        _color(color),
        DynamicConfigValue(id_val="custom.lineStyle", value=common.LineStyle(fill="dash", dash=[10, 10])),
        DynamicConfigValue(id_val="custom.showPoints", value=common.VisibilityMode.NEVER),
    ]


def _value_map(texts: dict[str, tuple[str, str]]) -> ValueMap:
    """Values shown as text in a colour: value -> (text, colour), in display order."""
    return ValueMap(
        options={
            value: ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(texts.items())
        }
    )


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip(mode: common.TooltipDisplayMode) -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(mode).sort(common.SortOrder.NONE)


def _thresholds_style(mode: common.GraphThresholdsStyleMode) -> common_builders.GraphThresholdsStyleConfig:
    return common_builders.GraphThresholdsStyleConfig().mode(mode)


# The numbers the drift queries give a column's verdict.
_DRIFT_STATES = {"0": ("no drift", "green"), "1": ("drift", "red")}


# --- Panel kinds ------------------------------------------------------------------------------------------


def _panel(
    panel: PanelBuilder, sql: SqlFiles, panel_id: int, title: str, description: str, size: tuple[int, int]
) -> PanelBuilder:
    """What every panel has: its id, title, size (height, width) and its one query on the marts.

    The dashboard builder places each panel right of the previous one, wrapping at the 24 columns.
    """
    time_series = isinstance(panel, timeseries.Panel | statetimeline.Panel)
    height, width = size
    return (
        panel.id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(height)
        .span(width)
        .with_target(SqlQueryBuilder(sql.panel(title), "time_series" if time_series else "table"))
    )


def _timeseries(sql: SqlFiles, panel_id: int, title: str, description: str, width: int, unit: str) -> timeseries.Panel:
    """Daily lines with a point per batch date; gaps stay gaps."""
    return (
        _panel(timeseries.Panel(), sql, panel_id, title, description, (8, width))
        .unit(unit)
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.PALETTE_CLASSIC))
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(2)
        .fill_opacity(0)
        .show_points(common.VisibilityMode.ALWAYS)
        .point_size(4)
        .span_nulls(False)
        .axis_placement(common.AxisPlacement.AUTO)
        .thresholds_style(_thresholds_style(common.GraphThresholdsStyleMode.OFF))
        .thresholds(_steps(("green", None)))
        .legend(_legend())
        .tooltip(_tooltip(common.TooltipDisplayMode.MULTI))
    )


def _state_timeline(
    sql: SqlFiles, panel_id: int, title: str, description: str, height: int, states: dict[str, tuple[str, str]]
) -> statetimeline.Panel:
    """One line per series, each batch date a cell coloured by its state."""
    return (
        _panel(statetimeline.Panel(), sql, panel_id, title, description, (height, 24))
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.FIXED).fixed_color("green"))
        .fill_opacity(80)
        .line_width(0)
        .mappings([_value_map(states)])
        .thresholds(_steps(("green", None)))
        .merge_values(False)
        .show_value(common.VisibilityMode.NEVER)
        .align_value(common.TimelineValueAlignment.CENTER)
        .row_height(0.85)
        .legend(_legend())
        .tooltip(_tooltip(common.TooltipDisplayMode.SINGLE))
    )


def _table(sql: SqlFiles, panel_id: int, title: str, description: str, height: int) -> table.Panel:
    return (
        _panel(table.Panel(), sql, panel_id, title, description, (height, 24))
        .decimals(3)
        .align(common.FieldTextAlignment.AUTO)
        .cell_options(common.TableAutoCellOptions())
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .footer(common_builders.TableFooterOptions().show(False))
    )


def _stat(sql: SqlFiles, panel_id: int, title: str, description: str, unit: str, fields: str = "") -> stat.Panel:
    """One value, a third of the status row wide: the last of the numeric field, or of those `fields` matches."""
    return (
        _panel(stat.Panel(), sql, panel_id, title, description, (3, 8))
        .unit(unit)
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .mappings([])
        .thresholds(_steps(("text", None)))
        .reduce_options(common_builders.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(fields))
        .orientation(common.VizOrientation.AUTO)
        .text_mode(common.BigValueTextMode.VALUE)
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .justify_mode(common.BigValueJustifyMode.CENTER)
        .wide_layout(True)
        .show_percent_change(False)
    )


def _mae_by_segment(sql: SqlFiles, panel_id: int, title: str, description: str) -> barchart.Panel:
    """A segment's MAE over the time range beside its reference MAE, one pair of bars per segment."""
    return _bars(sql, panel_id, title, description, "segment", {"MAE": "blue", "reference MAE": GREY}).min(0)


def _bars(
    sql: SqlFiles, panel_id: int, title: str, description: str, x_field: str, colors: dict[str, str]
) -> barchart.Panel:
    """Horizontal grouped bars in minutes: one category per row of `x_field`, one bar per field of `colors`."""
    panel = (
        _panel(barchart.Panel(), sql, panel_id, title, description, (8, 12))
        .unit("m")
        .decimals(2)
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.PALETTE_CLASSIC))
        .fill_opacity(80)
        .gradient_mode(common.GraphGradientMode.NONE)
        .line_width(1)
        .axis_placement(common.AxisPlacement.AUTO)
        .thresholds(_steps(("green", None)))
        .orientation(common.VizOrientation.HORIZONTAL)
        .x_field(x_field)
        .show_value(common.VisibilityMode.AUTO)
        .stacking(common.StackingMode.NONE)
        .group_width(0.7)
        .bar_width(0.9)
        .x_tick_label_rotation(0)
        .legend(_legend())
        .tooltip(_tooltip(common.TooltipDisplayMode.MULTI))
    )
    for name, color in colors.items():
        panel = panel.override_by_name(name, [_color(color)])
    return panel


# --- The dashboard -----------------------------------------------------------------------------------------


def _variables(sql: SqlFiles) -> list[cogbuilder.Builder[VariableModel]]:
    def variable(name: str, label: str) -> dashboard_builders.QueryVariable:
        return (
            dashboard_builders.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            .query(sql.variable(name))
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
            .sort(VariableSort.DISABLED)
            .options([])
        )

    return [
        variable("model_version", "Model version")
        .multi(False)
        .include_all(False)
        .description("Newest computed first."),
        variable("column", "Column")
        .multi(True)
        .include_all(True)
        .current(VariableOption(selected=True, text=["All"], value=["$__all"])),
    ]


def _status_panels(sql: SqlFiles) -> Panels:
    tests = {
        "pass": ("pass", "green"),
        "ok": ("ok", "green"),
        "warn": ("warn", "orange"),
        "fail": ("fail", "red"),
        "no_data": ("no data", GREY),
    }
    return [
        _stat(
            sql,
            11,
            "Last successful metrics run",
            "When `mlwatch metrics` last finished successfully (UTC; marts.pipeline_health).",
            "dateTimeAsIso",
        ),
        _stat(
            sql,
            12,
            "Newest computed batch date",
            "The newest batch date with computed metrics (marts.pipeline_health).",
            "none",
            fields="/.*/",  # the date is text
        ),
        _stat(
            sql,
            13,
            "Days without metrics",
            "Production days up to the last one loaded whose metrics are not computed yet "
            "(marts.pipeline_health); red from one day.",
            "none",
        )
        .thresholds(_steps(("green", None), ("red", 1)))
        .decimals(0)
        .color_mode(common.BigValueColorMode.BACKGROUND),
        _state_timeline(
            sql,
            9,
            "Daily status",
            "Each batch date's status for the model version (first line: the worst of its tests) and each test of"
            " seeds/metric_thresholds.csv: fail beyond its fail threshold, warn beyond its warn threshold, no "
            "data when the day has no value.",
            7,
            # The numbers the query gives each status, in the order of severity.
            {str(code): tests[status] for code, status in enumerate(("ok", "no_data", "warn", "fail"))},
        ),
        _table(
            sql,
            10,
            "Tests on the latest batch",
            "The newest batch date in the time range: each test's observed value against its warn and fail "
            "thresholds (a 'max' test fails above, a 'min' test below), failed and warned tests first.",
            5,
        ).override_by_name(
            "status",
            [
                DynamicConfigValue(id_val="custom.cellOptions", value=common.TableColoredBackgroundCellOptions()),
                DynamicConfigValue(id_val="mappings", value=[_value_map(tests)]),
            ],
        ),
    ]


def _drift_panels(sql: SqlFiles) -> Panels:
    return [
        _timeseries(
            sql,
            1,
            "Prediction drift",
            "Drift score of the predictions against the reference month (Evidently). The dashboard's verdict uses"
            " the calibrated threshold (orange), set so that days drawn from the reference alarm 1% of the time; "
            "red points mark the days it flags. Dashed red: the threshold of Evidently's default test.",
            12,
            "none",
        )
        .decimals(3)
        .min(0)
        .override_by_name("drift score", [_color("blue")])
        .override_by_name("calibrated threshold", _reference_line("orange"))
        .override_by_name("Evidently threshold", _reference_line("red"))
        .override_by_name(
            "drift (calibrated)",
            [
                _color("red"),
                DynamicConfigValue(id_val="custom.drawStyle", value=common.GraphDrawStyle.POINTS),
                DynamicConfigValue(id_val="custom.pointSize", value=9),
            ],
        ),
        _timeseries(
            sql,
            2,
            "Drifted columns",
            "Number (bars, right axis) and share (line, left axis) of the monitored columns (features and "
            "prediction) whose drift score passes their calibrated threshold. The dataset drifts when the share "
            "reaches the dbt var drift_share (dashed line). Evidently's default verdicts are under Drift details.",
            12,
            "percentunit",
        )
        .min(0)
        .thresholds_style(_thresholds_style(common.GraphThresholdsStyleMode.DASHED))
        .thresholds(_steps(("green", None), ("red", 0.5)))
        .override_by_name("drifted share", [_color("purple"), DynamicConfigValue(id_val="max", value=1)])
        .override_by_name(
            "drifted columns",
            [
                DynamicConfigValue(id_val="unit", value="none"),
                DynamicConfigValue(id_val="decimals", value=0),
                # The count's axis ends at the number of monitored columns, as the share's ends at 100%.
                DynamicConfigValue(id_val="max", value=7),
                DynamicConfigValue(id_val="custom.axisPlacement", value=common.AxisPlacement.RIGHT),
                DynamicConfigValue(id_val="custom.drawStyle", value=common.GraphDrawStyle.BARS),
                DynamicConfigValue(id_val="custom.fillOpacity", value=40),
                DynamicConfigValue(
                    id_val="custom.thresholdsStyle",
                    value=_thresholds_style(common.GraphThresholdsStyleMode.OFF).build(),
                ),
                _color("blue"),
            ],
        ),
        _state_timeline(
            sql,
            6,
            "Drift detected per column",
            "For each monitored column and batch date, whether its drift score passes its calibrated threshold "
            "(1% false alarms on days drawn from the reference). Evidently's default verdicts are under Drift "
            "details.",
            8,
            _DRIFT_STATES,
        ),
    ]


def _model_health_panels(sql: SqlFiles) -> Panels:
    return [
        _timeseries(
            sql,
            5,
            "MAE and RMSE against the reference",
            "Daily error of the predictions on the rows that pass every rule; dashed: the same errors on the "
            "reference (validation) rows of the reference month.",
            12,
            "m",
        )
        .axis_label("minutes")
        .min(0)
        .decimals(2)
        .override_by_name("MAE", [_color("blue")])
        .override_by_name("RMSE", [_color("orange")])
        .override_by_name("reference MAE", _reference_line("blue"))
        .override_by_name("reference RMSE", _reference_line("orange")),
        _timeseries(
            sql,
            14,
            "MAE ratio to the reference",
            "Daily MAE / MAE on the reference (validation) rows. The alert rule fires above 1.2 (dashed); the "
            "daily test mae_vs_reference warns above 1.1 and fails above 1.25.",
            12,
            "none",
        )
        .thresholds_style(_thresholds_style(common.GraphThresholdsStyleMode.DASHED))
        .thresholds(_steps(("green", None), ("red", 1.2)))
        .decimals(2)
        .override_by_name("MAE / reference MAE", [_color("blue")]),
        _timeseries(
            sql,
            15,
            "R² against the reference",
            "Coefficient of determination of the daily predictions; dashed: the same on the reference rows.",
            12,
            "none",
        )
        .decimals(2)
        .override_by_name("R²", [_color("green")])
        .override_by_name("reference R²", _reference_line("green")),
        _timeseries(
            sql,
            16,
            "Bias (mean error) against the reference",
            "Mean of prediction - actual duration: above zero the model overestimates, below it underestimates; "
            "dashed: the same on the reference rows.",
            12,
            "m",
        )
        .axis_label("minutes")
        .decimals(2)
        .override_by_name("mean error", [_color("purple")])
        .override_by_name("reference mean error", _reference_line("purple")),
        _timeseries(
            sql,
            21,
            "Estimated MAE before the labels",
            "MAE estimated from the features and predictions alone (NannyML's Direct Loss Estimation, "
            "marts.daily_performance_estimates) with its confidence band, beside the realized MAE once the labels "
            "are in. Dashed red: harm, harm_mae_ratio x the reference's MAE; the daily test "
            "estimated_mae_vs_reference fails when the estimate reaches the threshold fitted in docs/alarms.md.",
            12,
            "m",
        )
        .axis_label("minutes")
        .min(0)
        .decimals(2)
        .override_by_name("estimated MAE", [_color("orange")])
        .override_by_name("band low", _reference_line("orange"))
        .override_by_name("band high", _reference_line("orange"))
        .override_by_name("realized MAE", [_color("blue")])
        .override_by_name("harm level", _reference_line("red")),
        _what_moved_the_predictions(sql),
    ]


def _what_moved_the_predictions(sql: SqlFiles) -> barchart.Panel:
    """Each feature's contribution to the shift of the mean prediction, averaged over the time range."""
    return _bars(
        sql,
        22,
        "What moved the predictions",
        "The shift of the mean prediction from the reference's (minutes, averaged over the time range) split "
        "into each feature's contribution: its coefficient x the change of its mean "
        "(marts.daily_prediction_attribution). The contributions add up to the shift.",
        "feature",
        {"contribution": "purple", "mean prediction shift": GREY},
    )


def _data_quality_panels(sql: SqlFiles) -> Panels:
    return [
        _timeseries(
            sql,
            3,
            "Daily row volume",
            "Trips per batch date: all landed trips, those passing the input rules (the rows monitored for "
            "drift), and those also passing the target rules (the rows scored for MAE / RMSE).",
            12,
            "short",
        )
        .fill_opacity(10)
        .min(0)
        .decimals(0),
        _timeseries(
            sql,
            4,
            "Share of missing values",
            "Share of missing cells over the monitored columns of the rows that pass the input rules; dashed: the"
            " daily test missing_values warns above 1% and fails above 5%.",
            12,
            "percentunit",
        )
        .thresholds_style(_thresholds_style(common.GraphThresholdsStyleMode.DASHED))
        .axis_soft_max(0.06)
        .thresholds(_steps(("green", None), ("orange", 0.01), ("red", 0.05)))
        .min(0)
        .decimals(1)
        .override_by_name("missing share", [_color("orange")]),
    ]


def _drift_detail_panels(sql: SqlFiles) -> Panels:
    verdict = [
        DynamicConfigValue(id_val="custom.cellOptions", value=common.TableColorTextCellOptions()),
        DynamicConfigValue(
            id_val="mappings", value=[_value_map({"true": ("drift", "red"), "false": ("no drift", "green")})]
        ),
    ]
    return [
        _table(
            sql,
            8,
            "Column drift on the latest batch",
            "The newest batch date in the time range: each column's stat test and drift score, against its "
            "calibrated threshold (the dashboard's verdict) and Evidently's default threshold, and its share of "
            "missing values.",
            7,
        )
        .override_by_name("calibrated verdict", verdict)
        .override_by_name("Evidently verdict", verdict)
        .override_by_name(
            "missing share",
            [DynamicConfigValue(id_val="unit", value="percentunit"), DynamicConfigValue(id_val="decimals", value=1)],
        ),
        _timeseries(
            sql,
            7,
            "Drift score per column",
            "Drift score of each selected column against the reference month; its thresholds are in the table above.",
            24,
            "none",
        )
        .min(0)
        .decimals(3),
        _state_timeline(
            sql,
            17,
            "Drift detected per column at Evidently's default threshold",
            "Evidently's own verdicts (its default stat test and threshold per column), for comparison: on days "
            "of this size its Jensen-Shannon threshold of 0.1 flags both location columns every day.",
            7,
            _DRIFT_STATES,
        ),
    ]


def _segment_panels(sql: SqlFiles) -> Panels:
    return [
        _mae_by_segment(
            sql,
            18,
            "MAE by pickup borough",
            "MAE over the time range (each day's MAE weighted by its scored trips) per pickup borough, beside the"
            " borough's MAE on the reference; most trips first, scored trips in brackets.",
        ),
        _mae_by_segment(
            sql,
            19,
            "MAE by time of day",
            "MAE over the time range (each day's MAE weighted by its scored trips) per pickup time of day, beside"
            " the same bucket's MAE on the reference; scored trips in brackets.",
        ),
        _table(
            sql,
            20,
            "Metrics outside their trend band",
            "Days whose metric leaves the band of its trailing window (mean +/- trend_band_stddevs standard "
            "deviations of the trend_window_days days before), newest first: a sudden change rather than a level.",
            8,
        ),
    ]


def dashboard(sql: SqlFiles) -> dashboard_builders.Dashboard:
    """The dashboard: rows in reading order, the last two collapsed (their panels inside them)."""
    board = (
        dashboard_builders.Dashboard("Model monitoring")
        .uid("mlwatch-model-monitoring")
        .description(
            "Daily status, drift (calibrated thresholds), model health, data quality and segments from the "
            "mlwatch marts."
        )
        .tags(["mlwatch"])
        .timezone("utc")
        .readonly()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        # The demo's production month, so a fresh Grafana opens on data.
        .time("2021-02-01T00:00:00.000Z", "2021-03-01T00:00:00.000Z")
        .refresh("")
        .version(2)
        .links([])
        .annotation(
            dashboard_builders.AnnotationQuery()
            .built_in(1)
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .name("Annotations & Alerts")
            .type("dashboard")
        )
        .variables(_variables(sql))
    )
    expanded = {
        (104, "Status"): _status_panels,
        (100, "Drift"): _drift_panels,
        (102, "Model health"): _model_health_panels,
        (101, "Data quality"): _data_quality_panels,
    }
    for (row_id, title), panels in expanded.items():
        board.with_row(dashboard_builders.Row(title).id(row_id).collapsed(False))
        for panel in panels(sql):
            board.with_panel(panel)
    collapsed = {(103, "Drift details"): _drift_detail_panels, (105, "Segments and trends"): _segment_panels}
    for (row_id, title), panels in collapsed.items():
        row = dashboard_builders.Row(title).id(row_id)
        for panel in panels(sql):
            row.with_panel(panel)
        board.with_row(row)
    return board


def render(project_dir: Path) -> str:
    """The dashboard's JSON as the committed file holds it."""
    model = json.loads(JSONEncoder().encode(dashboard(SqlFiles(project_dir)).build()))
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write grafana/dashboards/model-monitoring.json of the project in the working directory."""
    project_dir = Path.cwd()
    (project_dir / DASHBOARD_FILE).write_text(render(project_dir))
    print(DASHBOARD_FILE)


if __name__ == "__main__":
    main()
