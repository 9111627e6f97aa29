"""Alarm scoring on hand-made series, DLE on data whose error is known, and the prediction attribution against
coefficients x mean differences computed in pandas."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_DIR, import_nannyml

from mlwatch import alarms, estimates
from mlwatch.config import load_config
from mlwatch.estimates import estimate_daily_mae, write_estimates
from mlwatch.warehouse import DuckDBWarehouse, ensure_raw_tables


def days(count: int, start: str = "2021-02-01") -> pd.Series:
    return pd.Series(pd.date_range(start, periods=count, freq="D"))


def flags(text: str) -> pd.Series:
    return pd.Series([c == "1" for c in text])


def test_scores_count_alarms_harm_and_lead_days_by_hand() -> None:
    # day:      0123456789
    harmful = "0011000100"
    alarmed = "0110100001"
    score = alarms.score(days(10), flags(harmful), flags(alarmed))
    assert (score.days, score.harmful_days, score.alarm_days, score.true_alarms) == (10, 3, 4, 1)
    assert score.precision == pytest.approx(1 / 4)
    assert score.recall == pytest.approx(1 / 3)
    assert score.alarms_per_30_days == pytest.approx(12.0)
    assert score.false_alarms_per_30_days == pytest.approx(9.0)
    # stretches: days 2-3 (alarm on day 2, and on day 1 before it: 1 day of warning) and day 7 (missed)
    assert (score.stretches, score.stretches_warned, score.mean_lead_days) == (2, 1, 1.0)


def test_a_gap_in_the_calendar_ends_a_stretch_and_its_warning() -> None:
    dates = pd.Series(pd.to_datetime(["2021-02-01", "2021-02-02", "2021-02-04", "2021-02-05"]))
    score = alarms.score(dates, flags("0111"), flags("1111"))
    # day 2 starts a stretch with day 1's warning; the gap starts another one, its warning cut by the gap
    assert (score.stretches, score.stretches_warned, score.mean_lead_days) == (2, 2, 0.5)


def test_no_alarm_has_no_precision_and_no_harm_no_recall() -> None:
    score = alarms.score(days(3), flags("000"), flags("000"))
    assert score.precision is None and score.recall is None and score.mean_lead_days is None


def test_the_fitted_threshold_has_the_best_f1_and_uses_the_fit_period_only() -> None:
    values = pd.Series([0.1, 0.5, 0.9, 0.3])
    assert alarms.fit_threshold(values, flags("0110"), days(4)) == 0.5
    frame = pd.DataFrame(
        {
            "batch_date": days(8),
            # first half: harm from 0.5 up; second half: harm only at 0.95, which the fit must not see
            "value": [0.1, 0.5, 0.9, 0.3, 0.6, 0.7, 0.95, 0.2],
            "is_harmful": flags("01100010"),
        }
    )
    halves = {"first half": frame.index < 4, "second half": frame.index >= 4}
    results = alarms.evaluate(frame, [alarms.Rule("fitted", "", score="value")], "first half", halves)
    assert [r.threshold for r in results] == [0.5, 0.5]
    second = results[1].score
    assert (second.alarm_days, second.true_alarms) == (3, 1)


def test_dle_estimates_a_known_error_per_day_within_its_band() -> None:
    rng = np.random.default_rng(7)

    def trips(rows: int, low: float, high: float, day: str) -> pd.DataFrame:
        x = rng.uniform(low, high, rows)
        # the model predicts x; its absolute error grows with x (|N(0, x)| has mean x * sqrt(2/pi))
        return pd.DataFrame({"batch_date": pd.Timestamp(day).date(), "x": x, "prediction": x,
                             "target": x + rng.normal(0, x)})  # fmt: skip

    reference = pd.concat([trips(3000, 1, 5, f"2021-01-{d:02d}") for d in range(10, 20)], ignore_index=True)
    analysis = pd.concat([trips(2000, 1, 2, "2021-02-01"), trips(2500, 4, 5, "2021-02-02")], ignore_index=True)
    estimated = estimate_daily_mae(reference, analysis.drop(columns=["target"]), ["x"], "prediction", "target")
    assert [str(d) for d in estimated["batch_date"]] == ["2021-02-01", "2021-02-02"]
    assert estimated["estimated_rows"].tolist() == [2000, 2500]
    realized = (analysis["prediction"] - analysis["target"]).abs().groupby(analysis["batch_date"]).mean().to_numpy()
    expected = np.array([1.5, 4.5]) * np.sqrt(2 / np.pi)
    assert realized == pytest.approx(expected, rel=0.05)
    assert estimated["estimated_mae"].to_numpy() == pytest.approx(expected, rel=0.08)
    assert (estimated["estimated_mae_lower"].to_numpy() <= realized).all()
    assert (realized <= estimated["estimated_mae_upper"].to_numpy()).all()


def test_dle_equals_nannyml_on_every_day() -> None:
    """mlwatch computes DLE without importing NannyML; NannyML's own DLE, run here on the same rows, is the oracle:
    several features, days of different sizes, rows without a label in the reference (NannyML drops them)."""
    rng = np.random.default_rng(11)
    features = ["a", "b", "c"]

    def rows(count: int, day: str, shift: float) -> pd.DataFrame:
        frame = pd.DataFrame({name: rng.normal(shift, 1 + index, count) for index, name in enumerate(features)})
        frame["prediction"] = 2 * frame["a"] - frame["b"] + 0.5 * frame["c"]
        frame["target"] = frame["prediction"] + rng.normal(0, 1 + frame["a"].abs())
        return frame.assign(batch_date=pd.Timestamp(day).date())

    reference = pd.concat([rows(1500 + 100 * d, f"2021-01-{d:02d}", 0) for d in range(1, 15)], ignore_index=True)
    reference.loc[reference.sample(frac=0.02, random_state=3).index, "target"] = np.nan
    analysis = pd.concat(
        [rows(count, f"2021-02-{d:02d}", shift) for d, (count, shift) in enumerate([(900, 0), (2400, 1), (60, 3)], 1)],
        ignore_index=True,
    ).drop(columns=["target"])
    ours = estimate_daily_mae(reference, analysis, features, "prediction", "target")

    nml = import_nannyml()
    estimator = nml.DLE(
        feature_column_names=features, y_pred="prediction", y_true="target", timestamp_column_name="timestamp",
        chunk_period="D", metrics=["mae"], hyperparameters={"verbose": -1},
    )  # fmt: skip

    def stamped(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(timestamp=pd.to_datetime(frame["batch_date"])).drop(columns=["batch_date"])

    theirs = estimator.fit(stamped(reference)).estimate(stamped(analysis)).filter(period="analysis").to_df()
    assert [str(day) for day in ours["batch_date"]] == ["2021-02-01", "2021-02-02", "2021-02-03"]
    assert ours["estimated_rows"].tolist() == [900, 2400, 60]
    for column, name in [("value", "estimated_mae"), ("lower_confidence_boundary", "estimated_mae_lower"),
                         ("upper_confidence_boundary", "estimated_mae_upper")]:  # fmt: skip
        assert ours[name].to_numpy() == pytest.approx(theirs[("mae", column)].to_numpy(), rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("beside", [True, False], ids=["fitted in a child", "fitted in this process"])
def test_metrics_estimates_only_the_days_without_an_estimate_unless_full_refresh(
    tmp_path, monkeypatch: pytest.MonkeyPatch, beside: bool
) -> None:
    """DLE in the warehouse, as `mlwatch metrics` runs it: a day once estimated keeps its row; a new day is
    estimated alone, to what estimating it with the others gives; a full refresh rewrites every day alike. The
    same in the child process small data go to, and in this process, where large data stay."""
    monkeypatch.setattr(estimates, "MAX_ROWS_BESIDE", 2_000_000 if beside else 0)
    config = load_config(PROJECT_DIR)
    features, prediction, target = config.features, config.prediction_column, config.target_column
    rng = np.random.default_rng(5)

    def trips(split: str, day: str, count: int, first_id: int) -> pd.DataFrame:
        frame = pd.DataFrame({name: rng.uniform(1, 10, count) for name in features})
        frame[prediction] = frame[features[0]] + frame[features[1]]
        frame[target] = frame[prediction] + rng.normal(0, frame[features[2]])
        return frame.assign(
            trip_id=range(first_id, first_id + count), split=split, batch_date=pd.Timestamp(day).date(),
            pickup_datetime=pd.Timestamp(day), passes_input_rules=True, is_performance_row=True, model_version="v1",
        )  # fmt: skip

    reference = pd.concat([trips("reference", f"2021-01-{d:02d}", 400, 1000 * d) for d in range(1, 6)])
    february = [trips("production", f"2021-02-0{d}", 150 + 50 * d, 100_000 + 1000 * d) for d in range(1, 4)]

    def parquet(frame: pd.DataFrame, name: str) -> str:
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
        return str(tmp_path / f"{name}.parquet")

    warehouse = DuckDBWarehouse(tmp_path / "estimates.duckdb")
    try:
        ensure_raw_tables(warehouse)
        warehouse.execute("create schema staging")  # the model versions as dbt stages them
        warehouse.execute("create table staging.stg_model__model_versions as "
                          "select model_version, reference_month, trained_at from raw.model_versions")  # fmt: skip
        warehouse.execute("insert into staging.stg_model__model_versions values ('v1', ?, now())",
                          [config.reference_month])  # fmt: skip
        warehouse.execute("create schema intermediate")
        warehouse.execute("create table intermediate.int_trips_scored as select * from read_parquet(?)",
                          [parquet(reference, "reference")])  # fmt: skip
        add = "insert into intermediate.int_trips_scored by name select * from read_parquet(?)"
        warehouse.execute(add, [parquet(pd.concat(february[:2]), "first-two-days")])

        def stored() -> pd.DataFrame:
            frame = warehouse.query("select * from raw.performance_estimates order by batch_date")
            return frame.assign(batch_date=[str(day)[:10] for day in frame["batch_date"]])

        def expected(days: list[pd.DataFrame]) -> pd.DataFrame:
            production = pd.concat(days).drop(columns=[target])
            frame = estimate_daily_mae(reference, production, features, prediction, target)
            return frame.assign(batch_date=[str(day) for day in frame["batch_date"]])

        with estimates.start(warehouse, config, full_refresh=False) as started:
            assert started.in_background == beside
            assert started.finish(warehouse) == 2
        before = stored()
        assert write_estimates(warehouse, config, full_refresh=False) == 0
        pd.testing.assert_frame_equal(stored(), before)

        warehouse.execute(add, [parquet(february[2], "third-day")])
        assert write_estimates(warehouse, config, full_refresh=False) == 1
        after = stored()
        pd.testing.assert_frame_equal(after.iloc[:2], before)
        columns = ["batch_date", "estimated_rows", "estimated_mae", "estimated_mae_lower", "estimated_mae_upper"]
        pd.testing.assert_frame_equal(after[columns], expected(february)[columns], check_dtype=False, rtol=1e-12)

        assert write_estimates(warehouse, config, full_refresh=True) == 3
        pd.testing.assert_frame_equal(stored()[columns], after[columns], check_dtype=False, rtol=1e-12)
        assert len(stored()) == 3
    finally:
        warehouse.close()


@pytest.mark.integration
def test_attribution_is_coefficient_times_mean_change_and_adds_up_to_the_shift(built) -> None:
    config = built.config
    features = config.features
    version = built.query("select model_version from raw.model_versions")["model_version"].iloc[0]
    model = pickle.loads((PROJECT_DIR / "models" / "trained" / f"{version}.pkl").read_bytes())
    trips = built.query(
        f"select split, batch_date, {', '.join(features)}, prediction from intermediate.int_trips_scored "
        "where passes_input_rules and prediction is not null"
    )
    reference = trips[trips["split"] == "reference"]
    production = trips[trips["split"] == "production"]
    day_means = production.groupby("batch_date")[[*features, "prediction"]].mean()
    reference_means = reference[[*features, "prediction"]].mean()
    expected = (day_means[features] - reference_means[features]) * model.coef_
    mart = built.query("select * from marts.daily_prediction_attribution").pivot(
        index="batch_date", columns="feature_name", values="contribution"
    )
    assert len(mart) == len(day_means) == 28
    assert mart.loc[day_means.index, features].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9, abs=1e-9)
    shift = day_means["prediction"] - reference_means["prediction"]
    assert mart.loc[day_means.index, features].sum(axis=1).to_numpy() == pytest.approx(shift.to_numpy(), abs=1e-9)


@pytest.mark.integration
def test_evaluate_alarms_scores_the_old_default_as_the_marts_say(built, tmp_path) -> None:
    completed = built.run("evaluate-alarms", "--output-dir", str(tmp_path))
    assert "calibrated_prediction_drift" in completed.stdout
    table = pd.read_csv(tmp_path / "alarm_evaluation.csv")
    assert (tmp_path / "alarms.png").stat().st_size > 10_000
    days = built.query(
        "select daily.prediction_drift_to_calibrated_threshold as drift, estimates.is_harmful "
        "from marts.daily_model_monitoring as daily inner join marts.daily_performance_estimates as estimates "
        "using (batch_date, model_version) where estimates.is_harmful is not null"
    )
    alarm, harm = days["drift"] > 1, days["is_harmful"].astype(bool)
    row = table[(table["rule"] == "calibrated_prediction_drift") & (table["period"] == "whole")].iloc[0]
    assert (row["days"], row["harmful_days"], row["alarm_days"]) == (len(days), harm.sum(), alarm.sum())
    assert row["true_alarms"] == (alarm & harm).sum()
    assert row["alarms_per_30_days"] == pytest.approx(30 * alarm.sum() / len(days), rel=1e-3)
