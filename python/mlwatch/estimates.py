"""Label-free performance: each day's MAE estimated before its labels by NannyML's Direct Loss Estimation.

DLE fits a gradient-boosted model (LightGBM) on the reference's features and prediction to predict the absolute
error, then averages that predicted loss over each day's scored trips. Its band is NannyML's confidence band:
the estimate +/- 3 standard errors of the day's mean loss. `mlwatch metrics` writes the estimates to
raw.performance_estimates, which the daily_performance_estimates mart joins to the realized MAE.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa

from mlwatch.config import MonitoringConfig
from mlwatch.relations import TRIPS_SCORED
from mlwatch.schema import PERFORMANCE_ESTIMATE_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

METHOD = "nannyml_dle"
# NannyML reports usage to a remote service unless told not to; the monitoring must never phone home.
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")


def import_nannyml() -> ModuleType:
    """NannyML with PySpark hidden from its import (seconds; only the metrics step needs it).

    NannyML imports FLAML, whose Spark support, when PySpark is installed (dbt-spark brings it), starts a default
    SparkSession at import: a JVM in every DuckDB and Postgres run, a spark-warehouse/ folder in the working
    directory, and, on Spark, ANSI mode turned off in mlwatch's own session. DLE runs on pandas and needs none."""
    pyspark = sys.modules.get("pyspark")
    sys.modules["pyspark"] = None  # type: ignore[assignment]  # `import pyspark` raises ImportError meanwhile
    try:
        return importlib.import_module("nannyml")
    finally:
        if pyspark is None:
            del sys.modules["pyspark"]
        else:
            sys.modules["pyspark"] = pyspark


def estimate_daily_mae(
    reference: pd.DataFrame, analysis: pd.DataFrame, features: list[str], prediction: str, target: str
) -> pd.DataFrame:
    """One row per `batch_date` of `analysis`: estimated_rows, estimated_mae and its lower and upper bound.

    `reference` has the features, the prediction, the target and batch_date (its own days, chunks of the
    reference); `analysis` the same without the target."""
    nml = import_nannyml()
    estimator = nml.DLE(
        feature_column_names=features,
        y_pred=prediction,
        y_true=target,
        timestamp_column_name="timestamp",
        chunk_period="D",
        metrics=["mae"],
        hyperparameters={"verbose": -1},  # LightGBM's defaults otherwise, as NannyML's; only its logging is off
    )
    estimator.fit(_with_timestamp(reference))
    result: Any = estimator.estimate(_with_timestamp(analysis)).filter(period="analysis").to_df()
    frame = pd.DataFrame(
        {
            "batch_date": pd.to_datetime(result[("chunk", "start_date")]).dt.date,
            "estimated_rows": result[("chunk", "end_index")] - result[("chunk", "start_index")] + 1,
            "estimated_mae": result[("mae", "value")],
            "estimated_mae_lower": result[("mae", "lower_confidence_boundary")],
            "estimated_mae_upper": result[("mae", "upper_confidence_boundary")],
        }
    )
    return frame.reset_index(drop=True)


def _with_timestamp(frame: pd.DataFrame) -> pd.DataFrame:
    """NannyML chunks by a timestamp column; the day's batch date is the chunk."""
    return frame.assign(timestamp=pd.to_datetime(frame["batch_date"])).drop(columns=["batch_date"])


def fetch_frames(
    warehouse: Warehouse, config: MonitoringConfig, model_version: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference's labelled rows (by pickup day) and every production row the model scored (by batch)."""
    features, prediction, target = config.features, config.prediction_column, config.target_column
    columns = ", ".join([*features, prediction])
    reference = warehouse.query(
        f"select cast({config.timestamp_column} as date) as batch_date, {columns}, {target} from {TRIPS_SCORED} "
        "where split = 'reference' and is_performance_row and model_version = ? order by trip_id",
        [model_version],
    )
    analysis = warehouse.query(
        f"select batch_date, {columns} from {TRIPS_SCORED} where split = 'production' and passes_input_rules "
        f"and {prediction} is not null and model_version = ? order by batch_date, trip_id",
        [model_version],
    )
    return reference, analysis


def write_estimates(warehouse: Warehouse, config: MonitoringConfig) -> int:
    """Estimate every production day of every model version of the reference month; replaces their rows."""
    versions = [
        row[0]
        for row in warehouse.rows(
            f"select model_version from {RAW_SCHEMA}.model_versions where reference_month = ?",
            [config.reference_month],
        )
    ]
    written = 0
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    for version in versions:
        reference, analysis = fetch_frames(warehouse, config, version)
        if reference.empty or analysis.empty:
            continue
        daily = estimate_daily_mae(reference, analysis, config.features, config.prediction_column, config.target_column)
        daily = daily.assign(model_version=version, method=METHOD, computed_at=computed_at)
        table = pa.Table.from_pandas(daily[PERFORMANCE_ESTIMATE_SCHEMA.names], schema=PERFORMANCE_ESTIMATE_SCHEMA)
        with warehouse.transaction():
            warehouse.execute(f"delete from {RAW_SCHEMA}.performance_estimates where model_version = ?", [version])
            warehouse.append(f"{RAW_SCHEMA}.performance_estimates", table)
        written += table.num_rows
    return written
