"""The Grafana dashboard without Grafana: its panels drawn from the marts into one self-contained HTML file.

grafana/dashboards/model-monitoring.json, which mlwatch.grafana_dashboard generates, holds the panels.
Grafana provisions it; this module runs the same variable and panel SQL on either warehouse, after
expanding Grafana's template variables and Postgres macros the way Grafana does, and draws each panel
with plotly from the panel's own field config (units, axes, line styles, thresholds, value mappings). A
panel added to the generator therefore appears in both dashboards; a panel type without a drawer below
fails loudly.
"""

from __future__ import annotations

import copy
import html
import json
import numbers
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mlwatch.errors import MlwatchError
from mlwatch.warehouse import Warehouse

DASHBOARD_FILE = Path("grafana") / "dashboards" / "model-monitoring.json"
ALL = "$__all"

Query = Callable[[str], pd.DataFrame]
Panel = dict[str, Any]

# Grafana's macro pattern (pkg/tsdb/grafana-postgresql-datasource/macros.go): the arguments end at the
# first ')', so a macro cannot wrap an expression such as cast(...).
_MACRO = re.compile(r"\$(\w+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
# Grafana's named palette colours, as its panels draw them.
_COLORS = {
    "green": "#73BF69",
    "red": "#F2495C",
    "blue": "#5794F2",
    "orange": "#FF9830",
    "purple": "#B877D9",
    "yellow": "#FADE2A",
    "text": "#24292E",
}
ROW_HEIGHT_PX = 36  # one unit of gridPos.h


class DashboardError(MlwatchError):
    """The dashboard definition or the marts cannot produce the static dashboard."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def of_dashboard(cls, dashboard: Mapping[str, Any]) -> TimeRange:
        """The dashboard's default time range (absolute ISO times, as the provisioned JSON sets them)."""
        bounds = dashboard["time"]
        return cls(*(datetime.fromisoformat(bounds[key].replace("Z", "+00:00")) for key in ("from", "to")))

    @classmethod
    def of_days(cls, first: date, last: date) -> TimeRange:
        return cls(datetime.combine(first, time(), UTC), datetime.combine(last, time(), UTC))


@dataclass(frozen=True)
class VariableValue:
    values: tuple[str, ...]
    quoted: bool  # Grafana quotes the values of multi-value and include-all variables only

    def sql(self) -> str:
        """The variable as Grafana's SQL datasources interpolate it (SqlDatasource.interpolateVariable)."""
        if self.quoted:
            return ",".join("'" + value.replace("'", "''") + "'" for value in self.values)
        return self.values[0].replace("'", "''")


def load_dashboard(project_dir: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((project_dir / DASHBOARD_FILE).read_text())
    return dashboard


def layout(dashboard: Mapping[str, Any]) -> list[Panel]:
    """Rows and panels in reading order (a collapsed row keeps its panels inside it)."""

    def flattened() -> Iterator[Panel]:
        for panel in dashboard["panels"]:
            yield panel
            yield from panel.get("panels", [])

    return sorted(flattened(), key=lambda panel: (panel["gridPos"]["y"], panel["gridPos"]["x"]))


def panels(dashboard: Mapping[str, Any]) -> list[Panel]:
    return [panel for panel in layout(dashboard) if panel["type"] != "row"]


def target(panel: Panel) -> dict[str, Any]:
    """The panel's one query; several queries per panel would need Grafana's frame joining."""
    targets = panel.get("targets", [])
    if len(targets) != 1:
        raise DashboardError(f"Panel {panel['title']!r} has {len(targets)} queries; the static dashboard needs one")
    query: dict[str, Any] = targets[0]
    return query


def _rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC, which is how Grafana writes the time range into SQL."""
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def expand_macros(sql: str, time_range: TimeRange) -> str:
    """Grafana's Postgres macros that these dashboards use, expanded as its backend expands them."""
    start, end = f"'{_rfc3339(time_range.start)}'", f"'{_rfc3339(time_range.end)}'"

    def expand(match: re.Match[str]) -> str:
        name, args = match.group(1), [arg.strip() for arg in match.group(2).split(",")]
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN {start} AND {end}"
        if name == "__timeFrom":
            return start
        if name == "__timeTo":
            return end
        if name == "__time":
            return f'{args[0]} AS "time"'
        raise DashboardError(f"Grafana macro ${name} is not supported by the static dashboard")

    return _MACRO.sub(expand, sql)


def interpolate(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """Template variables ($name and ${name}) replaced; other `$` words, the macros, are left alone."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables[name].sql() if name in variables else match.group(0)

    return _VARIABLE.sub(replace, sql)


# The panels are Grafana's Postgres SQL. Spark reads it once double quotes name identifiers, as in standard SQL
# (its ANSI mode, on by default since Spark 4, with spark.sql.ansi.doubleQuotedIdentifiers), and Postgres' own
# spellings of these become Spark's.
_SPARK_SPELLINGS = (
    (re.compile(r"\bdouble precision\b", re.IGNORECASE), "double"),
    (re.compile(r"\bas text\)", re.IGNORECASE), "as string)"),
    (re.compile(r"\bextract\(epoch from ([^()]+)\)", re.IGNORECASE), r"(unix_micros(\1) / 1e6)"),
)


def panel_query(warehouse: Warehouse) -> Query:
    """The warehouse's query for the panels' SQL, spelt for its dialect."""
    if warehouse.dialect != "spark":
        return warehouse.query
    warehouse.execute("set spark.sql.ansi.doubleQuotedIdentifiers = true")

    def query(sql: str) -> pd.DataFrame:
        for spelling, spark in _SPARK_SPELLINGS:
            sql = spelling.sub(spark, sql)
        return warehouse.query(sql)

    return query


def render_sql(sql: str, time_range: TimeRange, variables: Mapping[str, VariableValue]) -> str:
    """The SQL Grafana sends to the database: variables first (its frontend), then macros (its backend)."""
    return expand_macros(interpolate(sql, variables), time_range)


def resolve_variables(dashboard: Mapping[str, Any], time_range: TimeRange, query: Query) -> dict[str, VariableValue]:
    """Each variable's value on a fresh load: "All" where that is the default, else the first option."""
    resolved: dict[str, VariableValue] = {}
    for variable in dashboard["templating"]["list"]:
        options = tuple(str(value) for value in query(render_sql(variable["query"], time_range, resolved)).iloc[:, 0])
        # Grafana gives a variable without options the value "" (shown as None): its panels show "No data"
        options = options or ("",)
        everything = variable.get("includeAll") and ALL in _as_list(variable.get("current", {}).get("value"))
        resolved[variable["name"]] = VariableValue(
            values=options if everything else options[:1],
            quoted=bool(variable.get("multi") or variable.get("includeAll")),
        )
    return resolved


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def field_config(panel: Panel, field: str | None = None) -> dict[str, Any]:
    """The panel's field defaults with its by-name overrides for `field` applied, as Grafana merges them."""
    merged: dict[str, Any] = copy.deepcopy(panel.get("fieldConfig", {}).get("defaults", {}))
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if field is not None and override["matcher"] == {"id": "byName", "options": field}:
            for prop in override["properties"]:
                *parents, leaf = prop["id"].split(".")
                node = merged
                for key in parents:
                    node = node.setdefault(key, {})
                node[leaf] = prop["value"]
    return merged


def _palette(color: str | None) -> str | None:
    """A Grafana colour name as its RGB; any other CSS colour as it is."""
    return _COLORS.get(color, color) if color else None


def _color(config: Mapping[str, Any]) -> str | None:
    return _palette(config.get("color", {}).get("fixedColor"))


def _value_mappings(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: option
        for mapping in config.get("mappings", [])
        if mapping.get("type") == "value"
        for key, option in mapping["options"].items()
    }


def series_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A time-series result as one column per series indexed by time; like Grafana, a string `metric`
    column in a three-column result names the series of the value column."""
    if "metric" in frame.columns:
        (value,) = (column for column in frame.columns if column not in ("time", "metric"))
        order = list(dict.fromkeys(frame["metric"]))
        frame = frame.pivot_table(index="time", columns="metric", values=value, aggfunc="first", dropna=False)
        return frame[order]
    return frame.set_index("time")


def _timeseries(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    series = series_frame(frame)
    figure = go.Figure()
    axes: dict[str, dict[str, Any]] = {}
    thresholds: set[tuple[str, float, str | None]] = set()
    for name in series.columns:
        config = field_config(panel, name)
        custom = config.get("custom", {})
        axis = "y2" if custom.get("axisPlacement") == "right" else "y"
        axes.setdefault(axis, config)
        color = _color(config)
        if custom.get("drawStyle") == "bars":
            figure.add_bar(x=series.index, y=series[name], name=name, yaxis=axis, marker_color=color, opacity=0.45)
        elif custom.get("drawStyle") == "points":
            marker = {"color": color, "size": custom.get("pointSize", 5)}
            figure.add_scatter(x=series.index, y=series[name], name=name, yaxis=axis, mode="markers", marker=marker)
        else:
            figure.add_scatter(
                x=series.index,
                y=series[name],
                name=name,
                yaxis=axis,
                mode="lines" if custom.get("showPoints") == "never" else "lines+markers",
                line={"color": color, "dash": "dash" if custom.get("lineStyle", {}).get("fill") == "dash" else None},
                fill="tozeroy" if custom.get("fillOpacity") else None,
            )
        if custom.get("thresholdsStyle", {}).get("mode", "off") != "off":
            for step in config.get("thresholds", {}).get("steps", []):
                if step.get("value") is not None:
                    thresholds.add((axis, float(step["value"]), _palette(step["color"])))
    for axis, value, color in thresholds:
        figure.add_shape(
            type="line", xref="paper", x0=0, x1=1, yref=axis, y0=value, y1=value, line={"color": color, "dash": "dash"}
        )
    for axis, config in axes.items():
        layout_key = "yaxis" if axis == "y" else "yaxis2"
        figure.update_layout({layout_key: _axis(config, right=axis == "y2")})
    return figure


def _axis(config: Mapping[str, Any], right: bool) -> dict[str, Any]:
    """A value axis from the field config: its lower bound, unit, label and the decimals its hover shows."""
    axis: dict[str, Any] = {"rangemode": "tozero"} if config.get("min") == 0 else {}
    decimals = config.get("decimals")
    if config.get("unit") == "percentunit":
        axis["tickformat"] = ".0%"
        axis["hoverformat"] = f".{1 if decimals is None else decimals}%"
    elif decimals is not None:
        axis["hoverformat"] = f",.{decimals}f"
    if "max" in config:
        axis["range"] = [config.get("min", 0), config["max"]]
    custom = config.get("custom", {})
    soft = [custom[key] for key in ("axisSoftMin", "axisSoftMax") if custom.get(key) is not None]
    if soft:  # Grafana's soft limits: the axis reaches them at least, and further if the data does
        axis["autorangeoptions"] = {"include": soft}
    if custom.get("axisLabel"):
        axis["title"] = {"text": custom["axisLabel"]}
    if right:
        axis.update(overlaying="y", side="right", showgrid=False)
    return axis


def _state_timeline(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    """One row per series, one cell per time, coloured by the panel's value mappings."""
    series = series_frame(frame)
    mappings = {float(key): option for key, option in _value_mappings(field_config(panel)).items()}
    if not mappings:
        raise DashboardError(f"Panel {panel['title']!r}: a state timeline needs value mappings to colour its states")
    keys = sorted(mappings)
    # Cells hold the index of their mapped value, and each index owns one band of a stepwise colour scale.
    scale = []
    for index, key in enumerate(keys):
        color = _palette(mappings[key]["color"])
        scale += [[index / len(keys), color], [(index + 1) / len(keys), color]]
    cells = series.T
    figure = go.Figure(
        go.Heatmap(
            x=series.index,
            y=list(series.columns),
            z=cells.map(lambda value: keys.index(value) if value in mappings else None).values,
            text=cells.map(lambda value: mappings[value]["text"] if value in mappings else "no data").values,
            zmin=-0.5,
            zmax=len(keys) - 0.5,
            colorscale=scale,
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="%{y}, %{x|%Y-%m-%d}: %{text}<extra></extra>",
        )
    )
    for key in keys:  # a legend, since the colour scale itself is hidden
        option = mappings[key]
        figure.add_scatter(
            x=[None], y=[None], mode="markers", name=option["text"], marker={"color": _palette(option["color"])}
        )
    figure.update_layout(yaxis={"autorange": "reversed", "showgrid": False}, xaxis={"showgrid": False})
    return figure


def _table(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    """Cells formatted by their field config; a color-text or color-background cell takes its mapped colour."""
    columns, fills, fonts = {}, [], []
    for name in frame.columns:
        config = field_config(panel, name)
        columns[name] = [_format(value, config) for value in frame[name]]
        colors = [_mapped_color(value, config) for value in frame[name]]
        cell_type = config.get("custom", {}).get("cellOptions", {}).get("type")
        background = cell_type == "color-background"
        fills.append([(color or "white") if background else "white" for color in colors])
        fonts.append([("white" if background else color) if color else _COLORS["text"] for color in colors])
    # Widths in proportion to the longest text, so cells wrap as little as they can.
    widths = [max(len(str(name)), *(len(cell) for cell in cells)) for name, cells in columns.items()]
    return go.Figure(
        go.Table(
            columnwidth=widths,
            header={"values": [f"<b>{html.escape(str(name))}</b>" for name in frame.columns], "align": "left"},
            cells={
                "values": list(columns.values()),
                "align": "left",
                "height": 24,
                "fill": {"color": fills},
                "font": {"color": fonts},
            },
        )
    )


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _mapping_key(value: Any) -> str:
    """A value as Grafana's value mappings match it: booleans as `true` / `false`."""
    return str(bool(value)).lower() if isinstance(value, bool | np.bool_) else str(value)


def _mapped_color(value: Any, config: Mapping[str, Any]) -> str | None:
    option = None if _missing(value) else _value_mappings(config).get(_mapping_key(value))
    return _palette(option.get("color")) if option else None


def _format(value: Any, config: Mapping[str, Any]) -> str:
    """A value as Grafana displays it: its value mapping's text, else the number in the field's unit and decimals."""
    if _missing(value):
        return ""
    option = _value_mappings(config).get(_mapping_key(value))
    if option:
        return str(option["text"])
    if isinstance(value, str | bool | np.bool_) or not isinstance(value, numbers.Number):
        return str(value)
    unit, decimals = config.get("unit"), config.get("decimals")
    if unit == "dateTimeAsIso":  # epoch milliseconds, shown in the dashboard's UTC
        return datetime.fromtimestamp(float(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if unit == "percentunit":
        return f"{value:.{1 if decimals is None else decimals}%}"
    if decimals is None:
        number = f"{value:,}" if isinstance(value, numbers.Integral) else f"{value:,.3f}"
    else:
        number = f"{value:,.{decimals}f}"
    return f"{number} min" if unit == "m" else number


def _threshold_color(value: Any, config: Mapping[str, Any]) -> str | None:
    """The colour of the highest threshold step at or below a number (the base step has no value)."""
    color = None
    for step in config.get("thresholds", {}).get("steps", []):
        if step.get("value") is None or (isinstance(value, numbers.Number) and value >= step["value"]):
            color = step["color"]
    return _palette(color)


def _stat(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    """One big value: the last non-null value of the one field the panel's reduce options pick."""
    options = panel.get("options", {})
    reduce = options.get("reduceOptions", {})
    if reduce.get("values") or reduce.get("calcs", ["lastNotNull"]) not in (["lastNotNull"], ["last"]):
        raise DashboardError(f"Panel {panel['title']!r}: the static stat shows the last value of one field only")
    pattern = reduce.get("fields") or ""
    if pattern:  # Grafana's "/regex/" field selector
        fields = [name for name in frame.columns if re.search(pattern.strip("/"), str(name))]
    else:  # the default: numeric fields
        fields = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])]
    if len(fields) != 1:
        raise DashboardError(f"Panel {panel['title']!r}: the static stat needs one field, the query gives {fields}")
    config = field_config(panel, fields[0])
    values = frame[fields[0]].dropna() if reduce.get("calcs", ["lastNotNull"]) == ["lastNotNull"] else frame[fields[0]]
    value = values.iloc[-1] if len(values) else None
    color = _mapped_color(value, config) or _threshold_color(value, config) or _COLORS["text"]
    mode = options.get("colorMode", "value")  # background, value (the text) or none
    result = go.Figure()
    result.add_annotation(
        text=f"<b>{html.escape(_format(value, config) or 'No data')}</b>",
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 26, "color": {"background": "white", "value": color}.get(mode, _COLORS["text"])},
    )
    result.update_xaxes(visible=False)
    result.update_yaxes(visible=False)
    if mode == "background":
        result.update_layout(paper_bgcolor=color, plot_bgcolor=color)
    return result


def _barchart(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    """Grouped bars: one category per row of the `xField` column, one bar per numeric field."""
    options = panel.get("options", {})
    numeric = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])]
    x_field = options.get("xField") or next(name for name in frame.columns if name not in numeric)
    horizontal = options.get("orientation") == "horizontal"
    result = go.Figure()
    for name in (name for name in numeric if name != x_field):
        config = field_config(panel, name)
        text = [_format(value, config) for value in frame[name]] if options.get("showValue") != "never" else None
        bars = {"x": frame[name], "y": frame[x_field]} if horizontal else {"x": frame[x_field], "y": frame[name]}
        result.add_bar(
            **bars,
            name=name,
            orientation="h" if horizontal else "v",
            marker_color=_color(config),
            text=text,
            textposition="outside",
            cliponaxis=False,
        )
    values, categories = _axis(field_config(panel), right=False), {"autorange": "reversed" if horizontal else True}
    result.update_layout(xaxis=values if horizontal else categories, yaxis=categories if horizontal else values)
    return result


_DRAWERS: dict[str, Callable[[Panel, pd.DataFrame], go.Figure]] = {
    "timeseries": _timeseries,
    "state-timeline": _state_timeline,
    "table": _table,
    "stat": _stat,
    "barchart": _barchart,
}


def figure(panel: Panel, frame: pd.DataFrame) -> go.Figure:
    """The panel drawn from its query result; an empty result shows "No data", as in Grafana."""
    draw = _DRAWERS.get(panel["type"])
    if draw is None:
        raise DashboardError(f"Panel {panel['title']!r}: type {panel['type']!r} has no static rendering yet")
    if frame.empty:
        result = go.Figure()
        result.add_annotation(text="No data", showarrow=False, font={"size": 18}, xref="paper", yref="paper")
        result.update_xaxes(visible=False)
        result.update_yaxes(visible=False)
    else:
        result = draw(panel, frame)
    flush = panel["type"] in ("table", "stat")
    result.update_layout(
        template="plotly_white",
        height=panel["gridPos"]["h"] * ROW_HEIGHT_PX,
        margin={"l": 0, "r": 0, "t": 0, "b": 0} if flush else {"l": 50, "r": 50, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.12},
        hovermode="x unified" if panel["type"] == "timeseries" else "closest",
        barmode="group" if panel["type"] == "barchart" else "overlay",
    )
    if panel["type"] in ("timeseries", "state-timeline"):  # the year is in the page header; a tick line is clutter
        result.update_xaxes(tickformat="%b %-d")
    return result


_STYLE = """
body { font-family: Inter, Helvetica, Arial, sans-serif; margin: 0; background: #f4f5f5; color: #24292e; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dcdee1; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #5a6270; font-size: 13px; }
header p.notice { margin-top: 6px; color: #a34a00; font-weight: 600; }
main { display: grid; grid-template-columns: repeat(24, 1fr); gap: 8px; padding: 8px 16px 24px; }
main h2 { grid-column: 1 / -1; margin: 12px 0 0; font-size: 16px; }
main h2 small { color: #5a6270; font-weight: normal; font-size: 12px; }
section { background: #fff; border: 1px solid #dcdee1; border-radius: 4px; padding: 8px; min-width: 0; }
section h3 { margin: 0; font-size: 14px; }
section p { margin: 2px 0 4px; color: #5a6270; font-size: 12px; }
"""


def render_html(
    dashboard: Mapping[str, Any], figures: Mapping[int, go.Figure], subtitle: str, notices: Sequence[str] = ()
) -> str:
    """One page, plotly.js inlined once, the panels on Grafana's 24-column grid."""
    body = []
    for panel in layout(dashboard):
        title = html.escape(panel["title"])
        if panel["type"] == "row":
            note = " <small>(collapsed in Grafana)</small>" if panel.get("collapsed") else ""
            body.append(f"<h2>{title}{note}</h2>")
            continue
        plot = figures[panel["id"]].to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"panel-{panel['id']}",
            config={"displayModeBar": False, "responsive": True},
        )
        body.append(
            f'<section style="grid-column: span {panel["gridPos"]["w"]}"><h3>{title}</h3>'
            f"<p>{html.escape(panel.get('description', ''))}</p>{plot}</section>"
        )
    title = html.escape(dashboard["title"])
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        f"<style>{_STYLE}</style>\n<script>{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<header><h1>{title}</h1><p>{html.escape(subtitle)}</p>"
        + "".join(f'<p class="notice">{html.escape(notice)}</p>' for notice in notices)
        + "</header>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def data_time_range(query: Query) -> TimeRange:
    """All batch dates in the marts: a file has no time picker, so it shows everything."""
    bounds = query("select min(batch_date) as first, max(batch_date) as last from marts.daily_model_monitoring")
    first, last = bounds.iloc[0]
    if pd.isna(first):
        raise DashboardError("marts.daily_model_monitoring is empty: run `mlwatch metrics` first")
    return TimeRange.of_days(pd.Timestamp(first).date(), pd.Timestamp(last).date())


def build(dashboard: Mapping[str, Any], query: Query, source: str, notices: Sequence[str] = ()) -> str:
    """The whole static dashboard as HTML, from the marts behind `query`, with `notices` under its title."""
    time_range = data_time_range(query)
    variables = resolve_variables(dashboard, time_range, query)
    figures = {
        panel["id"]: figure(panel, query(render_sql(target(panel)["rawSql"], time_range, variables)))
        for panel in panels(dashboard)
    }
    shown = "; ".join(f"{name}: {', '.join(value.values) or 'None'}" for name, value in variables.items())
    subtitle = (
        f"{time_range.start:%Y-%m-%d} to {time_range.end:%Y-%m-%d} · {shown} · {source} · "
        f"rendered {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    return render_html(dashboard, figures, subtitle, notices)
