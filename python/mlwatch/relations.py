"""The dbt relations and selectors the Python steps use, named once (tests hold each to the dbt project)."""

from __future__ import annotations

# Schema-qualified as dbt builds them (macros/generate_schema_name.sql: the folder's +schema, unprefixed).
MODEL_VERSIONS = "staging.stg_model__model_versions"
TRIPS_SPLIT = "intermediate.int_trips_split"
TRIPS_SCORED = "intermediate.int_trips_scored"
# A model configured by the var monitored_tables (docs/contract.md): its predictions, and its contract rows.
MONITORED_PREDICTIONS = "staging.stg_monitored__predictions"
MONITORED_ROWS = "intermediate.int_predictions_labelled"
BATCH_DATES = "intermediate.int_batch_dates_spined"
ENGINE_COLUMN_DRIFT = "intermediate.int_column_drift_computed"
ENGINE_METRICS = "intermediate.int_batch_metrics_computed"
DAILY_MODEL_MONITORING = "marts.daily_model_monitoring"
PERFORMANCE_ESTIMATES = "marts.daily_performance_estimates"
PRODUCTION_FILE_DEFECTS = "marts.production_file_defects"

# selectors.yml: what each step builds.
TRAINING_INPUTS = "training_inputs"
METRIC_INPUTS = "metric_inputs"
WAREHOUSE_ENGINE = "warehouse_engine"
SERVING = "serving"
