"""`mlwatch report`: one production day against the reference as Evidently's own HTML, to debug what the marts show.

Two self-contained files (Evidently inlines its scripts, styles and fonts; nothing is fetched from a CDN):
report-DAY.html has the data drift and regression presets, with their tests in a second tab, and
tests-DAY.html has the tests alone, as Evidently renders a test suite.

The rows are the metrics step's: each side's rows passing the input rules in intermediate.int_trips_scored, for
the newest model version trained on the reference month. Drift uses all of them, with the seed's tests and
thresholds. The regression preset must only see performance rows (is_performance_row: the target rules hold,
and there are a label and a prediction), as the performance marts do: the other rows keep their features and
prediction but lose their label, and Evidently's regression metrics skip rows without one.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlwatch.batches import newest_model_version, read_side
from mlwatch.config import MonitoringConfig
from mlwatch.errors import UsageError
from mlwatch.warehouse import Warehouse

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(text: str, config: MonitoringConfig) -> dt.date:
    """The day of a --date in the production months (or period), or a UsageError saying what is wrong with it."""
    if not DATE_PATTERN.match(text):
        raise UsageError(f"--date {text!r} is not a date in YYYY-MM-DD form")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as error:
        raise UsageError(f"--date {text!r} is not a date: {error}") from None
    if not config.is_production_day(day):
        raise UsageError(f"--date {day} is outside {config.production_label}")
    return day


def _read(warehouse: Warehouse, config: MonitoringConfig, version: str, where: str, params: list[Any]) -> pd.DataFrame:
    """A side's rows as the metrics step reads them, the label blanked on rows that are not performance rows."""
    labelled = read_side(warehouse, config, version, f"{where} and is_performance_row", params)
    unlabelled = read_side(warehouse, config, version, f"{where} and is_performance_row is not true", params)
    unlabelled[config.target_column] = np.nan
    return pd.concat([labelled, unlabelled], ignore_index=True)


def _titled(page: str, title: str) -> str:
    # Evidently's page names neither the day nor the model; a title and a heading tell one file from the next.
    escaped = html.escape(title)
    page = page.replace("<head>", f"<head>\n<title>{escaped}</title>", 1)
    return page.replace("<body>", f'<body>\n<h2 style="font-family: sans-serif; margin: 16px">{escaped}</h2>', 1)


def write_reports(warehouse: Warehouse, config: MonitoringConfig, day: dt.date, output_dir: Path) -> list[Path]:
    """Write the day's report and test results to output_dir; nothing is written when the day has no rows."""
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.core.metric_types import metric_tests_widget, render_widgets
    from evidently.core.report import metric_tests_stats
    from evidently.presets import DataDriftPreset, RegressionPreset

    from mlwatch.engines.evidently import data_definition

    version = newest_model_version(warehouse, config)
    current = _read(warehouse, config, version, "split = 'production' and batch_date = ?", [day])
    if current.empty:
        raise UsageError(f"No trip on {day} passes the input rules (model {version}): nothing to report")
    reference = _read(warehouse, config, version, "split = 'reference'", [])

    # A day none of whose labels has landed yet has no target column (as for the metrics): drift only.
    labelled = int(current[config.target_column].notna().sum())
    columns = [c for c in config.monitored_columns if labelled or c != config.target_column]
    base = data_definition(config)
    definition = DataDefinition(
        numerical_columns=[c for c in base.numerical_columns or [] if c in columns],
        categorical_columns=base.categorical_columns,
        regression=[Regression(target=config.target_column, prediction=config.prediction_column)] if labelled else None,
    )
    drift = config.drift_columns
    methods = {c: config.column(c).stat_test for c in drift if config.column(c).stat_test}
    thresholds = {c: config.column(c).threshold for c in drift if config.column(c).threshold is not None}
    snapshot = Report(
        [
            DataDriftPreset(
                columns=drift,
                drift_share=config.drift_share,
                per_column_method=methods or None,
                per_column_threshold=thresholds or None,
            ),
            *([RegressionPreset()] if labelled else []),
        ],
        include_tests=True,
    ).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    title = (
        f"mlwatch: {day} against {config.reference_label}, model {version}: "
        f"{len(current):,} rows, {labelled:,} with a label for performance"
    )
    tests = snapshot.tests_results
    pages = {
        output_dir / f"report-{day}.html": snapshot.get_html_str(as_iframe=False),
        output_dir / f"tests-{day}.html": render_widgets([metric_tests_stats(tests), metric_tests_widget(tests)]),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    for path, page in pages.items():
        path.write_text(_titled(page, title), encoding="utf-8")
    return list(pages)
