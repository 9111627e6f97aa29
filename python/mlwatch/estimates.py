"""Label-free performance: each day's MAE estimated before its labels by Direct Loss Estimation, as NannyML computes it.

DLE (NannyML's method) fits a gradient-boosted model (LightGBM, its default settings) on the reference's features
and prediction to predict each row's absolute error, then averages that predicted loss, clipped at 0, over each
day's scored rows. Its band is NannyML's: the estimate +/- 3 sampling errors, the reference's absolute errors'
standard deviation / sqrt(the day's rows), the lower end at 0. `mlwatch metrics` writes the estimates to
raw.performance_estimates, which the daily_performance_estimates mart joins to the realized MAE.

The same computation as `nannyml.DLE` (tests/test_alarms.py holds them equal on every day), without importing
NannyML: its import pulls in its plotting stack and FLAML, seconds on every run. On Spark the production rows
stay where they are: the loss model is applied per partition (`mapInPandas`), each day's mean in Spark SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import signal
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlwatch.batches import model_versions
from mlwatch.config import MonitoringConfig
from mlwatch.schema import PERFORMANCE_ESTIMATE_SCHEMA
from mlwatch.spark import SparkWarehouse
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

METHOD = "nannyml_dle"
# Up to this many reference and production rows, a version's DLE is fitted in a child process beside the drift
# (the month: 80,000); above, in this process, as the rows are read (a year of 100,000 trips a day: 37.5M).
MAX_ROWS_BESIDE = 2_000_000
MISSING_CATEGORY = "NML_missing_value"  # NannyML DLE's stand-in for a missing text value
BAND_SAMPLING_ERRORS = 3  # NannyML DLE's band: the estimate +/- 3 sampling errors (dle.py, _estimate_chunk)


@dataclass(frozen=True)
class LossModel:
    """DLE fitted on a reference: the model of each row's absolute error, and those errors' standard deviation."""

    model: Any  # lightgbm.LGBMRegressor
    columns: list[str]  # the features, then the prediction, as the model was fitted on them
    error_std: float
    # text features, each with its sklearn OrdinalEncoder fitted on the reference
    encoders: dict[str, Any] = field(default_factory=dict)

    def losses(self, rows: pd.DataFrame) -> np.ndarray:
        """Each row's predicted absolute error, clipped at 0 as NannyML clips it."""
        predicted: np.ndarray = self.model.predict(encoded(rows[self.columns], self.encoders))
        return predicted.clip(min=0)

    def daily(self, days: pd.DataFrame) -> pd.DataFrame:
        """`days` (batch_date, estimated_rows, estimated_mae) with NannyML's band."""
        band = BAND_SAMPLING_ERRORS * self.error_std / np.sqrt(days["estimated_rows"].to_numpy(float))
        return days.assign(
            estimated_mae_lower=np.maximum(0, days["estimated_mae"] - band),
            estimated_mae_upper=days["estimated_mae"] + band,
        )


def encoded(rows: pd.DataFrame, encoders: dict[str, Any]) -> pd.DataFrame:
    """Text features as NannyML's DLE feeds them to LightGBM (dle.py, _fit and _estimate): missing values as the
    category 'NML_missing_value', then each category's ordinal code plus one, 0 for one the reference never had."""
    if not encoders:
        return rows
    rows = rows.copy()
    for name, encoder in encoders.items():
        values = rows[name].astype("object").fillna(MISSING_CATEGORY).to_numpy().reshape(-1, 1)
        rows[name] = encoder.transform(values).ravel() + 1
    return rows


def fit_loss_model(reference: pd.DataFrame, features: list[str], prediction: str, target: str) -> LossModel:
    """DLE's fit, as NannyML's for the MAE: rows without a target or a prediction dropped, LightGBM's defaults
    (its logging off), numerical features as they are, text ones as categories (NannyML decides by the pandas
    type, as here: the taxi's location ids are numbers to both)."""
    from lightgbm import LGBMRegressor  # seconds to import: only the metrics step needs it
    from sklearn.preprocessing import OrdinalEncoder

    labelled = reference.dropna(subset=[target, prediction])
    columns = [*features, prediction]
    encoders = {}
    for name in features:
        if labelled[name].dtype in ("object", "string", "category", "bool"):
            values = labelled[name].astype("object").fillna(MISSING_CATEGORY).to_numpy().reshape(-1, 1)
            encoders[name] = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(values)
    error = (labelled[target] - labelled[prediction]).abs()
    model = LGBMRegressor(verbose=-1).fit(
        encoded(labelled[columns], encoders), error, categorical_feature=sorted(encoders)
    )
    return LossModel(model, columns, float(np.std(error)), encoders)


def estimate_daily_mae(
    reference: pd.DataFrame, analysis: pd.DataFrame, features: list[str], prediction: str, target: str
) -> pd.DataFrame:
    """One row per `batch_date` of `analysis` (the features and the prediction; `reference` has the target too):
    estimated_rows, estimated_mae and its lower and upper bound."""
    fitted = fit_loss_model(reference, features, prediction, target)
    losses = pd.Series(fitted.losses(analysis), index=analysis.index)
    by_day = losses.groupby(analysis["batch_date"], sort=True)
    days = pd.DataFrame({"estimated_rows": by_day.size(), "estimated_mae": by_day.mean()})
    return fitted.daily(days.reset_index())


def _reference_sql(config: MonitoringConfig) -> str:
    """The reference's labelled rows, by pickup day, of the model version given as parameter."""
    columns = ", ".join([*config.features, config.prediction_column, config.target_column])
    return (
        f"select cast({config.timestamp_column} as date) as batch_date, {columns} from {config.rows_relation} "
        f"where split = 'reference' and is_performance_row and model_version = ? order by {config.id_column}"
    )


def _analysis_query(config: MonitoringConfig, version: str, full_refresh: bool) -> tuple[str, list[str]]:
    """The production rows `version` scored, by batch, and the query's parameters: on days it has no estimate for
    yet, or on every day with `full_refresh`."""
    columns = ", ".join([*config.features, config.prediction_column])
    sql = (
        f"select batch_date, {columns} from {config.rows_relation} where split = 'production' and passes_input_rules "
        f"and {config.prediction_column} is not null and model_version = ? "
    )
    if full_refresh:
        return sql + f"order by batch_date, {config.id_column}", [version]
    new_days = (
        f"and batch_date not in (select batch_date from {RAW_SCHEMA}.performance_estimates where model_version = ?) "
    )
    return sql + new_days + f"order by batch_date, {config.id_column}", [version, version]


def _spark_daily_estimates(
    warehouse: SparkWarehouse, config: MonitoringConfig, version: str, full_refresh: bool
) -> pd.DataFrame | None:
    """What `daily_estimates` gives, without the production rows on the driver: the loss model applied per
    partition where the rows are, each day's mean and rows in Spark."""
    from pyspark.sql import functions

    sql, params = _analysis_query(config, version, full_refresh)
    analysis = warehouse.spark.sql(sql, args=params)
    if analysis.isEmpty():
        return None
    reference = warehouse.query(_reference_sql(config), [version])
    if reference.empty:
        return None
    fitted = fit_loss_model(reference, config.features, config.prediction_column, config.target_column)

    def losses(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            yield pd.DataFrame({"batch_date": frame["batch_date"], "loss": fitted.losses(frame)})

    days = (
        analysis.mapInPandas(losses, "batch_date date, loss double")
        .groupBy("batch_date")
        .agg(functions.count("*").alias("estimated_rows"), functions.avg("loss").alias("estimated_mae"))
        .orderBy("batch_date")
        .toPandas()
    )
    return fitted.daily(days)


def _rows(warehouse: Warehouse, config: MonitoringConfig, version: str, full_refresh: bool) -> tuple[Any, ...] | None:
    """`estimate_daily_mae`'s arguments for `version`: None without reference labels or a day to estimate."""
    analysis = warehouse.query(*_analysis_query(config, version, full_refresh))
    if analysis.empty:
        return None
    reference = warehouse.query(_reference_sql(config), [version])
    if reference.empty:
        return None
    return reference, analysis, config.features, config.prediction_column, config.target_column


class Estimates(contextlib.AbstractContextManager["Estimates"]):
    """Each model version's estimates under way (`start`), written by `finish`; leaving the block stops the work."""

    def __init__(self, config: MonitoringConfig, full_refresh: bool, versions: list[str]) -> None:
        self.config, self.full_refresh, self.versions = config, full_refresh, versions
        self._jobs: dict[str, Future[pd.DataFrame]] = {}
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, version: str, arguments: tuple[Any, ...]) -> None:
        reference, analysis = arguments[0], arguments[1]
        if len(reference) + len(analysis) > MAX_ROWS_BESIDE:
            # Sent to a child, the rows would be held three times (here until the fit ends, pickled, in the child).
            done: Future[pd.DataFrame] = Future()
            done.set_result(estimate_daily_mae(*arguments))
            self._jobs[version] = done
            return
        if self._executor is None:
            # Spawned, not forked: this process has threads (the progress display's, DuckDB's). Ctrl-C is for this
            # process to handle: it stops the work when the block ends, without a second traceback from the child.
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=signal.signal,
                initargs=(signal.SIGINT, signal.SIG_IGN),
            )
        self._jobs[version] = self._executor.submit(estimate_daily_mae, *arguments)

    @property
    def in_background(self) -> bool:  # some version's fit runs in the child
        return self._executor is not None

    def finish(self, warehouse: Warehouse) -> int:
        """Wait for the estimates and write them; on Spark, compute them now, where the rows are."""
        written = 0
        computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        for version in self.versions:
            if isinstance(warehouse, SparkWarehouse):
                daily = _spark_daily_estimates(warehouse, self.config, version, self.full_refresh)
            else:
                job = self._jobs.get(version)
                daily = None if job is None else job.result()
            if daily is None:
                continue
            daily = daily.assign(model_version=version, method=METHOD, computed_at=computed_at)
            table = pa.Table.from_pandas(daily[PERFORMANCE_ESTIMATE_SCHEMA.names], schema=PERFORMANCE_ESTIMATE_SCHEMA)
            with warehouse.transaction():
                if self.full_refresh:
                    warehouse.execute(
                        f"delete from {RAW_SCHEMA}.performance_estimates where model_version = ?", [version]
                    )
                warehouse.append(f"{RAW_SCHEMA}.performance_estimates", table)
            written += table.num_rows
        return written

    def __exit__(self, *exc_info: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)


def start(warehouse: Warehouse, config: MonitoringConfig, full_refresh: bool) -> Estimates:
    """Estimates for each production day of each model version of the reference month that has none yet (every
    day, replacing the version's rows, with `full_refresh`), as the engines compute only new days.

    The rows are read here and DLE runs in a child process, so that LightGBM's import and fit take the second core
    while this process computes the drift (dbt's work and Python's are one core's: they hold the GIL). On Spark
    nothing starts here: `finish` computes them where the rows are."""
    versions = model_versions(warehouse, config)
    estimates = Estimates(config, full_refresh, versions)
    if not isinstance(warehouse, SparkWarehouse):
        for version in versions:
            if arguments := _rows(warehouse, config, version, full_refresh):
                estimates.submit(version, arguments)
    return estimates


def write_estimates(warehouse: Warehouse, config: MonitoringConfig, full_refresh: bool) -> int:
    """`start` and `finish` in one: the rows written."""
    with start(warehouse, config, full_refresh) as estimates:
        return estimates.finish(warehouse)
