"""The course's monitoring loop, as the benchmarks' baseline: one Evidently Report per day, in sequence.

As in the course's notebook (without its 10 s sleep): train the linear model on the first 30,000 valid
trips of January, keep the rest of January as the reference, then for each day of February re-read the
month's parquet file, take the day's trips, predict, run one Evidently Report and keep its values. The
report holds the same metrics `mlwatch metrics` writes for drift, missing values and rows (ValueDrift per
drift column, DriftedColumnsCount, MissingValueCount per column, RowCount), so the engines do the same work.

    .venv/bin/python bench/baseline_course_loop.py   # prints one JSON line: days, seconds, rows of values
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pandas as pd
from benchlib import DATA_DIR
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import DriftedColumnsCount, MissingValueCount, RowCount, ValueDrift
from sklearn.linear_model import LinearRegression

NUMERICAL = ["passenger_count", "trip_distance", "fare_amount", "total_amount"]
CATEGORICAL = ["PULocationID", "DOLocationID"]
FEATURES = NUMERICAL + CATEGORICAL
DRIFT_COLUMNS = [*FEATURES, "prediction"]
COLUMNS = [*FEATURES, "duration_min", "prediction"]
DEFINITION = DataDefinition(
    numerical_columns=[*NUMERICAL, "duration_min", "prediction"], categorical_columns=CATEGORICAL
)


def read_month(month: str) -> pd.DataFrame:
    frame = pd.read_parquet(DATA_DIR / f"green_tripdata_{month}.parquet")
    frame["duration_min"] = (frame.lpep_dropoff_datetime - frame.lpep_pickup_datetime).dt.total_seconds() / 60
    return frame[(frame.passenger_count > 0) & (frame.passenger_count <= 8)]


def report() -> Report:
    return Report(
        [
            RowCount(),
            *(ValueDrift(column=column) for column in DRIFT_COLUMNS),
            DriftedColumnsCount(columns=DRIFT_COLUMNS, drift_share=0.5),
            *(MissingValueCount(column=column) for column in COLUMNS),
        ],
        include_tests=True,
    )


def main() -> None:
    started = time.perf_counter()
    january = read_month("2021-01")
    kept = january[(january.duration_min >= 0) & (january.duration_min <= 60)]
    train = kept[:30000]
    model = LinearRegression().fit(train[FEATURES], train.duration_min)
    reference = january.loc[january.index > train.index.max()].copy()
    reference["prediction"] = model.predict(reference[FEATURES])
    reference_data = Dataset.from_pandas(reference[COLUMNS], data_definition=DEFINITION)
    setup_seconds = time.perf_counter() - started

    values = 0
    day = dt.date(2021, 2, 1)
    while day < dt.date(2021, 3, 1):
        february = read_month("2021-02")  # the course re-reads its data on every iteration
        current = february[february.lpep_pickup_datetime.dt.date == day].copy()
        current["prediction"] = model.predict(current[FEATURES])
        snapshot = report().run(Dataset.from_pandas(current[COLUMNS], data_definition=DEFINITION), reference_data)
        values += len(snapshot.dict()["metrics"])
        day += dt.timedelta(days=1)
    print(
        json.dumps(
            {"days": 28, "metrics": values, "setup_seconds": setup_seconds, "seconds": time.perf_counter() - started}
        )
    )


if __name__ == "__main__":
    main()
