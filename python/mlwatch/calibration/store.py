"""raw.drift_calibration: each model version's thresholds, calibrated once per reference and batch size."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from importlib.metadata import version as package_version

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


def reference_fingerprint(reference: pd.DataFrame, config: MonitoringConfig, column: str) -> str:
    """A hash of a drift column's reference values, whatever their order, and of what picks its test and threshold
    with them (the seed's test and threshold, Evidently's version): the column's calibration holds for these only.
    """
    column_config = config.column(column)
    picks = [package_version("evidently"), column in config.categorical_features, column_config.stat_test]
    hashes = [
        pd.util.hash_pandas_object(reference[column], index=False).to_numpy(),
        pd.util.hash_pandas_object(pd.Series([json.dumps([*picks, column_config.threshold])]), index=False).to_numpy(),
    ]
    return f"{np.concatenate(hashes).sum(dtype=np.uint64):016x}"


def _stored_covers(
    stored: pd.DataFrame, fingerprints: dict[str, str], wanted: list[int], false_alarm_rate: float
) -> bool:
    """Whether the stored rows are all in force and cover every wanted size, decided without Evidently (seconds to
    import): the fingerprints hold everything that picks the tests, so only the sizes and quantile are left."""
    return bool(
        set(stored["column_name"]) == set(fingerprints)
        and (stored["reference_fingerprint"] == stored["column_name"].map(fingerprints)).all()
        and stored["quantile"].isin([false_alarm_rate, 1 - false_alarm_rate]).all()
        and all(
            not plan_sizes(wanted, stored.loc[stored["column_name"] == column, "batch_size"].tolist())
            for column in fingerprints
        )
    )


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
    fingerprints = {column: reference_fingerprint(reference, config, column) for column in config.drift_columns}
    wanted = [size for size in sizes if 0 < size <= max_batch_size(len(reference))]
    if _stored_covers(stored, fingerprints, wanted, false_alarm_rate):
        return stored[DRIFT_CALIBRATION_SCHEMA.names]
    kept = []
    plans: dict[tuple[int, ...], list[str]] = {}
    for test in column_tests(reference, config):
        rows = stored[
            (stored["reference_fingerprint"] == fingerprints[test.column])
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
        ).assign(
            model_version=model_version,
            reference_fingerprint=lambda frame: frame["column_name"].map(fingerprints),
            computed_at=computed_at,
        )
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
