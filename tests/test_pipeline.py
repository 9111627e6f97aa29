"""The whole pipeline on the real 2021-01 / 2021-02 files, on DuckDB and on Postgres.

Every expected value is recomputed here from the parquet files (pyarrow, pandas, scikit-learn,
Evidently run directly), never read back from the pipeline's own code.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import DATA_DIR, Pipeline
from course import CATEGORICAL, FEATURES, NUMERICAL, course
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import DriftedColumnsCount, ValueDrift
from sklearn.metrics import mean_absolute_error, mean_squared_error

from mlwatch.schema import TRIP_COLUMNS

pytestmark = pytest.mark.integration
DAY = dt.date(2021, 2, 15)


@pytest.fixture(scope="module")
def notebook():
    return course(DATA_DIR)


def test_raw_trips_match_the_files_row_for_row(built: Pipeline) -> None:
    counts = built.query("select source_file, count(*) as n from raw.green_trips group by source_file")
    expected = {
        f"green_tripdata_{m}.parquet": pq.ParquetFile(DATA_DIR / f"green_tripdata_{m}.parquet").metadata.num_rows
        for m in ("2021-01", "2021-02")
    }
    assert dict(zip(counts.source_file, counts.n, strict=True)) == expected
    zones = built.query("select count(*) as n, count(distinct locationid) as ids from raw.taxi_zones")
    assert (zones.n[0], zones.ids[0]) == (265, 265)
    na = built.query("select count(*) as n from raw.taxi_zones where zone = 'N/A'")
    assert na.n[0] == 1  # "N/A" is a value in the lookup, not a missing one


def test_staging_has_the_documented_columns(built: Pipeline) -> None:
    columns = built.query("select * from staging.stg_tlc__green_trips limit 0").columns
    assert tuple(columns) == TRIP_COLUMNS


def test_splits_match_the_course(built: Pipeline, notebook) -> None:
    splits = built.query("select split, count(*) as n from intermediate.int_trips_split group by split")
    got = dict(zip(splits.split, splits.n, strict=True))
    january_rows = pq.ParquetFile(DATA_DIR / "green_tripdata_2021-01.parquet").metadata.num_rows
    assert got["train"] == 30000
    assert got["train"] + got["reference"] + got["excluded"] == january_rows
    validation = built.query(
        "select count(*) as n from intermediate.int_trips_split "
        "where split = 'reference' and passes_input_rules and passes_target_rules"
    )
    assert validation.n[0] == len(notebook.validation)
    reference = built.query(
        "select count(*) as n from intermediate.int_trips_split where split = 'reference' and passes_input_rules"
    )
    assert reference.n[0] == len(notebook.reference)


def test_model_matches_scikit_learn_on_the_same_rows(built: Pipeline, notebook) -> None:
    versions = built.query("select * from raw.model_versions")
    assert len(versions) == 1
    row = versions.iloc[0]
    assert row.train_rows == 30000
    assert row.validation_rows == len(notebook.validation)
    expected_train = mean_absolute_error(notebook.train.duration_min, notebook.model.predict(notebook.train[FEATURES]))
    expected_validation = mean_absolute_error(notebook.validation.duration_min, notebook.validation.prediction)
    assert row.train_mae == pytest.approx(expected_train, abs=1e-9)
    assert row.validation_mae == pytest.approx(expected_validation, abs=1e-9)


def test_one_row_set_per_production_day_and_no_duplicates(built: Pipeline) -> None:
    per_day = built.query(
        "select batch_date, count(*) as n, count(distinct metric_name || '/' || column_name) as keys "
        "from raw.batch_metrics group by batch_date order by batch_date"
    )
    assert len(per_day) == 28
    assert (per_day.n == per_day["keys"]).all()
    assert per_day.n.nunique() == 1  # every day carries the same metrics


def test_one_days_drift_matches_evidently_run_directly(built: Pipeline, notebook) -> None:
    columns = [*FEATURES, "prediction"]
    definition = DataDefinition(numerical_columns=[*NUMERICAL, "prediction"], categorical_columns=CATEGORICAL)
    report = Report([*(ValueDrift(column=c) for c in columns), DriftedColumnsCount(columns=columns)])
    snapshot = report.run(
        Dataset.from_pandas(notebook.day(DAY)[columns], data_definition=definition),
        Dataset.from_pandas(notebook.reference[columns], data_definition=definition),
    )
    results = snapshot.dict()["metrics"]
    expected = {m["config"]["column"]: m["value"] for m in results if "column" in m["config"]}
    drifted = next(m["value"] for m in results if m["config"]["type"].endswith("DriftedColumnsCount"))

    got = built.query(
        "select column_name, metric_value from raw.batch_metrics where batch_date = ? and metric_name = 'drift_score'",
        [DAY],
    )
    assert dict(zip(got.column_name, got.metric_value, strict=True)) == pytest.approx(expected, abs=1e-9)
    dataset = built.query(
        "select drifted_columns_count, drifted_columns_share, monitored_rows, prediction_drift_score "
        "from marts.daily_model_monitoring where batch_date = ?",
        [DAY],
    ).iloc[0]
    assert dataset.drifted_columns_count == drifted["count"]
    assert dataset.drifted_columns_share == pytest.approx(drifted["share"], abs=1e-12)
    assert dataset.monitored_rows == len(notebook.day(DAY))
    assert dataset.prediction_drift_score == pytest.approx(expected["prediction"], abs=1e-9)


def test_daily_performance_matches_scikit_learn(built: Pipeline, notebook) -> None:
    mart = built.query(
        "select batch_date, performance_trips, mae, rmse, mean_prediction from marts.daily_model_monitoring"
    )
    mart["batch_date"] = pd.to_datetime(mart.batch_date).dt.date
    for day in (dt.date(2021, 2, 1), DAY, dt.date(2021, 2, 28)):
        rows = notebook.day(day)
        scored = rows[rows.passes_target]
        got = mart[mart.batch_date == day].iloc[0]
        assert got.performance_trips == len(scored)
        assert got.mae == pytest.approx(mean_absolute_error(scored.duration_min, scored.prediction), abs=1e-9)
        rmse = math.sqrt(mean_squared_error(scored.duration_min, scored.prediction))
        assert got.rmse == pytest.approx(rmse, abs=1e-9)
        assert got.mean_prediction == pytest.approx(rows.prediction.mean(), abs=1e-9)


def test_missing_share_is_per_cell(built: Pipeline) -> None:
    got = built.query(
        "select metric_name, column_name, metric_value from raw.batch_metrics where batch_date = ? "
        "and metric_name in ('missing_count', 'missing_values_share', 'row_count')",
        [DAY],
    )
    rows = got[got.metric_name == "row_count"].metric_value.iloc[0]
    missing = got[got.metric_name == "missing_count"]
    share = got[got.metric_name == "missing_values_share"].metric_value.iloc[0]
    assert share == pytest.approx(missing.metric_value.sum() / (rows * len(missing)), abs=1e-15)


def test_dbt_build_passes_every_model_and_test(built: Pipeline) -> None:
    assert built.query("select count(*) as n from raw.metric_inputs_builds").n[0] == 1  # as `mlwatch metrics` left it
    result = built.run("dbt", "build")
    assert "ERROR=0" in result.stdout and "PASS=" in result.stdout
    # A build other than mlwatch's own may have used other vars: the next `mlwatch metrics` rebuilds its inputs.
    assert built.query("select count(*) as n from raw.metric_inputs_builds").n[0] == 0


@pytest.mark.postgres
def test_duckdb_and_postgres_agree(built_duckdb: Pipeline, built_postgres: Pipeline) -> None:
    query = (
        "select batch_date, model_version, metric_name, column_name, metric_value, stat_test, threshold, "
        "drift_detected from raw.batch_metrics order by batch_date, metric_name, column_name"
    )
    duck, pg = built_duckdb.query(query), built_postgres.query(query)
    assert len(duck) == len(pg) > 0
    for frame in (duck, pg):
        frame["batch_date"] = pd.to_datetime(frame.batch_date).dt.date
    pd.testing.assert_frame_equal(
        duck.drop(columns=["metric_value", "threshold", "drift_detected"]),
        pg.drop(columns=["metric_value", "threshold", "drift_detected"]),
    )
    np.testing.assert_allclose(duck.metric_value, pg.metric_value, rtol=0, atol=1e-9)

    def verdicts(frame: pd.DataFrame) -> list[bool | None]:
        return [None if pd.isna(v) else bool(v) for v in frame.drift_detected]

    assert verdicts(duck) == verdicts(pg)

    mart = "select * from marts.daily_model_monitoring order by batch_date"
    duck_mart, pg_mart = built_duckdb.query(mart), built_postgres.query(mart)
    for column in (
        "trips",
        "input_valid_trips",
        "performance_trips",
        "mae",
        "rmse",
        "mean_prediction",
        "prediction_drift_score",
        "drifted_columns_share",
        "missing_values_share",
        "reference_mae",
    ):
        np.testing.assert_allclose(
            duck_mart[column].astype(float), pg_mart[column].astype(float), rtol=0, atol=1e-9, err_msg=column
        )
