"""The Evidently engine: one Evidently Report per daily batch against the reference, in pandas.

`evaluate_batch` is pure (two frames in, metric values out); `compute_metrics` does the I/O:
one query per side, then one Report per pending day, each day judged and written atomically (mlwatch.batches).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import (
    DriftedColumnsCount,
    MissingValueCount,
    RowCount,
    ValueDrift,
)

from mlwatch.batches import (
    MetricsRun,
    Thresholds,
    plan_days,
    read_side,
    with_calibrated_verdicts,
    write_days,
)
from mlwatch.calibration.column_tests import configured_test_names
from mlwatch.calibration.store import ensure_calibration
from mlwatch.config import MonitoringConfig
from mlwatch.warehouse import Warehouse, WarehouseSettings, connected

ENGINE = "evidently"
DATASET = ""  # column_name of dataset-level metrics


@dataclass(frozen=True)
class MetricValue:
    metric_name: str
    column_name: str
    metric_value: float
    stat_test: str | None = None
    threshold: float | None = None
    drift_detected: bool | None = None


def data_definition(config: MonitoringConfig) -> DataDefinition:
    return DataDefinition(
        numerical_columns=[*config.numerical_features, config.target_column, config.prediction_column],
        categorical_columns=config.categorical_features,
    )


def build_report(config: MonitoringConfig) -> Report:
    """The course's monitoring metrics, in Evidently 0.7 terms, with per-column tests from the seed."""
    drift_columns = config.drift_columns
    methods = {c: config.column(c).stat_test for c in drift_columns if config.column(c).stat_test}
    thresholds = {c: config.column(c).threshold for c in drift_columns if config.column(c).threshold is not None}
    return Report(
        [
            RowCount(),
            *(ValueDrift(column=c, method=methods.get(c), threshold=thresholds.get(c)) for c in drift_columns),
            DriftedColumnsCount(
                columns=drift_columns,
                drift_share=config.drift_share,
                per_column_method=methods or None,
                per_column_threshold=thresholds or None,
            ),
            *(MissingValueCount(column=c) for c in config.monitored_columns),
        ],
        include_tests=True,
    )


def numerical_columns(config: MonitoringConfig) -> list[str]:
    return [*config.numerical_features, config.target_column, config.prediction_column]


def column_health(
    current: pd.DataFrame, reference: pd.DataFrame, config: MonitoringConfig, absent: tuple[str, ...] = ()
) -> list[MetricValue]:
    """Per-column data health of a batch: statistics, and values the reference never had.

    These are the pandas calls behind Evidently's MinValue, MaxValue, MeanValue, QuantileValue,
    OutRangeValueCount and OutListValueCount (tests/test_metrics.py holds them equal). Evidently renders a
    plotly widget for every one of them, which is 90% of its time and useless here, so they are called directly.
    """
    values = []
    for column in (name for name in numerical_columns(config) if name not in absent):
        data, known = current[column], reference[column].dropna()
        values += [
            MetricValue("min", column, float(data.min())),
            MetricValue("max", column, float(data.max())),
            MetricValue("mean", column, float(data.mean())),
            *(MetricValue(name, column, float(data.quantile(q))) for name, q in config.health_quantiles),
        ]
        if not known.empty:
            outside = int(data.count() - data.between(known.min(), known.max()).sum())
            values += _count_and_share("out_of_range", column, outside, data.count())
    for column in config.categorical_features:
        data = current[column]
        new = int(data.count() - data.value_counts().reindex(reference[column].dropna().unique(), fill_value=0).sum())
        values += _count_and_share("new_category", column, new, data.count())
    return values


def _count_and_share(prefix: str, column: str, count: int, total: int) -> list[MetricValue]:
    return [
        MetricValue(f"{prefix}_count", column, float(count)),
        MetricValue(f"{prefix}_share", column, count / total if total else float("nan")),
    ]


def evaluate_batch(current: pd.DataFrame, reference: pd.DataFrame, config: MonitoringConfig) -> list[MetricValue]:
    """Metric values of one batch against the reference; an empty batch yields only its row count of 0."""
    if current.empty:
        return [MetricValue("row_count", DATASET, 0.0)]
    columns = config.monitored_columns
    definition = data_definition(config)
    snapshot = build_report(config).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    # A day none of whose labels has landed yet has no target column, as Evidently would be given it: its missing
    # labels are reported as the target's missing count, not as missing values of the dataset.
    unlabelled = (config.target_column,) if current[config.target_column].isna().all() else ()
    return [
        *_metric_values(snapshot.dict(), columns, configured_test_names(config), unlabelled),
        *column_health(current, reference, config, absent=unlabelled),
    ]


def _metric_values(
    result: dict[str, Any], columns: list[str], test_names: dict[str, str], unlabelled: tuple[str, ...]
) -> list[MetricValue]:
    failed = {test["metric_config"]["metric_id"] for test in result["tests"] if test["status"] == "FAIL"}
    values: list[MetricValue] = []
    rows = 0.0
    missing = 0.0
    for metric in result["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        value = metric["value"]
        if kind == "RowCount":
            rows = float(value)
            values.append(MetricValue("row_count", DATASET, rows))
        elif kind == "ValueDrift":
            config = metric["config"]
            values.append(
                MetricValue(
                    "drift_score",
                    config["column"],
                    float(value),
                    stat_test=test_names.get(config["column"], config["method"]),
                    threshold=float(config["threshold"]),
                    drift_detected=metric["id"] in failed,
                )
            )
        elif kind == "DriftedColumnsCount":
            share = metric["config"]["drift_share"]
            values += [
                MetricValue("drifted_columns_count", DATASET, float(value["count"])),
                MetricValue("drifted_columns_share", DATASET, float(value["share"]), threshold=share),
                MetricValue(
                    "dataset_drift",
                    DATASET,
                    float(metric["id"] in failed),
                    stat_test="share of drifted columns",
                    threshold=share,
                    drift_detected=metric["id"] in failed,
                ),
            ]
        elif kind == "MissingValueCount":
            column = metric["config"]["column"]
            if column not in unlabelled:
                missing += float(value["count"])
            values += [
                MetricValue("missing_count", column, float(value["count"])),
                MetricValue("missing_share", column, float(value["share"])),
            ]
    # Evidently's DatasetMissingValueCount().share divides by rows; the course's share is per cell.
    values += [
        MetricValue("missing_values_count", DATASET, missing),
        MetricValue("missing_values_share", DATASET, missing / (rows * (len(columns) - len(unlabelled)))),
    ]
    return values


def _day_rows(day: dt.date, version: str, values: list[MetricValue], seconds: float) -> list[dict[str, Any]]:
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return [
        {
            "batch_date": day,
            "model_version": version,
            **value.__dict__,
            "engine": ENGINE,
            "evidently_version": evidently.__version__,
            "computed_at": computed_at,
            "compute_seconds": seconds,
        }
        for value in values
    ]


def _compute_version(
    warehouse: Warehouse,
    config: MonitoringConfig,
    version: str,
    days: list[dt.date],
    on_day: Callable[[dt.date], None] | None,
) -> int:
    """One Report per day of the version, each day judged and written on its own; the rows written."""
    reference = read_side(warehouse, config, version, "split = 'reference'", [])
    current = read_side(
        warehouse, config, version, "split = 'production' and batch_date between ? and ?", [days[0], days[-1]]
    )
    batches = dict(tuple(current.groupby("batch_date")))
    calibration = ensure_calibration(warehouse, config, version, reference, [len(b) for b in batches.values()])
    thresholds = Thresholds.of(calibration)
    rows_written = 0
    for day in days:
        day_started = time.perf_counter()
        batch = batches.get(day, current.iloc[0:0])
        values = evaluate_batch(batch, reference, config)
        rows = _day_rows(day, version, values, time.perf_counter() - day_started)
        rows_written += write_days(
            warehouse, version, {day: with_calibrated_verdicts(rows, thresholds, len(batch), config)}
        )
        if on_day:
            on_day(day)
    return rows_written


def compute_metrics(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    full_refresh: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_day: Callable[[dt.date], None] | None = None,
) -> MetricsRun:
    """Compute every (model version, batch date) not yet in raw.batch_metrics, or all with full_refresh."""
    started = time.perf_counter()
    configured_test_names(config)  # refuse an unknown stat test before any work
    with connected(settings) as warehouse:
        plan = plan_days(warehouse, config, full_refresh)
        if on_start:
            on_start(sum(len(days) for days in plan.values()))
        rows_written = sum(
            _compute_version(warehouse, config, version, days, on_day) for version, days in plan.items() if days
        )
    days_computed = sum(len(days) for days in plan.values())
    return MetricsRun(len(plan), days_computed, rows_written, time.perf_counter() - started)
