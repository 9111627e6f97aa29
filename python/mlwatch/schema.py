"""One logical schema for TLC green-trip files, whatever physical types a year's files use."""

from __future__ import annotations

import pyarrow as pa


def _schema(fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """pa.schema of (name, type) pairs. Typed so that mypy reads a literal list of pairs as such: it joins the
    pairs' DataType subclasses to object against pa.schema's own union-typed parameter."""
    return pa.schema(fields)


# Column name in the file (matched case-insensitively) -> logical type in the raw table.
GREEN_TRIP_SCHEMA = _schema(
    [
        ("vendorid", pa.int64()),
        ("lpep_pickup_datetime", pa.timestamp("us")),
        ("lpep_dropoff_datetime", pa.timestamp("us")),
        ("store_and_fwd_flag", pa.string()),
        ("ratecodeid", pa.int64()),
        ("pulocationid", pa.int64()),
        ("dolocationid", pa.int64()),
        ("passenger_count", pa.int64()),
        ("trip_distance", pa.float64()),
        ("fare_amount", pa.float64()),
        ("extra", pa.float64()),
        ("mta_tax", pa.float64()),
        ("tip_amount", pa.float64()),
        ("tolls_amount", pa.float64()),
        ("ehail_fee", pa.float64()),
        ("improvement_surcharge", pa.float64()),
        ("total_amount", pa.float64()),
        ("payment_type", pa.int64()),
        ("trip_type", pa.int64()),
        ("congestion_surcharge", pa.float64()),
    ]
)

# Columns the loader adds to every trip.
LINEAGE_SCHEMA = _schema(
    [
        ("trip_id", pa.int64()),
        ("source_file", pa.string()),
        ("source_month", pa.string()),
        ("source_row_number", pa.int64()),
        ("loaded_at", pa.timestamp("us")),
    ]
)

RAW_TRIPS_SCHEMA = pa.schema([*LINEAGE_SCHEMA, *GREEN_TRIP_SCHEMA])

# Rows the loader quarantines (python/mlwatch/load.py REJECT_REASONS): the trip as landed, plus why.
REJECTED_TRIPS_SCHEMA = pa.schema([*RAW_TRIPS_SCHEMA, ("reject_reason", pa.string())])

ZONE_SCHEMA = _schema(
    [
        ("locationid", pa.int64()),
        ("borough", pa.string()),
        ("zone", pa.string()),
        ("service_zone", pa.string()),
    ]
)

PREDICTION_SCHEMA = _schema(
    [
        ("trip_id", pa.int64()),
        ("model_version", pa.string()),
        ("prediction", pa.float64()),
        ("predicted_at", pa.timestamp("us")),
    ]
)

MODEL_VERSION_SCHEMA = _schema(
    [
        ("model_version", pa.string()),
        ("model_type", pa.string()),
        ("reference_month", pa.string()),
        ("features", pa.string()),
        ("target", pa.string()),
        ("train_rows", pa.int64()),
        ("validation_rows", pa.int64()),
        ("train_mae", pa.float64()),
        ("validation_mae", pa.float64()),
        ("sklearn_version", pa.string()),
        ("trained_at", pa.timestamp("us")),
    ]
)

# A linear model's terms (each feature and the intercept): daily_prediction_attribution splits the shift of the
# mean prediction into coefficient x change of the feature's mean in SQL.
MODEL_COEFFICIENT_SCHEMA = _schema(
    [
        ("model_version", pa.string()),
        ("term", pa.string()),
        ("coefficient", pa.float64()),
    ]
)

# Each day's estimated MAE before its labels, by Direct Loss Estimation (python/mlwatch/estimates.py).
PERFORMANCE_ESTIMATE_SCHEMA = _schema(
    [
        ("batch_date", pa.date32()),
        ("model_version", pa.string()),
        ("estimated_rows", pa.int64()),
        ("estimated_mae", pa.float64()),
        ("estimated_mae_lower", pa.float64()),
        ("estimated_mae_upper", pa.float64()),
        ("method", pa.string()),
        ("computed_at", pa.timestamp("us")),
    ]
)

BATCH_METRIC_SCHEMA = _schema(
    [
        ("batch_date", pa.date32()),
        ("model_version", pa.string()),
        ("metric_name", pa.string()),
        ("column_name", pa.string()),
        ("metric_value", pa.float64()),
        ("stat_test", pa.string()),
        ("threshold", pa.float64()),
        ("drift_detected", pa.bool_()),
        ("calibrated_threshold", pa.float64()),
        ("calibrated_drift_detected", pa.bool_()),
        ("engine", pa.string()),
        ("evidently_version", pa.string()),
        ("computed_at", pa.timestamp("us")),
        ("compute_seconds", pa.float64()),
    ]
)

PIPELINE_RUN_SCHEMA = _schema(
    [
        ("run_id", pa.string()),
        ("step", pa.string()),
        ("started_at", pa.timestamp("us")),
        ("finished_at", pa.timestamp("us")),
        ("status", pa.string()),
        ("rows_written", pa.int64()),
        ("error", pa.string()),
    ]
)

# One row per (model version, drift column, batch size): where the column's drift test rings on 1% of
# days drawn from the reference, whose values reference_fingerprint hashes (python/mlwatch/calibration.py).
DRIFT_CALIBRATION_SCHEMA = _schema(
    [
        ("model_version", pa.string()),
        ("reference_fingerprint", pa.string()),
        ("column_name", pa.string()),
        ("batch_size", pa.int64()),
        ("stat_test", pa.string()),
        ("default_threshold", pa.float64()),
        ("calibrated_threshold", pa.float64()),
        ("quantile", pa.float64()),
        ("draws", pa.int64()),
        ("false_alarm_rate_default", pa.float64()),
        ("seed", pa.int64()),
        ("computed_at", pa.timestamp("us")),
    ]
)

# One row per (batch date, model version, drift column) whose test is a p-value (K-S, chi-square, Z): the
# statistic the warehouse engine's SQL computed and its p-value (mlwatch.engines.p_values). A run replaces
# the rows of the days it computes.
DRIFT_P_VALUE_SCHEMA = _schema(
    [
        ("batch_date", pa.date32()),
        ("model_version", pa.string()),
        ("column_name", pa.string()),
        ("stat_test_key", pa.string()),
        ("test_statistic", pa.float64()),
        ("p_value", pa.float64()),
        ("computed_at", pa.timestamp("us")),
    ]
)

# The days the warehouse engine's dbt run computes, written by mlwatch.engines.warehouse before it: one row per batch
# date. A table, not dates compiled into the SQL, so the run's SQL is the same whatever the days (mlwatch.replay).
ENGINE_BATCH_DATE_SCHEMA = _schema([("batch_date", pa.date32())])

# One row at most: the fingerprint of what `mlwatch metrics` last built its inputs from (mlwatch.built_inputs).
METRIC_INPUTS_BUILD_SCHEMA = _schema([("fingerprint", pa.string()), ("built_at", pa.timestamp("us"))])

# The trip columns as models/staging/stg_tlc__green_trips.sql names them (the integration test checks it).
TRIP_COLUMNS = (
    "trip_id",
    "source_file",
    "source_month",
    "source_row_number",
    "vendor_id",
    "pickup_datetime",
    "dropoff_datetime",
    "store_and_fwd_flag",
    "rate_code_id",
    "pickup_location_id",
    "dropoff_location_id",
    "passenger_count",
    "trip_distance",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "ehail_fee",
    "improvement_surcharge",
    "total_amount",
    "payment_type",
    "trip_type",
    "congestion_surcharge",
    "loaded_at",
    "duration_min",
)

RAW_TABLES: dict[str, pa.Schema] = {
    "green_trips": RAW_TRIPS_SCHEMA,
    "rejected_trips": REJECTED_TRIPS_SCHEMA,
    "taxi_zones": ZONE_SCHEMA,
    "model_versions": MODEL_VERSION_SCHEMA,
    "model_coefficients": MODEL_COEFFICIENT_SCHEMA,
    "performance_estimates": PERFORMANCE_ESTIMATE_SCHEMA,
    "predictions": PREDICTION_SCHEMA,
    "batch_metrics": BATCH_METRIC_SCHEMA,
    "pipeline_runs": PIPELINE_RUN_SCHEMA,
    "drift_calibration": DRIFT_CALIBRATION_SCHEMA,
    "drift_p_values": DRIFT_P_VALUE_SCHEMA,
    "engine_batch_dates": ENGINE_BATCH_DATE_SCHEMA,
    "metric_inputs_builds": METRIC_INPUTS_BUILD_SCHEMA,
}
