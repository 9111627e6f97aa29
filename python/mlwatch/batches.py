"""What both metrics engines share: the days to compute, each side's rows, calibrated verdicts and the writes.

An engine only computes a day's metric rows; everything else about a day is here, so the two engines cannot
differ in which days they compute, which rows they read, how they judge drift at the calibrated thresholds,
or how a day lands in raw.batch_metrics (atomically, replacing its previous rows). Nothing here imports
Evidently: the side of its threshold each of Evidently's tests calls drift is a table, which
tests/test_calibration.py holds to Evidently itself.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from mlwatch.config import MonitoringConfig
from mlwatch.errors import ConfigError, WarehouseError
from mlwatch.relations import BATCH_DATES, MODEL_VERSIONS, MONITORED_PREDICTIONS
from mlwatch.schema import BATCH_METRIC_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse, ensure_raw_tables

# A day reuses the thresholds of a calibrated size within 2% of its own: scores scale with about 1/sqrt(size),
# so that moves a threshold by ~1%, well inside the sampling error of a quantile estimated from 200 draws.
SIZE_TOLERANCE = 0.02
# What a day's metric rows share, whichever engine wrote them.
_DAY_KEYS = ("batch_date", "model_version", "engine", "evidently_version", "computed_at", "compute_seconds")

Rule = Callable[[Any, Any], Any]  # (score, threshold) -> drift, on floats or numpy arrays

# Each Evidently test by registry name and display name, and the side of its threshold that is drift, with
# whether equality counts, as each test's source in evidently/legacy/calculations/stattests decides.
# p-values drift when small, distances when large; text tests are left out.
DRIFT_SIDES: dict[tuple[str, str], Rule] = {
    ("anderson", "Anderson-Darling"): operator.lt,
    ("chisquare", "chi-square p_value"): operator.lt,
    ("cramer_von_mises", "Cramer-von Mises"): operator.le,
    ("es", "Epps-Singleton"): operator.lt,
    ("fisher_exact", "Fisher's Exact test"): operator.lt,
    ("g_test", "g_test"): operator.lt,
    ("ks", "K-S p_value"): operator.le,
    ("mannw", "Mann-Whitney U-rank test"): operator.lt,
    ("empirical_mmd", "empirical_mmd"): operator.lt,
    ("t_test", "t_test"): operator.lt,
    ("TVD", "Total-Variation-Distance"): operator.lt,
    ("z", "Z-test p_value"): operator.lt,
    ("ed", "Energy-distance"): operator.gt,
    ("hellinger", "Hellinger distance"): operator.ge,
    ("jensenshannon", "Jensen-Shannon distance"): operator.ge,
    ("kl_div", "Kullback-Leibler divergence"): operator.ge,
    ("psi", "PSI"): operator.ge,
    ("wasserstein", "Wasserstein distance (normed)"): operator.ge,
}
_RULES = {label: rule for names, rule in DRIFT_SIDES.items() for label in names}


@dataclass(frozen=True)
class MetricsRun:
    model_versions: int
    days_computed: int
    rows_written: int
    seconds: float
    dbt_start_up_seconds: float = 0.0  # within `seconds`: what dbt costs before it computes anything


def model_versions(warehouse: Warehouse, config: MonitoringConfig) -> list[str]:
    """The model versions monitored against the configured reference month, oldest first; for a model's own
    tables, every version with predictions, by when its first ones landed."""
    if config.monitored_tables is not None:
        return [
            row[0]
            for row in warehouse.rows(
                f"select model_version from {MONITORED_PREDICTIONS} group by model_version "
                "order by min(loaded_at), model_version"
            )
        ]
    return [
        row[0]
        for row in warehouse.rows(
            f"select model_version from {MODEL_VERSIONS} where reference_month = ? order by trained_at",
            [config.reference_month],
        )
    ]


def newest_model_version(warehouse: Warehouse, config: MonitoringConfig) -> str:
    versions = model_versions(warehouse, config)
    if not versions:
        command = "mlwatch load" if config.monitored_tables is None else "mlwatch load-predictions"
        raise WarehouseError(f"No model monitored against {config.reference_label} in the warehouse; run `{command}`")
    return versions[-1]


def pending_days(warehouse: Warehouse, version: str, full_refresh: bool) -> list[dt.date]:
    days = [row[0] for row in warehouse.rows(f"select batch_date from {BATCH_DATES} order by 1")]
    if full_refresh:
        # Each day is replaced atomically when recomputed; only days no longer configured go now.
        warehouse.execute(
            f"delete from {RAW_SCHEMA}.batch_metrics where model_version = ? "
            f"and batch_date not in (select batch_date from {BATCH_DATES})",
            [version],
        )
        return days
    done = {
        row[0]
        for row in warehouse.rows(
            f"select distinct batch_date from {RAW_SCHEMA}.batch_metrics where model_version = ?", [version]
        )
    }
    return [day for day in days if day not in done]


def plan_days(warehouse: Warehouse, config: MonitoringConfig, full_refresh: bool) -> dict[str, list[dt.date]]:
    """The days each monitored model version still needs (all its days with `full_refresh`), oldest version first."""
    ensure_raw_tables(warehouse)
    return {version: pending_days(warehouse, version, full_refresh) for version in model_versions(warehouse, config)}


def read_side(
    warehouse: Warehouse, config: MonitoringConfig, version: str, where: str, params: list[Any]
) -> pd.DataFrame:
    """The scored rows passing the input rules of one side (`where` on int_trips_scored), in batch and trip order."""
    columns = ", ".join(config.monitored_columns)
    frame = warehouse.query(
        f"select batch_date, {columns} from {config.rows_relation} "
        f"where model_version = ? and passes_input_rules and {where} order by batch_date, {config.id_column}",
        [version, *params],
    )
    # Both warehouses' drivers give the same numbers, not always the same dtypes (e.g. None vs NaN). Categorical
    # features may be text (a model's own tables), which stays text.
    for column in config.monitored_columns:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (ValueError, TypeError):
            if column not in config.categorical_features:
                raise
    frame["batch_date"] = pd.to_datetime(frame["batch_date"]).dt.date
    return frame


def write_days(warehouse: Warehouse, version: str, rows_by_day: dict[dt.date, list[dict[str, Any]]]) -> int:
    """Replace the days' metrics of the version in one transaction (no partial day, no duplicates)."""
    days = list(rows_by_day)
    rows = [row for day_rows in rows_by_day.values() for row in day_rows]
    with warehouse.transaction():
        warehouse.execute(
            f"delete from {RAW_SCHEMA}.batch_metrics "
            f"where model_version = ? and batch_date in ({', '.join('?' * len(days))})",
            [version, *days],
        )
        warehouse.append(f"{RAW_SCHEMA}.batch_metrics", pa.Table.from_pylist(rows, schema=BATCH_METRIC_SCHEMA))
    return len(rows)


def drift_rule(stat_test: str) -> Rule:
    """`rule(score, threshold)` is True when the test, by registry or display name, calls the score drift."""
    try:
        return _RULES[stat_test]
    except KeyError:
        raise ConfigError(
            f"stat test {stat_test!r}: mlwatch does not know which side of its threshold is drift"
        ) from None


def calibrated_verdict(stat_test: str, score: float, calibrated_threshold: float) -> bool:
    """Whether a drift score is drift at a calibrated threshold, on the side its test calls drift."""
    return bool(drift_rule(stat_test)(score, calibrated_threshold))


def covering_size(size: int, calibrated: Iterable[int]) -> int | None:
    """The calibrated size nearest to `size` within the tolerance, if any."""
    near = [(abs(size - c) / c, c) for c in calibrated if abs(size - c) <= SIZE_TOLERANCE * c]
    return min(near)[1] if near else None


@dataclass(frozen=True)
class Thresholds:
    """A calibration indexed for lookups: (column, test display name) -> {batch size: calibrated threshold}."""

    by_test: dict[tuple[str, str], dict[int, float]]

    @classmethod
    def of(cls, calibration: pd.DataFrame) -> Thresholds:
        by_test: dict[tuple[str, str], dict[int, float]] = {}
        keys = calibration[["column_name", "stat_test", "batch_size", "calibrated_threshold"]]
        for column, test, size, threshold in keys.itertuples(index=False):
            by_test.setdefault((column, test), {})[int(size)] = float(threshold)
        return cls(by_test)

    def lookup(self, column: str, stat_test: str, size: int) -> float | None:
        """The calibrated threshold of a column's test for a day of `size` rows, if one covers it.

        None when the day is too far from every calibrated size, or when Evidently tested the day with another
        test than the calibrated one (its default can change when a day brings values the reference lacks).
        """
        sizes = self.by_test.get((column, stat_test), {})
        covering = covering_size(size, sizes)
        return None if covering is None else sizes[covering]


def with_calibrated_verdicts(
    rows: list[dict[str, Any]], thresholds: Thresholds, size: int, config: MonitoringConfig
) -> list[dict[str, Any]]:
    """A day's batch_metrics rows, each drift score also judged at its calibrated threshold.

    When every drift column of the day is covered, the day also gets the dataset-level count, share and
    dataset drift under calibrated thresholds (Evidently's DriftedColumnsCount rule: share >= drift_share).
    Works on rows of either metrics engine, so both judge alike.
    """
    judged, verdicts = [], []
    for row in rows:
        if row["metric_name"] == "drift_score":
            threshold = thresholds.lookup(row["column_name"], row["stat_test"], size)
            detected = (
                None if threshold is None else calibrated_verdict(row["stat_test"], row["metric_value"], threshold)
            )
            row = {**row, "calibrated_threshold": threshold, "calibrated_drift_detected": detected}
            verdicts.append(detected)
        judged.append(row)
    if not verdicts or None in verdicts:
        return judged
    day = {key: rows[0][key] for key in _DAY_KEYS}
    count = sum(bool(verdict) for verdict in verdicts)
    share = count / len(verdicts)
    dataset_drift = share >= config.drift_share
    return [
        *judged,
        {**day, "metric_name": "drifted_columns_count_calibrated", "column_name": "", "metric_value": float(count)},
        {
            **day,
            "metric_name": "drifted_columns_share_calibrated",
            "column_name": "",
            "metric_value": share,
            "threshold": config.drift_share,
        },
        {
            **day,
            "metric_name": "dataset_drift_calibrated",
            "column_name": "",
            "metric_value": float(dataset_drift),
            "stat_test": "share of drifted columns",
            "threshold": config.drift_share,
            "drift_detected": dataset_drift,
            "calibrated_drift_detected": dataset_drift,
        },
    ]
