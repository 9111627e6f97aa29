"""evaluate_batch on small frames, checked against hand computations and Evidently run directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_DIR
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift

from mlwatch.config import load_config
from mlwatch.engines.evidently import evaluate_batch


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


def test_column_health_equals_evidentlys_own_metrics(config) -> None:
    from evidently.metrics import (
        MaxValue,
        MeanValue,
        MinValue,
        OutListValueCount,
        OutRangeValueCount,
        QuantileValue,
    )

    from mlwatch.engines.evidently import column_health

    reference, current = frame(3000, 9), frame(800, 10, shift=1.0)
    current.loc[:19, "fare_amount"] = np.nan
    current.loc[:4, "pickup_location_id"] = 99  # never seen in the reference
    numerical = [*config.numerical_features, "duration_min", "prediction"]
    evidently_metrics = []
    for column in numerical:
        evidently_metrics += [
            MinValue(column=column),
            MaxValue(column=column),
            MeanValue(column=column),
            *(QuantileValue(column=column, quantile=q) for q in (0.05, 0.25, 0.5, 0.75, 0.95)),
            OutRangeValueCount(column=column, left=reference[column].min(), right=reference[column].max()),
        ]
    for column in config.categorical_features:
        evidently_metrics.append(OutListValueCount(column=column, values=sorted(set(reference[column]))))
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=config.categorical_features)
    result = Report(evidently_metrics).run(Dataset.from_pandas(current, data_definition=definition), None).dict()
    expected = {}
    names = {"MinValue": "min", "MaxValue": "max", "MeanValue": "mean"}
    for metric in result["metrics"]:
        kind, column, value = metric["config"]["type"].rsplit(":", 1)[-1], metric["config"]["column"], metric["value"]
        if kind in names:
            expected[(names[kind], column)] = value
        elif kind == "QuantileValue":
            expected[(f"p{round(metric['config']['quantile'] * 100):02d}", column)] = value
        else:
            prefix = "out_of_range" if kind == "OutRangeValueCount" else "new_category"
            expected[(f"{prefix}_count", column)] = value["count"]
            expected[(f"{prefix}_share", column)] = value["share"]
    got = {(v.metric_name, v.column_name): v.metric_value for v in column_health(current, reference, config)}
    assert got == pytest.approx(expected, abs=1e-12)
    assert got[("new_category_count", "pickup_location_id")] == 5
