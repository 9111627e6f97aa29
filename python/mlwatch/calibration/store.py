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


def reference_fingerprint(reference: pd.DataFrame, config: MonitoringConfig) -> str:
    """A hash of the reference's drift-column values, whatever their order, and of what picks each column's test
    and threshold with them (the seed's test and threshold, Evidently's version): a calibration holds for these only.
    """
    rows = pd.util.hash_pandas_object(reference[config.drift_columns], index=False).to_numpy()
    tests = json.dumps(
        [
            package_version("evidently"),
            *(
                [
                    column,
                    column in config.categorical_features,
                    config.column(column).stat_test,
                    config.column(column).threshold,
                ]
                for column in config.drift_columns
            ),
        ]
    )
    configured = pd.util.hash_pandas_object(pd.Series([tests]), index=False).to_numpy()
    return f"{np.concatenate([rows, configured]).sum(dtype=np.uint64):016x}"


def _stored_covers(
    stored: pd.DataFrame, config: MonitoringConfig, fingerprint: str, wanted: list[int], false_alarm_rate: float
) -> bool:
    """Whether the stored rows are all in force and cover every wanted size, decided without Evidently (seconds to
    import): the fingerprint holds everything that picks the tests, so only the sizes and quantile are left."""
    return bool(
        not stored.empty
        and (stored["reference_fingerprint"] == fingerprint).all()
        and stored["quantile"].isin([false_alarm_rate, 1 - false_alarm_rate]).all()
        and set(stored["column_name"]) == set(config.drift_columns)
        and all(
            not plan_sizes(wanted, stored.loc[stored["column_name"] == column, "batch_size"].tolist())
            for column in config.drift_columns
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
    fingerprint = reference_fingerprint(reference, config)
    wanted = [size for size in sizes if 0 < size <= max_batch_size(len(reference))]
    if _stored_covers(stored, config, fingerprint, wanted, false_alarm_rate):
        return stored[DRIFT_CALIBRATION_SCHEMA.names]
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
