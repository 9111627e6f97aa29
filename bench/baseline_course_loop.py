"""The course's monitoring loop, as the benchmarks' baseline: one Evidently Report per day, in sequence.

As in the course's notebook (without its 10 s sleep): train the linear model on the first 30,000 valid
trips of January, keep the rest of January as the reference, then for each day of February re-read the
month's parquet file, take the day's trips, predict, run one Evidently Report and keep its values. The
report holds the full metric set `mlwatch metrics` writes, so the engines do the same work: drift, missing
values and rows (ValueDrift per drift column, DriftedColumnsCount, MissingValueCount per column, RowCount) and
each column's health (MinValue, MaxValue, MeanValue, QuantileValue at the configured quantiles and
OutRangeValueCount against the reference's range per numerical column; OutListValueCount against the
reference's categories per categorical one). `--metrics drift` leaves the health metrics out: the course's
metric kinds alone, a lighter baseline than the engines' work, reported beside it. `--metrics course` is the
course's script itself: its three metrics a day (the prediction's drift, the dataset's drifted columns, its
missing values), the whole process being what a user of the course runs.

    .venv/bin/python bench/baseline_course_loop.py [--metrics full|drift|course]   # prints one JSON line
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import pandas as pd
from benchlib import DATA_DIR, ROOT
from evidently import DataDefinition, Dataset, Report
from evidently.core.metric_types import Metric
from evidently.metrics import (
    DatasetMissingValueCount,
    DriftedColumnsCount,
    MaxValue,
    MeanValue,
    MinValue,
    MissingValueCount,
    OutListValueCount,
    OutRangeValueCount,
    QuantileValue,
    RowCount,
    ValueDrift,
)
from sklearn.linear_model import LinearRegression

from mlwatch.config import load_config

NUMERICAL = ["passenger_count", "trip_distance", "fare_amount", "total_amount"]
CATEGORICAL = ["PULocationID", "DOLocationID"]
FEATURES = NUMERICAL + CATEGORICAL
DRIFT_COLUMNS = [*FEATURES, "prediction"]
COLUMNS = [*FEATURES, "duration_min", "prediction"]
HEALTH_NUMERICAL = [*NUMERICAL, "duration_min", "prediction"]
QUANTILES = [quantile for _, quantile in load_config(ROOT).health_quantiles]
DEFINITION = DataDefinition(numerical_columns=HEALTH_NUMERICAL, categorical_columns=CATEGORICAL)


def read_month(month: str) -> pd.DataFrame:
    frame = pd.read_parquet(DATA_DIR / f"green_tripdata_{month}.parquet")
    frame["duration_min"] = (frame.lpep_dropoff_datetime - frame.lpep_pickup_datetime).dt.total_seconds() / 60
    return frame[(frame.passenger_count > 0) & (frame.passenger_count <= 8)]


def health_metrics(reference: pd.DataFrame) -> list[Metric]:
    metrics: list[Metric] = []
    for column in HEALTH_NUMERICAL:
        metrics += [
            MinValue(column=column),
            MaxValue(column=column),
            MeanValue(column=column),
            *(QuantileValue(column=column, quantile=quantile) for quantile in QUANTILES),
            OutRangeValueCount(column=column, left=reference[column].min(), right=reference[column].max()),
        ]
    categories = [
        OutListValueCount(column=column, values=sorted(reference[column].dropna().unique())) for column in CATEGORICAL
    ]
    return metrics + categories


def report(health: list[Metric]) -> Report:
    return Report(
        [
            RowCount(),
            *(ValueDrift(column=column) for column in DRIFT_COLUMNS),
            DriftedColumnsCount(columns=DRIFT_COLUMNS, drift_share=0.5),
            *(MissingValueCount(column=column) for column in COLUMNS),
            *health,
        ],
        include_tests=True,
    )


def course_report() -> Report:
    """The course's three metrics (ColumnDriftMetric of the prediction, DatasetDriftMetric,
    DatasetMissingValuesMetric), in Evidently 0.7's names."""
    return Report(
        [ValueDrift(column="prediction"), DriftedColumnsCount(columns=DRIFT_COLUMNS), DatasetMissingValueCount()]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", choices=["full", "drift", "course"], default="full")
    args = parser.parse_args()
    started = time.perf_counter()
    january = read_month("2021-01")
    kept = january[(january.duration_min >= 0) & (january.duration_min <= 60)]
    train = kept[:30000]
    model = LinearRegression().fit(train[FEATURES], train.duration_min)
    reference = january.loc[january.index > train.index.max()].copy()
    reference["prediction"] = model.predict(reference[FEATURES])
    reference_data = Dataset.from_pandas(reference[COLUMNS], data_definition=DEFINITION)
    health = health_metrics(reference) if args.metrics == "full" else []
    setup_seconds = time.perf_counter() - started

    values = 0
    day = dt.date(2021, 2, 1)
    while day < dt.date(2021, 3, 1):
        february = read_month("2021-02")  # the course re-reads its data on every iteration
        current = february[february.lpep_pickup_datetime.dt.date == day].copy()
        current["prediction"] = model.predict(current[FEATURES])
        daily = course_report() if args.metrics == "course" else report(health)
        snapshot = daily.run(Dataset.from_pandas(current[COLUMNS], data_definition=DEFINITION), reference_data)
        values += len(snapshot.dict()["metrics"])
        day += dt.timedelta(days=1)
    print(
        json.dumps(
            {
                "days": 28,
                "metric_set": args.metrics,
                "metrics": values,
                "setup_seconds": setup_seconds,
                "seconds": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
