"""Calibrated drift thresholds on small frames, checked against numpy and Evidently run directly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_DIR, Pipeline
from evidently.legacy.calculations import stattests
from evidently.legacy.calculations.stattests.registry import StatTest
from evidently.legacy.core import ColumnType

from mlwatch.batches import DRIFT_SIDES, Thresholds, calibrated_verdict, drift_rule
from mlwatch.calibration import store
from mlwatch.calibration.column_tests import ColumnTest, column_tests
from mlwatch.calibration.measure import measure
from mlwatch.calibration.null_days import NullDays, calibrate
from mlwatch.calibration.store import ensure_calibration
from mlwatch.config import MonitoringConfig, load_config
from mlwatch.engines.evidently import evaluate_batch
from mlwatch.errors import ConfigError
from mlwatch.warehouse import DuckDBWarehouse, ensure_raw_tables


@pytest.fixture(scope="module")
def config() -> MonitoringConfig:
    return load_config(PROJECT_DIR, env={})


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """Every path of the scoring: Evidently's default Jensen-Shannon on categories and on a 3-valued number,
    Wasserstein on numbers with ties, a large offset, missing and infinite values, rare categories."""
    rng = np.random.default_rng(42)
    rows = 3000
    frame = pd.DataFrame(
        {
            "passenger_count": rng.integers(1, 4, rows).astype(float),
            "trip_distance": rng.exponential(3, rows),
            "fare_amount": rng.exponential(12, rows).round(0),
            "total_amount": 1e6 + rng.exponential(15, rows),
            "pickup_location_id": rng.integers(1, 40, rows).astype(float),
            "dropoff_location_id": rng.zipf(1.6, rows) % 80,
            "duration_min": rng.uniform(1, 60, rows),
            "prediction": rng.normal(15, 4, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "trip_distance"] = np.nan
    frame.loc[rng.random(rows) < 0.01, "fare_amount"] = np.inf
    frame.loc[rng.random(rows) < 0.03, "pickup_location_id"] = np.nan
    return frame


def with_test(config: MonitoringConfig, column: str, stat_test: str) -> MonitoringConfig:
    columns = tuple(dataclasses.replace(c, stat_test=stat_test) if c.name == column else c for c in config.columns)
    return dataclasses.replace(config, columns=columns)


def evidently_scores(reference: pd.DataFrame, days: np.ndarray, test: ColumnTest) -> np.ndarray:
    """Evidently's stat test called on each drawn day and the reference rows not drawn, as ValueDrift calls it."""
    values = reference[test.column].replace([np.inf, -np.inf], np.nan)
    scores = []
    for day in days:
        rest = values.drop(index=values.index[day])
        scores.append(test.test(rest.dropna(), values.iloc[day].dropna(), test.kind, None).drift_score)
    return np.array(scores)


def test_drawn_days_are_distinct_reference_rows_and_reproducible(config, reference) -> None:
    null = NullDays(reference, column_tests(reference, config))
    days = null.draw(250, 40, seed=3)
    assert days.shape == (40, 250)
    assert all(len(set(day)) == 250 for day in days)
    assert days.min() >= 0 and days.max() < len(reference)
    np.testing.assert_array_equal(days, null.draw(250, 40, seed=3))
    assert not np.array_equal(days, null.draw(250, 40, seed=4))


def test_scores_are_evidentlys_on_every_draw(config, reference) -> None:
    tests = column_tests(reference, config)
    assert {t.column: t.test.name for t in tests} == {
        "passenger_count": "jensenshannon",  # 3 values: Evidently's default for few numbers
        "trip_distance": "wasserstein",
        "fare_amount": "wasserstein",
        "total_amount": "wasserstein",
        "pickup_location_id": "jensenshannon",
        "dropoff_location_id": "jensenshannon",
        "prediction": "wasserstein",
    }
    null = NullDays(reference, tests)
    days = null.draw(300, 60, seed=0)
    for test in tests:
        np.testing.assert_allclose(null.scores(test, days), evidently_scores(reference, days, test), rtol=1e-9)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # Evidently histograms the infinities
def test_a_drawn_days_score_is_what_the_metrics_step_records(config, reference) -> None:
    tests = column_tests(reference, config)
    null = NullDays(reference, tests)
    day = null.draw(400, 1, seed=5)
    rest = reference.drop(index=reference.index[day[0]])
    recorded = {
        v.column_name: v for v in evaluate_batch(reference.iloc[day[0]], rest, config) if v.metric_name == "drift_score"
    }
    for test in tests:
        assert null.scores(test, day)[0] == pytest.approx(recorded[test.column].metric_value, rel=1e-9)
        assert test.test.display_name == recorded[test.column].stat_test
        assert test.threshold == recorded[test.column].threshold


def test_threshold_is_the_quantile_that_rings_on_one_percent_of_the_draws(config, reference) -> None:
    table = calibrate(reference, [300, 600], config, draws=200, seed=7)
    assert len(table) == 2 * len(config.drift_columns)
    null = NullDays(reference, column_tests(reference, config))
    for test in column_tests(reference, config):
        for size in (300, 600):
            row = table[(table.column_name == test.column) & (table.batch_size == size)].iloc[0]
            scores = evidently_scores(reference, null.draw(size, 200, seed=7), test)
            assert row["quantile"] == 0.99
            assert row.calibrated_threshold == pytest.approx(np.quantile(scores, 0.99), rel=1e-9)
            # 200 draws, linear interpolation between the 199th and 200th smallest: exactly 2 draws ring.
            assert np.sum(scores >= row.calibrated_threshold) == 2
            assert row.false_alarm_rate_default == np.mean(scores >= test.threshold)
            assert (row.stat_test, row.default_threshold, row.draws, row.seed) == (
                test.test.display_name,
                test.threshold,
                200,
                7,
            )


def test_calibrated_thresholds_ring_on_about_one_percent_of_fresh_draws(config, reference) -> None:
    sizes = [150, 500]
    table = calibrate(reference, sizes, config, seed=0)
    tests = column_tests(reference, config)
    null = NullDays(reference, tests)
    for size in sizes:
        fresh = null.draw(size, 500, seed=1)
        for test in tests:
            threshold = table[(table.column_name == test.column) & (table.batch_size == size)].calibrated_threshold
            rate = np.mean(null.scores(test, fresh) >= threshold.iloc[0])
            assert 0 <= rate <= 0.03, (test.column, size, rate)
    # The premise: at the default 0.1, Jensen-Shannon rings on most no-drift days of 40 or 80 categories.
    default = table[table.column_name.isin(config.categorical_features)].false_alarm_rate_default
    assert default.min() > 0.5


def test_p_value_tests_are_calibrated_at_the_low_tail(config, reference) -> None:
    custom = with_test(config, "trip_distance", "ks")
    table = calibrate(reference, [400], custom, draws=100, seed=2).set_index("column_name")
    ks = next(t for t in column_tests(reference, custom) if t.column == "trip_distance")
    scores = evidently_scores(reference, NullDays(reference, [ks]).draw(400, 100, seed=2), ks)
    assert table.loc["trip_distance", "stat_test"] == "K-S p_value"
    assert table.loc["trip_distance", "quantile"] == 0.01
    assert table.loc["trip_distance", "calibrated_threshold"] == pytest.approx(np.quantile(scores, 0.01), rel=1e-12)
    assert table.loc["trip_distance", "false_alarm_rate_default"] == np.mean(scores <= 0.05)
    assert table.loc["prediction", "quantile"] == 0.99  # a distance stays at the high tail


@pytest.mark.parametrize(
    ("stat_test", "score", "threshold", "drift"),
    [
        ("ks", 0.001, 0.01, True),
        ("K-S p_value", 0.5, 0.01, False),
        ("ks", 0.01, 0.01, True),  # p <= threshold
        ("chisquare", 0.01, 0.01, False),  # p < threshold
        ("wasserstein", 0.5, 0.1, True),
        ("Wasserstein distance (normed)", 0.05, 0.1, False),
        ("Jensen-Shannon distance", 0.1, 0.1, True),  # distance >= threshold
        ("ed", 0.1, 0.1, False),  # energy distance > threshold
    ],
)
def test_verdict_takes_the_side_of_each_test(stat_test: str, score: float, threshold: float, drift: bool) -> None:
    assert calibrated_verdict(stat_test, score, threshold) is drift


def _probe_data(test: StatTest) -> tuple[pd.Series, pd.Series, ColumnType]:
    """Data each test accepts: Fisher's and the z test want two categories, Fisher's and the G test equal sizes."""
    rng = np.random.default_rng(0)
    if ColumnType.Numerical in test.allowed_feature_types and test.name != "z":
        return pd.Series(rng.normal(0, 1, 120)), pd.Series(rng.normal(0.3, 1.2, 90)), ColumnType.Numerical
    categories = 2 if test.name in ("fisher_exact", "z") else 4
    return (
        pd.Series(rng.integers(0, categories, 100)),
        pd.Series(rng.integers(0, categories, 100)),
        ColumnType.Categorical,
    )


@pytest.mark.parametrize(
    "test",
    [t for t in vars(stattests).values() if isinstance(t, StatTest) and ColumnType.Text not in t.allowed_feature_types],
    ids=lambda t: t.name,
)
def test_every_evidently_test_has_its_side_and_equality_right(test: StatTest) -> None:
    """Evidently itself decides: its verdict at, just above and just below the score must be the rule's."""
    reference, current, kind = _probe_data(test)

    def run(threshold: float | None):
        np.random.seed(0)  # the MMD test permutes with numpy's global generator
        return test(reference, current, kind, threshold)

    score = float(run(None).drift_score)
    rule = drift_rule(test.display_name)
    assert drift_rule(test.name) is rule
    for threshold in (score, np.nextafter(score, np.inf), np.nextafter(score, -np.inf)):
        assert bool(run(float(threshold)).drifted) is rule(score, float(threshold))


def test_the_drift_sides_name_exactly_evidentlys_tests() -> None:
    """No entry for a test Evidently lacks, and none under a name it does not use."""
    evidently_tests = {
        (test.name, test.display_name)
        for test in vars(stattests).values()
        if isinstance(test, StatTest) and ColumnType.Text not in test.allowed_feature_types
    }
    assert set(DRIFT_SIDES) == evidently_tests


def test_an_unknown_test_has_no_verdict() -> None:
    with pytest.raises(ConfigError, match="which side"):
        calibrated_verdict("my_test", 0.2, 0.1)


def test_lookup_reuses_sizes_within_two_percent_of_the_same_test() -> None:
    table = pd.DataFrame(
        {
            "column_name": ["a", "a", "b"],
            "stat_test": ["K-S p_value", "K-S p_value", "PSI"],
            "batch_size": [1000, 2000, 1000],
            "calibrated_threshold": [0.01, 0.02, 0.3],
        }
    )
    thresholds = Thresholds.of(table)
    assert thresholds.lookup("a", "K-S p_value", 1000) == 0.01
    assert thresholds.lookup("a", "K-S p_value", 1020) == 0.01
    assert thresholds.lookup("a", "K-S p_value", 981) == 0.01
    assert thresholds.lookup("a", "K-S p_value", 1021) is None
    assert thresholds.lookup("a", "K-S p_value", 1990) == 0.02
    assert thresholds.lookup("a", "PSI", 1000) is None  # the day was tested otherwise
    assert thresholds.lookup("b", "PSI", 1000) == 0.3


def test_calibration_is_stored_once_per_model_version_and_size(config, reference, tmp_path, monkeypatch) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "calibration.duckdb")
    try:
        ensure_raw_tables(warehouse)
        # 101 reuses 100 (1% away); 2000 is more than half the reference and gets no threshold.
        first = ensure_calibration(warehouse, config, "v1", reference, [100, 101, 150, 2000], draws=50)
        assert sorted(set(first.batch_size)) == [100, 150]
        stored = warehouse.query("select * from raw.drift_calibration order by column_name, batch_size")
        assert len(stored) == 2 * len(config.drift_columns)
        pure = calibrate(reference, [100, 150], config, draws=50)
        merged = stored.merge(pure, on=["column_name", "batch_size"], suffixes=("", "_pure"))
        np.testing.assert_allclose(merged.calibrated_threshold, merged.calibrated_threshold_pure, rtol=1e-12)

        def no_work(*args, **kwargs):
            raise AssertionError("a calibrated size was computed again")

        with monkeypatch.context() as patched:
            patched.setattr(store, "calibrate", no_work)
            again = ensure_calibration(warehouse, config, "v1", reference, [100, 101, 150], draws=50)
        assert len(again) == len(stored)
        assert sorted(set(again.calibrated_threshold)) == sorted(set(stored.calibrated_threshold))
        unchanged = warehouse.query("select * from raw.drift_calibration order by column_name, batch_size")
        assert unchanged.computed_at.equals(stored.computed_at)  # nothing was rewritten either

        ensure_calibration(warehouse, config, "v1", reference, [150, 300], draws=50)
        ensure_calibration(warehouse, config, "v2", reference, [150], draws=50)
        counts = warehouse.rows(
            "select model_version, batch_size, count(*) from raw.drift_calibration group by all order by all"
        )
        columns = len(config.drift_columns)
        assert counts == [("v1", 100, columns), ("v1", 150, columns), ("v1", 300, columns), ("v2", 150, columns)]
        # Sizes are seeded on their own: calibrating 300 later gives what calibrating it alone gives.
        late = warehouse.query("select * from raw.drift_calibration where batch_size = 300 order by column_name")
        alone = calibrate(reference, [300], config, draws=50).sort_values("column_name")
        np.testing.assert_allclose(late.calibrated_threshold, alone.calibrated_threshold, rtol=1e-12)
    finally:
        warehouse.close()


def test_a_changed_test_or_reference_is_calibrated_anew(config, reference, tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "calibration.duckdb")

    def stored() -> pd.DataFrame:
        return warehouse.query("select * from raw.drift_calibration").set_index("column_name")

    try:
        ensure_raw_tables(warehouse)
        ensure_calibration(warehouse, config, "v1", reference, [200], draws=30)
        before = stored()
        ensure_calibration(warehouse, with_test(config, "trip_distance", "ks"), "v1", reference, [200], draws=30)
        after = stored()
        assert len(after) == len(config.drift_columns)  # the Wasserstein row of trip_distance is gone
        assert after.loc["trip_distance", "stat_test"] == "K-S p_value"
        unchanged = after.drop(index="trip_distance")
        assert unchanged.computed_at.equals(before.drop(index="trip_distance").computed_at)

        ensure_calibration(warehouse, config, "v1", reference.iloc[100:], [200], draws=30)
        assert len(stored()) == len(config.drift_columns)
        assert stored().reference_fingerprint.nunique() == len(config.drift_columns)  # one per column
        assert (stored().reference_fingerprint != before.reference_fingerprint).all()
    finally:
        warehouse.close()


@pytest.mark.integration
def test_measure_on_the_real_days_agrees_with_the_metrics_step(built_duckdb: Pipeline) -> None:
    warehouse = built_duckdb.connect()
    try:
        measured = measure(warehouse, built_duckdb.config).set_index("column_name")
        recorded = warehouse.query(
            "select column_name, sum(case when drift_detected then 1 else 0 end) as flagged, count(*) as days "
            "from raw.batch_metrics where metric_name = 'drift_score' group by column_name"
        ).set_index("column_name")
    finally:
        warehouse.close()
    assert measured.days_flagged_default.to_dict() == recorded.flagged.astype(int).to_dict()
    assert measured.days.to_dict() == recorded.days.astype(int).to_dict()
    assert measured.false_alarm_rate_calibrated.between(0, 0.03).all()
    locations = measured.loc[["pickup_location_id", "dropoff_location_id"]]
    assert (locations.false_alarm_rate_default > 0.9).all()
    assert (locations.days_flagged_calibrated < locations.days_flagged_default).all()
