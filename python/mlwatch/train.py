"""Train the course's baseline model on the rows dbt selects for training, and score the rest.

Training reads `int_trips_split` (split = 'train'), so the model and the monitoring share one
definition of a valid trip. The model version is a hash of what determines the model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error

from mlwatch.config import MonitoringConfig
from mlwatch.errors import TrainingError
from mlwatch.relations import TRIPS_SPLIT
from mlwatch.schema import MODEL_COEFFICIENT_SCHEMA, MODEL_VERSION_SCHEMA, PREDICTION_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

PREDICTION_BATCH_ROWS = 200_000


@dataclass(frozen=True)
class ModelMetadata:
    model_version: str
    model_type: str
    reference_month: str
    features: list[str]
    target: str
    train_rows: int
    validation_rows: int
    train_mae: float
    validation_mae: float
    sklearn_version: str
    trained_at: dt.datetime


@dataclass(frozen=True)
class TrainedModel:
    model: LinearRegression
    metadata: ModelMetadata


def model_version(model: LinearRegression, features: list[str], target: str, reference_month: str, rows: int) -> str:
    """Same data and settings give the same version; any change to them gives a new one."""
    identity = {
        "model": type(model).__name__,
        "features": features,
        "target": target,
        "reference_month": reference_month,
        "train_rows": rows,
        "intercept": float(model.intercept_).hex(),
        "coefficients": [float(c).hex() for c in np.ravel(model.coef_)],
        "sklearn": sklearn.__version__,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def fit(train: pd.DataFrame, validation: pd.DataFrame, config: MonitoringConfig) -> TrainedModel:
    """Fit LinearRegression exactly as the course notebook does: features as given, no scaling."""
    features, target = config.features, config.target_column
    if len(train) < config.training_rows:
        raise TrainingError(
            f"reference month {config.reference_month} has only {len(train)} trips passing every rule; "
            f"training needs training_rows={config.training_rows}"
        )
    incomplete = train[features].isna().any(axis=1).sum()
    if incomplete:
        raise TrainingError(f"{incomplete} training rows of {config.reference_month} lack a feature value")
    model = LinearRegression().fit(train[features], train[target])
    train_mae = mean_absolute_error(train[target], model.predict(train[features]))
    complete = validation.dropna(subset=features)
    validation_mae = (
        mean_absolute_error(complete[target], model.predict(complete[features])) if len(complete) else float("nan")
    )
    metadata = ModelMetadata(
        model_version=model_version(model, features, target, config.reference_month, len(train)),
        model_type=type(model).__name__,
        reference_month=config.reference_month,
        features=features,
        target=target,
        train_rows=len(train),
        validation_rows=len(complete),
        train_mae=float(train_mae),
        validation_mae=float(validation_mae),
        sklearn_version=sklearn.__version__,
        trained_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
    )
    return TrainedModel(model=model, metadata=metadata)


def fetch_training_frames(warehouse: Warehouse, config: MonitoringConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows in file order, and the validation rows (reference rows passing every rule)."""
    columns = ", ".join([*config.features, config.target_column])
    train = warehouse.query(f"select {columns} from {TRIPS_SPLIT} where split = 'train' order by source_row_number")
    validation = warehouse.query(
        f"select {columns} from {TRIPS_SPLIT} "
        "where split = 'reference' and passes_input_rules and passes_target_rules order by source_row_number"
    )
    return train, validation


def save(trained: TrainedModel, folder: Path) -> Path:
    """Pickle the model with its metadata beside it; the file name is the version."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{trained.metadata.model_version}.pkl"
    metadata = {**asdict(trained.metadata), "trained_at": trained.metadata.trained_at.isoformat()}
    metadata_text = json.dumps(metadata, indent=2) + "\n"
    _write_atomically(folder / f"{trained.metadata.model_version}.json", metadata_text.encode())
    _write_atomically(path, pickle.dumps(trained.model))
    return path


def _write_atomically(path: Path, content: bytes) -> None:
    """A killed run leaves the old file or the new one, never a truncated one."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    partial.replace(path)


INTERCEPT_TERM = "intercept"


def coefficients(trained: TrainedModel) -> pa.Table:
    """The linear model's terms, one row per feature plus the intercept (the version hashes the same values)."""
    meta = trained.metadata
    terms = [*meta.features, INTERCEPT_TERM]
    values = [*(float(c) for c in np.ravel(trained.model.coef_)), float(trained.model.intercept_)]
    rows = [
        {"model_version": meta.model_version, "term": t, "coefficient": v} for t, v in zip(terms, values, strict=True)
    ]
    return pa.Table.from_pylist(rows, schema=MODEL_COEFFICIENT_SCHEMA)


def register(warehouse: Warehouse, trained: TrainedModel) -> None:
    """Record the version once (retraining the same model keeps its first registration and trained_at),
    and its coefficients, replaced so that a warehouse registered before they were recorded gains them."""
    metadata = trained.metadata
    row = {**asdict(metadata), "features": json.dumps(metadata.features)}
    table = pa.Table.from_pylist([row], schema=MODEL_VERSION_SCHEMA)
    with warehouse.transaction():
        known = warehouse.rows(
            f"select 1 from {RAW_SCHEMA}.model_versions where model_version = ?", [metadata.model_version]
        )
        if not known:
            warehouse.append(f"{RAW_SCHEMA}.model_versions", table)
        warehouse.execute(
            f"delete from {RAW_SCHEMA}.model_coefficients where model_version = ?", [metadata.model_version]
        )
        warehouse.append(f"{RAW_SCHEMA}.model_coefficients", coefficients(trained))


def predict_frame(model: LinearRegression, frame: pd.DataFrame, features: list[str]) -> pd.Series:
    """Predictions for rows with every feature; rows lacking one get none (the model cannot score them)."""
    complete = frame.dropna(subset=features)
    return pd.Series(model.predict(complete[features]), index=complete.index, dtype="float64")


def score(
    warehouse: Warehouse,
    trained: TrainedModel,
    config: MonitoringConfig,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replace the version's predictions for the reference and production trips; returns the row count."""
    if warehouse.dialect == "spark":
        return _score_in_spark(warehouse, trained, config)
    version = trained.metadata.model_version
    frame = warehouse.query(
        f"select trip_id, {', '.join(config.features)} from {TRIPS_SPLIT} "
        "where split in ('reference', 'production') order by trip_id"
    )
    predictions = predict_frame(trained.model, frame, config.features)
    predicted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    table = pa.table(
        {
            "trip_id": pa.array(frame.loc[predictions.index, "trip_id"].to_numpy(), type=pa.int64()),
            "model_version": pa.array([version] * len(predictions), type=pa.string()),
            "prediction": pa.array(predictions.to_numpy(), type=pa.float64()),
            "predicted_at": pa.array([predicted_at] * len(predictions), type=pa.timestamp("us")),
        },
        schema=PREDICTION_SCHEMA,
    )
    with warehouse.transaction():
        warehouse.execute(f"delete from {RAW_SCHEMA}.predictions where model_version = ?", [version])
        for batch in table.to_batches(max_chunksize=PREDICTION_BATCH_ROWS):
            warehouse.append(f"{RAW_SCHEMA}.predictions", batch)
            if progress:
                progress(batch.num_rows)
    return table.num_rows


def _score_in_spark(warehouse: Warehouse, trained: TrainedModel, config: MonitoringConfig) -> int:
    """The predictions computed where the trips are: the linear model's formula in Spark SQL, one partition of
    raw.predictions overwritten. The formula scales as any projection and needs nothing on the executors; applying
    the pickled model per partition (mapInPandas) would ship scikit-learn and every row through Python for the
    same sum of products. Terms are added in the order LinearRegression.predict adds them (features, then the
    intercept), so the predictions equal scikit-learn's to the last bits."""
    from mlwatch.spark import SparkWarehouse

    assert isinstance(warehouse, SparkWarehouse)
    model, version = trained.model, trained.metadata.model_version
    features = config.features
    products = " + ".join(
        f"cast({feature} as double) * double('{float(coefficient)!r}')"
        for feature, coefficient in zip(features, np.ravel(model.coef_), strict=True)
    )
    complete = " and ".join(f"{feature} is not null and not isnan(cast({feature} as double))" for feature in features)
    predicted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    warehouse.replace_partition(
        f"{RAW_SCHEMA}.predictions",
        version,
        f"select trip_id, ({products}) + double('{float(model.intercept_)!r}') as prediction, "
        f"timestamp_ntz'{predicted_at:%Y-%m-%d %H:%M:%S}' as predicted_at "
        f"from {TRIPS_SPLIT} where split in ('reference', 'production') and {complete}",
    )
    return int(
        warehouse.rows(f"select count(*) from {RAW_SCHEMA}.predictions where model_version = ?", [version])[0][0]
    )
