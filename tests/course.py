"""The course notebook's computations, redone from the parquet files with pandas and scikit-learn only.

Tests compare the pipeline's warehouse tables with these, so nothing here may import the pipeline's code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LinearRegression

NUMERICAL = ["passenger_count", "trip_distance", "fare_amount", "total_amount"]
CATEGORICAL = ["pickup_location_id", "dropoff_location_id"]
FEATURES = NUMERICAL + CATEGORICAL
RENAME = {"PULocationID": "pickup_location_id", "DOLocationID": "dropoff_location_id"}


def read_month(data_dir: Path, month: str) -> pd.DataFrame:
    frame = pd.read_parquet(data_dir / f"green_tripdata_{month}.parquet").rename(columns=RENAME)
    frame["position"] = range(len(frame))
    frame["duration_min"] = (frame.lpep_dropoff_datetime - frame.lpep_pickup_datetime).dt.total_seconds() / 60
    frame["passes_input"] = (frame.passenger_count > 0) & (frame.passenger_count <= 8)
    frame["passes_target"] = (frame.duration_min >= 0) & (frame.duration_min <= 60)
    return frame


@dataclass
class Course:
    model: LinearRegression
    train: pd.DataFrame
    validation: pd.DataFrame  # the course's val_data: kept rows after the training rows
    reference: pd.DataFrame  # the drift reference: rows after the training rows passing the input rules
    production: pd.DataFrame  # production rows passing the input rules, with their prediction

    def day(self, day: dt.date) -> pd.DataFrame:
        return self.production[self.production.lpep_pickup_datetime.dt.date == day]


def course(data_dir: Path, reference_month: str = "2021-01", production_month: str = "2021-02") -> Course:
    january = read_month(data_dir, reference_month)
    kept = january[january.passes_input & january.passes_target]
    train, validation = kept[:30000], kept[30000:].copy()
    model = LinearRegression().fit(train[FEATURES], train.duration_min)
    last_training_row = train.position.max()
    reference = january[(january.position > last_training_row) & january.passes_input].copy()
    february = read_month(data_dir, production_month)
    production = february[february.passes_input].copy()
    for frame in (validation, reference, production):
        frame["prediction"] = model.predict(frame[FEATURES])
    return Course(model, train, validation, reference, production)
