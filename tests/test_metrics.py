"""evaluate_batch on small frames, checked against hand computations and Evidently run directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_DIR
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift

from mlwatch.config import load_config
from mlwatch.metrics import evaluate_batch


@pytest.fixture(scope="module")
def config():
    return load_config(PROJECT_DIR, env={})


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "passenger_count": rng.integers(1, 4, rows).astype(float),
            "trip_distance": rng.exponential(3, rows) + shift,
            "fare_amount": rng.exponential(12, rows) + 3 * shift,
            "total_amount": rng.exponential(15, rows) + 3 * shift,
            "pickup_location_id": rng.integers(1, 20, rows),
            "dropoff_location_id": rng.integers(1, 20, rows),
            "duration_min": rng.uniform(1, 60, rows),
            "prediction": rng.normal(15, 4, rows) + shift,
        }
    )


def by_key(values) -> dict[tuple[str, str], object]:
    return {(v.metric_name, v.column_name): v for v in values}


def test_an_empty_batch_records_only_its_size(config) -> None:
    values = evaluate_batch(frame(0, 1), frame(2000, 2), config)
    assert [(v.metric_name, v.metric_value) for v in values] == [("row_count", 0.0)]


def test_missing_share_is_missing_cells_over_all_cells(config) -> None:
    current = frame(1500, 3)
    current.loc[:9, "trip_distance"] = np.nan  # 10 cells
    current.loc[:4, "prediction"] = np.nan  # 5 cells
    values = by_key(evaluate_batch(current, frame(2000, 4), config))
    assert values[("missing_values_count", "")].metric_value == 15
    assert values[("missing_values_share", "")].metric_value == pytest.approx(15 / (1500 * 8))
    assert values[("missing_share", "trip_distance")].metric_value == pytest.approx(10 / 1500)
    assert values[("row_count", "")].metric_value == 1500


def test_drift_scores_and_verdicts_are_evidentlys(config) -> None:
    reference, current = frame(3000, 5), frame(1500, 6, shift=2.0)
    values = by_key(evaluate_batch(current, reference, config))
    columns = config.drift_columns
    definition = DataDefinition(
        numerical_columns=[*config.numerical_features, "prediction"], categorical_columns=config.categorical_features
    )
    direct = Report([ValueDrift(column=c) for c in columns]).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    for metric in direct.dict()["metrics"]:
        got = values[("drift_score", metric["config"]["column"])]
        assert got.metric_value == pytest.approx(metric["value"], abs=1e-12)
        assert got.stat_test == metric["config"]["method"]
        assert got.threshold == metric["config"]["threshold"]
    drifted = [c for c in columns if values[("drift_score", c)].drift_detected]
    assert "trip_distance" in drifted and "prediction" in drifted  # shifted by 2 on a ~3 scale
    assert values[("drifted_columns_count", "")].metric_value == len(drifted)
    assert values[("drifted_columns_share", "")].metric_value == pytest.approx(len(drifted) / len(columns))
    assert values[("dataset_drift", "")].drift_detected is (len(drifted) / len(columns) >= config.drift_share)


def test_a_configured_stat_test_replaces_the_default(config, tmp_path) -> None:
    import dataclasses

    columns = tuple(
        dataclasses.replace(c, stat_test="psi", threshold=0.2) if c.name == "trip_distance" else c
        for c in config.columns
    )
    custom = dataclasses.replace(config, columns=columns)
    values = by_key(evaluate_batch(frame(1500, 7, shift=0.5), frame(3000, 8), custom))
    assert values[("drift_score", "trip_distance")].stat_test == "PSI"
    assert values[("drift_score", "trip_distance")].threshold == 0.2
