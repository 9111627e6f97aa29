"""The Grafana dashboard without Grafana: its panels drawn from the marts into one self-contained HTML file.

grafana/dashboards/model-monitoring.json is the only definition of the panels. Grafana provisions it;
this module runs the same variable and panel SQL on either warehouse, after expanding Grafana's
template variables and Postgres macros the way Grafana does, and draws each panel with plotly from
the panel's own field config (units, axes, line styles, thresholds, value mappings). A panel added to
the JSON therefore appears in both dashboards; a panel type without a drawer below fails loudly.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mlwatch.errors import MlwatchError

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
}
_ROW_HEIGHT_PX = 36  # one unit of gridPos.h


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
    return json.loads((project_dir / DASHBOARD_FILE).read_text())


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
    return targets[0]


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


def render_sql(sql: str, time_range: TimeRange, variables: Mapping[str, VariableValue]) -> str:
    """The SQL Grafana sends to the database: variables first (its frontend), then macros (its backend)."""
    return expand_macros(interpolate(sql, variables), time_range)


def resolve_variables(dashboard: Mapping[str, Any], time_range: TimeRange, query: Query) -> dict[str, VariableValue]:
    """Each variable's value on a fresh load: "All" where that is the default, else the first option."""
    resolved: dict[str, VariableValue] = {}
    for variable in dashboard["templating"]["list"]:
        options = tuple(str(value) for value in query(render_sql(variable["query"], time_range, resolved)).iloc[:, 0])
        if not options:
            raise DashboardError(f"Variable ${variable['name']} has no values: are the marts built and non-empty?")
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
    merged = copy.deepcopy(panel.get("fieldConfig", {}).get("defaults", {}))
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
    axis: dict[str, Any] = {"rangemode": "tozero"} if config.get("min") == 0 else {}
    if config.get("unit") == "percentunit":
        axis["tickformat"] = ".0%"
    if "max" in config:
        axis["range"] = [config.get("min", 0), config["max"]]
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
    columns = {}
    for name in frame.columns:
        config = field_config(panel, name)
        mappings = _value_mappings(config)
        columns[name] = [_cell(value, config, mappings) for value in frame[name]]
    # Widths in proportion to the longest text, so cells wrap as little as they can.
    widths = [max(len(str(name)), *(len(cell) for cell in cells)) for name, cells in columns.items()]
    return go.Figure(
        go.Table(
            columnwidth=widths,
            header={"values": [f"<b>{html.escape(str(name))}</b>" for name in frame.columns], "align": "left"},
            cells={"values": list(columns.values()), "align": "left", "height": 24},
        )
    )


def _cell(value: Any, config: Mapping[str, Any], mappings: Mapping[str, Mapping[str, Any]]) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key in mappings:
        return str(mappings[key]["text"])
    if isinstance(value, float):
        return f"{value:.1%}" if config.get("unit") == "percentunit" else f"{value:.{config.get('decimals', 3)}f}"
    return str(value)


_DRAWERS: dict[str, Callable[[Panel, pd.DataFrame], go.Figure]] = {
    "timeseries": _timeseries,
    "state-timeline": _state_timeline,
    "table": _table,
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
    result.update_layout(
        template="plotly_white",
        height=panel["gridPos"]["h"] * _ROW_HEIGHT_PX,
        margin={"l": 50, "r": 50, "t": 10, "b": 10} if panel["type"] != "table" else {"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "y": -0.12},
        hovermode="x unified" if panel["type"] == "timeseries" else "closest",
        barmode="overlay",
    )
    if panel["type"] != "table":  # the batch dates' year is in the page header; a tick line for it is clutter
        result.update_xaxes(tickformat="%b %-d")
    return result


_STYLE = """
body { font-family: Inter, Helvetica, Arial, sans-serif; margin: 0; background: #f4f5f5; color: #24292e; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dcdee1; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #5a6270; font-size: 13px; }
main { display: grid; grid-template-columns: repeat(24, 1fr); gap: 8px; padding: 8px 16px 24px; }
main h2 { grid-column: 1 / -1; margin: 12px 0 0; font-size: 16px; }
section { background: #fff; border: 1px solid #dcdee1; border-radius: 4px; padding: 8px; min-width: 0; }
section h3 { margin: 0; font-size: 14px; }
section p { margin: 2px 0 4px; color: #5a6270; font-size: 12px; }
"""


def render_html(dashboard: Mapping[str, Any], figures: Mapping[int, go.Figure], subtitle: str) -> str:
    """One page, plotly.js inlined once, the panels on Grafana's 24-column grid."""
    body = []
    for panel in layout(dashboard):
        title = html.escape(panel["title"])
        if panel["type"] == "row":
            body.append(f"<h2>{title}</h2>")
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
        f"<header><h1>{title}</h1><p>{html.escape(subtitle)}</p></header>\n<main>\n"
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


def build(dashboard: Mapping[str, Any], query: Query, source: str) -> str:
    """The whole static dashboard as HTML, from the marts behind `query`."""
    time_range = data_time_range(query)
    variables = resolve_variables(dashboard, time_range, query)
    figures = {
        panel["id"]: figure(panel, query(render_sql(target(panel)["rawSql"], time_range, variables)))
        for panel in panels(dashboard)
    }
    shown = "; ".join(f"{name}: {', '.join(value.values)}" for name, value in variables.items())
    subtitle = (
        f"{time_range.start:%Y-%m-%d} to {time_range.end:%Y-%m-%d} · {shown} · {source} · "
        f"rendered {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    return render_html(dashboard, figures, subtitle)
