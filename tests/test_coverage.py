"""Data health, model health, segments, trends and daily tests on the real 2021-02 data, each checked
against an independent computation (pandas, scikit-learn, SQL written here, or the seed read here)."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import DATA_DIR, PROJECT_DIR, Pipeline
from course import CATEGORICAL, NUMERICAL, course
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score

pytestmark = pytest.mark.integration
DAY = dt.date(2021, 2, 15)


@pytest.fixture(scope="module")
def notebook():
    return course(DATA_DIR)


def column_metrics(built: Pipeline, day: dt.date) -> dict[tuple[str, str], float]:
    frame = built.query(
        "select metric_name, column_name, metric_value from raw.batch_metrics where batch_date = ?", [day]
    )
    return {(r.metric_name, r.column_name): r.metric_value for r in frame.itertuples()}


def test_quantiles_and_statistics_match_pandas(built: Pipeline, notebook) -> None:
    got = column_metrics(built, DAY)
    rows = notebook.day(DAY)
    for column in [*NUMERICAL, "duration_min", "prediction"]:
        values = rows[column]
        for name, q in (("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)):
            assert got[(name, column)] == pytest.approx(values.quantile(q), abs=1e-9), (name, column)
        assert got[("min", column)] == values.min()
        assert got[("max", column)] == values.max()
        assert got[("mean", column)] == pytest.approx(values.mean(), abs=1e-9)
        assert got[("missing_share", column)] == values.isna().mean()


def test_out_of_range_and_new_categories_match_pandas(built: Pipeline, notebook) -> None:
    got = column_metrics(built, DAY)
    rows, reference = notebook.day(DAY), notebook.reference
    for column in [*NUMERICAL, "prediction"]:
        outside = ~rows[column].between(reference[column].min(), reference[column].max())
        assert got[("out_of_range_count", column)] == outside.sum()
        assert got[("out_of_range_share", column)] == pytest.approx(outside.mean(), abs=1e-12)
    for column in CATEGORICAL:
        new = ~rows[column].isin(set(reference[column]))
        assert got[("new_category_count", column)] == new.sum()
        assert got[("new_category_share", column)] == pytest.approx(new.mean(), abs=1e-12)
    assert got[("new_category_count", "pickup_location_id")] > 0  # a real new zone that day


def test_model_health_matches_scikit_learn(built: Pipeline, notebook) -> None:
    mart = built.query(
        "select batch_date, mean_error, mape, r2, reference_mae, reference_r2, mae_ratio_to_reference, mae "
        "from marts.daily_model_monitoring"
    )
    mart["batch_date"] = pd.to_datetime(mart.batch_date).dt.date
    got = mart[mart.batch_date == DAY].iloc[0]
    rows = notebook.day(DAY)
    scored = rows[rows.passes_target]
    over_a_minute = scored[scored.duration_min > 1]
    assert got.mean_error == pytest.approx((scored.prediction - scored.duration_min).mean(), abs=1e-9)
    assert got.mape == pytest.approx(
        mean_absolute_percentage_error(over_a_minute.duration_min, over_a_minute.prediction), abs=1e-9
    )
    assert got.r2 == pytest.approx(r2_score(scored.duration_min, scored.prediction), abs=1e-9)
    validation = notebook.validation
    assert got.reference_mae == pytest.approx(mean_absolute_error(validation.duration_min, validation.prediction))
    assert got.reference_r2 == pytest.approx(r2_score(validation.duration_min, validation.prediction), abs=1e-9)
    assert got.mae_ratio_to_reference == pytest.approx(got.mae / got.reference_mae, abs=1e-12)


def test_one_segments_mae_by_hand_in_sql(built: Pipeline) -> None:
    by_hand = built.query(
        "select avg(abs(s.prediction - s.duration_min)) as mae, count(*) as n "
        "from intermediate.int_trips_scored as s "
        "join raw.taxi_zones as z on s.pickup_location_id = z.locationid "
        "where s.batch_date = ? and z.borough = 'Manhattan' and s.passes_input_rules and s.passes_target_rules",
        [DAY],
    ).iloc[0]
    mart = built.query(
        "select mae, performance_trips from marts.daily_segment_performance "
        "where batch_date = ? and segment_type = 'borough' and segment = 'Manhattan'",
        [DAY],
    ).iloc[0]
    assert mart.performance_trips == by_hand.n > 100
    assert mart.mae == pytest.approx(by_hand.mae, abs=1e-9)


def test_disparity_is_worst_over_best_segment(built: Pipeline) -> None:
    segments = built.query(
        "select segment, mae, performance_trips from marts.daily_segment_performance "
        "where batch_date = ? and segment_type = 'time_of_day'",
        [DAY],
    )
    large = segments[segments.performance_trips >= 30]
    got = built.query(
        "select time_of_day_mae_disparity from marts.daily_model_monitoring where batch_date = ?", [DAY]
    ).iloc[0, 0]
    assert got == pytest.approx(large.mae.max() / large.mae.min(), abs=1e-12)


def test_rolling_average_and_band_by_hand(built: Pipeline) -> None:
    daily = built.query("select batch_date, mae from marts.daily_model_monitoring order by batch_date")
    trends = built.query(
        "select batch_date, rolling_avg, day_over_day_change, band_upper, is_outside_band "
        "from marts.daily_metric_trends where metric_name = 'mae' order by batch_date"
    )
    mae = daily.mae.astype(float)
    np.testing.assert_allclose(trends.rolling_avg, mae.rolling(7, min_periods=1).mean(), atol=1e-9)
    np.testing.assert_allclose(trends.day_over_day_change[1:], mae.diff()[1:], atol=1e-12)
    trailing = mae.shift(1).rolling(7, min_periods=3)
    upper = trailing.mean() + 3 * trailing.std()
    np.testing.assert_allclose(trends.band_upper[7:], upper[7:], atol=1e-9)
    expected_flags = ((mae - trailing.mean()).abs() > 3 * trailing.std()).fillna(False)
    assert list(trends.is_outside_band) == list(expected_flags)


def test_daily_tests_follow_the_seed(built: Pipeline) -> None:
    with (PROJECT_DIR / "seeds" / "metric_thresholds.csv").open() as handle:
        seed = {row["test_name"]: row for row in csv.DictReader(handle)}
    daily = built.query("select * from marts.daily_model_monitoring")
    results = built.query("select batch_date, test_name, observed_value, status from marts.daily_test_results")
    assert len(results) == len(daily) * len(seed)
    for row in results.itertuples():
        test = seed[row.test_name]
        sign = 1 if test["direction"] == "max" else -1  # a 'min' test is a 'max' test on the negated value
        value = sign * row.observed_value
        warn = sign * float(test["warn_threshold"])
        # a test without a fail threshold is a diagnostic: warn at most
        fail = sign * float(test["fail_threshold"]) if test["fail_threshold"] else float("inf")
        expected = "no_data" if pd.isna(value) else "fail" if value > fail else "warn" if value > warn else "pass"
        assert row.status == expected, row
    status = built.query("select batch_date, status from marts.daily_status")
    worst = results.assign(rank=results.status.map({"pass": 0, "no_data": 1, "warn": 2, "fail": 3}))
    expected_status = worst.groupby("batch_date")["rank"].max().map({0: "ok", 1: "no_data", 2: "warn", 3: "fail"})
    assert dict(zip(status.batch_date, status.status, strict=True)) == expected_status.to_dict()


def test_pipeline_runs_are_logged(built: Pipeline) -> None:
    health = built.query("select * from marts.pipeline_health order by step")
    assert list(health.step) == ["load", "metrics"]
    assert set(health.last_status) == {"success"}
    assert (health.days_without_metrics == 0).all()
    runs = built.query("select step, status, rows_written from raw.pipeline_runs where status = 'success'")
    loads = runs[runs.step == "load"]
    assert (loads.rows_written > 141_090).all()  # trips of both months, plus predictions


def test_a_failed_step_is_logged_as_failed(built: Pipeline) -> None:
    env = {**built.env, "MLWATCH_PRODUCTION_MONTHS": "2021-02,2030-01", "TLC_BASE_URL": "http://127.0.0.1:9"}
    failed = Pipeline(built.target, env).run("load", check=False)
    assert failed.returncode == 1
    assert "green_tripdata_2030-01.parquet is not in" in failed.stderr
    last = built.query(
        "select status, error from raw.pipeline_runs where step = 'load' order by started_at desc limit 1"
    ).iloc[0]
    assert last.status == "failed" and "2030-01" in last.error
