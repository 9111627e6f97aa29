"""Any model's predictions and labels, from files into the raw tables its configuration names (docs/contract.md).

`mlwatch load-predictions` lands a predictions file (CSV or parquet): the id, the timestamp, the features and the
prediction the seed lists, and the model version (a `model_version` column, or the one the configuration gives).
A file that also holds the label (the reference period's usually does) lands those labels too. `mlwatch
load-labels` lands labels that arrive later: the id and the label. Each file lands in one transaction and replaces
the rows of the ids it holds, so a file loaded twice leaves the tables as once, and a corrected label replaces the
old one. Nothing lands from a file with a missing column, a missing or repeated id, a missing timestamp, or a value
that is not of its column's kind: the error names the file, the column and how many rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlwatch.config import MonitoredTables, MonitoringConfig
from mlwatch.errors import ConfigError, LoadError
from mlwatch.warehouse import RAW_SCHEMA, Warehouse, column_definitions

FILE_KINDS = (".csv", ".parquet")
MODEL_VERSION = "model_version"


@dataclass(frozen=True)
class LandedFile:
    path: Path
    predictions: int
    labels: int


Lander = Callable[[Warehouse, MonitoringConfig, Path], LandedFile]


def monitored_tables(config: MonitoringConfig) -> MonitoredTables:
    if config.monitored_tables is None:
        raise ConfigError(
            "this configuration monitors the taxi example, which `mlwatch load` lands; set MLWATCH_CONFIG to a "
            "configuration with monitored_tables (e.g. examples/car_price/mlwatch.yml) to land a model's own files"
        )
    return config.monitored_tables


def read_file(path: Path) -> pa.Table:
    if path.suffix.lower() not in FILE_KINDS:
        raise LoadError(f"{path}: expected a {' or '.join(FILE_KINDS)} file")
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        return pa_csv.read_csv(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise LoadError(f"{path}: not readable ({str(error).strip()})") from error


def _require(path: Path, data: pa.Table, names: list[str]) -> None:
    missing = [name for name in names if name not in data.column_names]
    if missing:
        raise LoadError(
            f"{path}: column(s) {missing} missing ({data.num_rows:,} rows; the file has {data.column_names})"
        )


def _cast(path: Path, data: pa.Table, name: str, kind: pa.DataType) -> pa.ChunkedArray[Any]:
    """The column as `kind`; every value that does not convert is counted and refused."""
    column = data.column(name)
    if column.type == kind:
        return column
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # counted value by value below, for the message
    values = column.to_pylist()
    converted, failed, example = [], 0, None
    for value in values:
        try:
            converted.append(pa.scalar(value).cast(kind).as_py() if value is not None else None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            converted.append(None)
            failed, example = failed + 1, example if example is not None else value
    if failed:
        raise LoadError(
            f"{path}: column {name}: {failed:,} of {len(values):,} rows are not {_kind_name(kind)} "
            f"(the first: {example!r}); nothing was loaded"
        )
    return pa.chunked_array([pa.array(converted, kind)])


def _kind_name(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "timestamps"
    if pa.types.is_floating(kind):
        return "numbers"
    if pa.types.is_integer(kind):
        return "integers"
    return "text"


def _id_column(path: Path, data: pa.Table, name: str) -> pa.ChunkedArray[Any]:
    column = data.column(name)
    ids = column.cast(pa.int64()) if pa.types.is_integer(column.type) else _cast(path, data, name, pa.string())
    if missing := ids.null_count:
        raise LoadError(f"{path}: column {name}: {missing:,} of {len(ids):,} rows have no id; nothing was loaded")
    repeated = len(ids) - len(pc.unique(ids))
    if repeated:
        raise LoadError(
            f"{path}: column {name}: {repeated:,} rows repeat an id of an earlier row; an id names one prediction "
            "and one label; nothing was loaded"
        )
    return ids


def prediction_rows(config: MonitoringConfig, path: Path, data: pa.Table, loaded_at: dt.datetime) -> pa.Table:
    """The predictions table's rows of a file: id, timestamp, model version, features, prediction, loaded_at."""
    tables = monitored_tables(config)
    features = config.features
    _require(path, data, [config.id_column, config.timestamp_column, *features, config.prediction_column])
    if MODEL_VERSION in data.column_names:
        versions = _cast(path, data, MODEL_VERSION, pa.string())
        if versions.null_count:
            raise LoadError(
                f"{path}: column {MODEL_VERSION}: {versions.null_count:,} of {data.num_rows:,} rows have no model "
                "version; nothing was loaded"
            )
    elif tables.model_version is not None:
        versions = pa.chunked_array([pa.array([tables.model_version] * data.num_rows, pa.string())])
    else:
        raise LoadError(
            f"{path}: no {MODEL_VERSION} column, and the configuration's monitored_tables gives no model_version"
        )
    timestamps = _cast(path, data, config.timestamp_column, pa.timestamp("us"))
    if timestamps.null_count:
        raise LoadError(
            f"{path}: column {config.timestamp_column}: {timestamps.null_count:,} of {data.num_rows:,} rows have no "
            "timestamp, so no batch; nothing was loaded"
        )
    columns: dict[str, Any] = {
        config.id_column: _id_column(path, data, config.id_column),
        config.timestamp_column: timestamps,
        MODEL_VERSION: versions,
    }
    for name in config.numerical_features:
        columns[name] = _cast(path, data, name, pa.float64())
    for name in config.categorical_features:
        columns[name] = _cast(path, data, name, pa.string())
    columns[config.prediction_column] = _cast(path, data, config.prediction_column, pa.float64())
    columns["loaded_at"] = pa.array([loaded_at] * data.num_rows, pa.timestamp("us"))
    return pa.table(columns)


def label_rows(config: MonitoringConfig, path: Path, data: pa.Table, loaded_at: dt.datetime) -> pa.Table:
    """The labels table's rows of a file: id, label, loaded_at; rows whose label is missing stay unlabelled."""
    _require(path, data, [config.id_column, config.target_column])
    columns: dict[str, Any] = {
        config.id_column: _id_column(path, data, config.id_column),
        config.target_column: _cast(path, data, config.target_column, pa.float64()),
        "loaded_at": pa.array([loaded_at] * data.num_rows, pa.timestamp("us")),
    }
    labels = pa.table(columns)
    return labels.filter(pc.is_valid(labels.column(config.target_column)))


def replace_rows(warehouse: Warehouse, table: str, rows: pa.Table, id_column: str) -> None:
    """Land `rows` in raw.`table` in place of the rows with the same ids, within the caller's transaction."""
    qualified = f"{RAW_SCHEMA}.{table}"
    definitions = column_definitions(rows.schema, warehouse.dialect)
    warehouse.execute(f"create table if not exists {qualified} ({definitions})")
    present = warehouse.table_columns(RAW_SCHEMA, table)
    if sorted(present) != sorted(rows.column_names):
        raise LoadError(
            f"{qualified} has the columns {present}, the file's rows {rows.column_names}: the configuration changed "
            f"since the table was made; drop it (or fix the configuration) and load every file again"
        )
    ids = rows.select([id_column])
    warehouse.execute(
        f"create temporary table mlwatch_landing_ids ({column_definitions(ids.schema, warehouse.dialect)})"
    )
    warehouse.append("mlwatch_landing_ids", ids)
    warehouse.execute(f"delete from {qualified} where {id_column} in (select {id_column} from mlwatch_landing_ids)")
    warehouse.execute("drop table mlwatch_landing_ids")
    warehouse.append(qualified, rows)


def load_predictions(warehouse: Warehouse, config: MonitoringConfig, path: Path) -> LandedFile:
    """One predictions file, with the labels it holds, in one transaction."""
    tables = monitored_tables(config)
    data = read_file(path)
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    predictions = prediction_rows(config, path, data, loaded_at)
    if config.target_column in data.column_names:
        labels = label_rows(config, path, data, loaded_at)
    else:  # none yet, but the table dbt reads exists from the first file on
        labels = pa.table(
            {
                config.id_column: pa.array([], predictions.schema.field(config.id_column).type),
                config.target_column: pa.array([], pa.float64()),
                "loaded_at": pa.array([], pa.timestamp("us")),
            }
        )
    warehouse.execute(f"create schema if not exists {RAW_SCHEMA}")
    with warehouse.transaction():
        replace_rows(warehouse, tables.predictions, predictions, config.id_column)
        replace_rows(warehouse, tables.labels, labels, config.id_column)
    return LandedFile(path, predictions.num_rows, labels.num_rows)


def load_labels(warehouse: Warehouse, config: MonitoringConfig, path: Path) -> LandedFile:
    """One labels file, in one transaction."""
    tables = monitored_tables(config)
    labels = label_rows(config, path, read_file(path), dt.datetime.now(dt.UTC).replace(tzinfo=None))
    warehouse.execute(f"create schema if not exists {RAW_SCHEMA}")
    with warehouse.transaction():
        replace_rows(warehouse, tables.labels, labels, config.id_column)
    return LandedFile(path, 0, labels.num_rows)
