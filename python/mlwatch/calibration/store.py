"""raw.drift_calibration: each model version's thresholds, calibrated once per reference and batch size."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from mlwatch.batches import covering_size
from mlwatch.calibration.column_tests import column_tests
from mlwatch.calibration.null_days import DRAWS, FALSE_ALARM_RATE, SEED, calibrate, max_batch_size
from mlwatch.config import MonitoringConfig
from mlwatch.schema import DRIFT_CALIBRATION_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

TABLE = f"{RAW_SCHEMA}.drift_calibration"


def plan_sizes(sizes: Iterable[int], calibrated: Iterable[int]) -> list[int]:
    """The sizes to calibrate so that every size is covered: smallest first, each covering those within 2%."""
    covered = list(calibrated)
    todo: list[int] = []
    for size in sorted(set(sizes)):
        if covering_size(size, [*covered, *todo]) is None:
            todo.append(size)
    return todo


def reference_fingerprint(reference: pd.DataFrame, config: MonitoringConfig) -> str:
    """A hash of the reference's drift-column values, whatever their order: a calibration holds for them only."""
    rows = pd.util.hash_pandas_object(reference[config.drift_columns], index=False).to_numpy()
    return f"{rows.sum(dtype=np.uint64):016x}"


def stored_calibration(warehouse: Warehouse, model_version: str) -> pd.DataFrame:
    return warehouse.query(
        f"select * from {TABLE} where model_version = ? order by column_name, batch_size", [model_version]
    )


def ensure_calibration(
    warehouse: Warehouse,
    config: MonitoringConfig,
    model_version: str,
    reference: pd.DataFrame,
    sizes: Iterable[int],
    *,
    draws: int = DRAWS,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = SEED,
) -> pd.DataFrame:
    """The model version's calibration for this reference and configuration, calibrating the sizes it lacks.

    Stored rows hold while the reference rows and each column's test, default threshold and quantile are
    unchanged; sizes they do not cover are calibrated (days above max_batch_size get no threshold). The
    version's rows are then replaced in one transaction, so raw.drift_calibration only holds rows in force.
    """
    stored = stored_calibration(warehouse, model_version)
    fingerprint = reference_fingerprint(reference, config)
    wanted = [size for size in sizes if 0 < size <= max_batch_size(len(reference))]
    kept = []
    plans: dict[tuple[int, ...], list[str]] = {}
    for test in column_tests(reference, config):
        rows = stored[
            (stored["reference_fingerprint"] == fingerprint)
            & (stored["column_name"] == test.column)
            & (stored["stat_test"] == test.test.display_name)
            & (stored["default_threshold"] == test.threshold)
            & (stored["quantile"] == test.quantile(false_alarm_rate))
        ]
        kept.append(rows)
        if todo := plan_sizes(wanted, rows["batch_size"].tolist()):
            plans.setdefault(tuple(todo), []).append(test.column)
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    new = [
        calibrate(
            reference, todo, config, draws=draws, false_alarm_rate=false_alarm_rate, seed=seed, columns=columns
        ).assign(model_version=model_version, reference_fingerprint=fingerprint, computed_at=computed_at)
        for todo, columns in plans.items()
    ]
    frames = [frame for frame in (*kept, *new) if not frame.empty]
    in_force = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DRIFT_CALIBRATION_SCHEMA.names)
    in_force = in_force[DRIFT_CALIBRATION_SCHEMA.names]
    if new or sum(len(rows) for rows in kept) < len(stored):
        with warehouse.transaction():
            warehouse.execute(f"delete from {TABLE} where model_version = ?", [model_version])
            warehouse.append(
                TABLE, pa.Table.from_pandas(in_force, schema=DRIFT_CALIBRATION_SCHEMA, preserve_index=False)
            )
    return in_force
