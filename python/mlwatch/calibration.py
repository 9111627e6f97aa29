"""Calibrated drift thresholds: where each column's drift test should ring so that days without drift rarely do.

Evidently's default thresholds are fixed numbers, but a day's drift score depends on the day's size and on the
column: with ~260 pickup zones and ~1,300 trips a day, two samples of one distribution are more than the default
Jensen-Shannon distance of 0.1 apart, so the location columns "drift" every day. Here each drift column's test
(the one Evidently uses for it) is run on days drawn from the reference itself, which cannot drift, and the
calibrated threshold is the score those days exceed 1% of the time.

A drawn day is compared with the rest of the reference, not with all of it: a day that is part of its own
reference shares that reference's sampling noise and looks closer to it than a new day does (for the pickup
zones, a threshold calibrated that way rings on more than half of the new days without drift).

`calibrate` and the scoring are pure; `ensure_calibration` stores the thresholds in raw.drift_calibration once
per reference (model version) and batch size; `calibrated_threshold` and `calibrated_verdict` judge a day's
score with them.
`python -m mlwatch.calibration` measures the false-alarm rates on the configured warehouse.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from evidently.legacy.calculations import stattests
from evidently.legacy.calculations.stattests.registry import StatTest, get_stattest
from evidently.legacy.core import ColumnType
from scipy.spatial import distance

from mlwatch.config import MonitoringConfig
from mlwatch.errors import ConfigError
from mlwatch.schema import DRIFT_CALIBRATION_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

TABLE = f"{RAW_SCHEMA}.drift_calibration"
DRAWS = 200
FALSE_ALARM_RATE = 0.01
SEED = 0
# A day reuses the thresholds of a calibrated size within 2% of its own: scores scale with about 1/sqrt(size),
# so that moves a threshold by ~1%, well inside the sampling error of a quantile estimated from 200 draws.
SIZE_TOLERANCE = 0.02
_STORED_ONLY = ("model_version", "reference_fingerprint", "computed_at")  # added by ensure_calibration
# Count matrices (draws x distinct values) are built in chunks of at most this many cells (~160 MB).
_CELL_BUDGET = 20_000_000
# What a day's metric rows share, whichever engine wrote them.
_DAY_KEYS = ("batch_date", "model_version", "engine", "evidently_version", "computed_at", "compute_seconds")

# Which side of its threshold each Evidently test calls drift, and whether equality counts, as each test's
# source in evidently/legacy/calculations/stattests decides (test_calibration.py checks every entry against
# Evidently itself). p-values drift when small, distances when large; text tests are left out.
_DRIFT_WHEN: dict[StatTest, Callable[[float, float], bool]] = {
    stattests.anderson_darling_test: operator.lt,
    stattests.chi_stat_test: operator.lt,
    stattests.cramer_von_mises: operator.le,
    stattests.epps_singleton_test: operator.lt,
    stattests.fisher_exact_test: operator.lt,
    stattests.g_test: operator.lt,
    stattests.ks_stat_test: operator.le,
    stattests.mann_whitney_u_stat_test: operator.lt,
    stattests.empirical_mmd: operator.lt,
    stattests.t_test: operator.lt,
    stattests.tvd_test: operator.lt,
    stattests.z_stat_test: operator.lt,
    stattests.energy_dist_test: operator.gt,
    stattests.hellinger_stat_test: operator.ge,
    stattests.jensenshannon_stat_test: operator.ge,
    stattests.kl_div_stat_test: operator.ge,
    stattests.psi_stat_test: operator.ge,
    stattests.wasserstein_stat_test: operator.ge,
}
_RULES = {label: rule for test, rule in _DRIFT_WHEN.items() for label in (test.name, test.display_name)}


def drift_rule(stat_test: str) -> Callable[[float, float], bool]:
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


@dataclass(frozen=True)
class ColumnTest:
    """A drift column and the test Evidently runs on it against this reference."""

    column: str
    kind: ColumnType
    test: StatTest
    threshold: float  # Evidently's: the seed's, else the test's default

    @property
    def is_p_value(self) -> bool:
        return drift_rule(self.test.name) in (operator.lt, operator.le)

    def quantile(self, false_alarm_rate: float) -> float:
        """The quantile of no-drift scores that rings on `false_alarm_rate` of them."""
        return false_alarm_rate if self.is_p_value else 1 - false_alarm_rate

    def drifted(self, scores: np.ndarray, threshold: float) -> np.ndarray:
        return drift_rule(self.test.name)(scores, threshold)


def _clean(values: pd.Series) -> pd.Series:
    """The values Evidently's drift test sees: infinities are missing, and missing values are dropped later."""
    return values.replace([-np.inf, np.inf], np.nan)


def column_tests(reference: pd.DataFrame, config: MonitoringConfig) -> list[ColumnTest]:
    """Each drift column's test as Evidently picks it (validate the seed first with metrics.configured_test_names)."""
    tests = []
    for column in config.drift_columns:
        kind = ColumnType.Categorical if column in config.categorical_features else ColumnType.Numerical
        values = _clean(reference[column]).dropna()
        # Evidently's default depends on the reference and on the values of reference and day together; a day
        # drawn from the reference adds no value, so the reference alone decides.
        test = get_stattest(values, values.iloc[0:0], kind, config.column(column).stat_test)
        drift_rule(test.name)  # refuse a test whose drift side is unknown before any work
        threshold = config.column(column).threshold
        tests.append(ColumnTest(column, kind, test, test.default_threshold if threshold is None else threshold))
    return tests


@dataclass(frozen=True)
class _Coded:
    """A reference column as codes, so the counts of many drawn days come from one bincount."""

    values: np.ndarray  # distinct non-missing values, sorted
    codes: np.ndarray  # per reference row: index into values, len(values) where missing
    totals: np.ndarray  # how often each value occurs in the reference

    @classmethod
    def of(cls, column: pd.Series) -> _Coded:
        codes, values = pd.factorize(column, sort=True)
        codes = np.where(codes < 0, len(values), codes)
        return cls(np.asarray(values), codes, np.bincount(codes, minlength=len(values) + 1)[:-1])

    def day_counts(self, days: np.ndarray) -> np.ndarray:
        """(draws, values): how often each value occurs in each drawn day (rows of reference indices)."""
        width = len(self.values) + 1  # the last bin holds the missing values Evidently drops
        flat = (np.arange(len(days))[:, None] * width + self.codes[days]).ravel()
        return np.bincount(flat, minlength=len(days) * width).reshape(len(days), width)[:, :-1]


def _wasserstein(coded: _Coded, days: np.ndarray) -> np.ndarray:
    """Evidently's normed Wasserstein distance of each drawn day to the rest of the reference.

    The area between the two step CDFs, on the grid of reference values (a drawn day has no other value),
    over the rest's standard deviation (centred sums, so large values lose no precision), floored at 0.001.
    """
    day = coded.day_counts(days)
    rest = coded.totals - day
    gaps = np.abs(
        np.cumsum(rest, axis=1) / rest.sum(1, keepdims=True) - np.cumsum(day, axis=1) / day.sum(1, keepdims=True)
    )
    area = gaps[:, :-1] @ np.diff(coded.values.astype(float))
    centred = coded.values - np.average(coded.values, weights=coded.totals)
    mean = rest @ centred / rest.sum(1)
    std = np.sqrt(np.maximum(rest @ centred**2 / rest.sum(1) - mean**2, 0))
    return area / np.maximum(std, 0.001)


def _jensenshannon(coded: _Coded, days: np.ndarray) -> np.ndarray:
    """Evidently's Jensen-Shannon distance of each drawn day to the rest of the reference, on value frequencies."""
    day = coded.day_counts(days)
    return distance.jensenshannon(coded.totals - day, day, axis=1)


def _vectorised(test: ColumnTest, distinct: int) -> Callable[[_Coded, np.ndarray], np.ndarray] | None:
    """The vectorised scores equal to Evidently's own for this test, if mlwatch has them.

    Only for the tests Evidently picks by default; its Jensen-Shannon distance is on value frequencies for
    categories, and for numbers while the reference has at most 20 distinct values (beyond, it bins them).
    Every other test is called draw by draw.
    """
    if test.test == stattests.wasserstein_stat_test:
        return _wasserstein
    if test.test == stattests.jensenshannon_stat_test and (test.kind == ColumnType.Categorical or distinct <= 20):
        return _jensenshannon
    return None


def max_batch_size(reference_rows: int) -> int:
    """The largest day calibrated: a larger day drawn from the reference would leave too little to compare with."""
    return reference_rows // 2


class NullDays:
    """Days drawn without replacement from the reference rows, and each column's drift score on them."""

    def __init__(self, reference: pd.DataFrame, tests: Sequence[ColumnTest]) -> None:
        self.rows = len(reference)
        self._columns = {t.column: _clean(reference[t.column]).reset_index(drop=True) for t in tests}
        self._coded = {column: _Coded.of(values) for column, values in self._columns.items()}

    def draw(self, size: int, draws: int, seed: int) -> np.ndarray:
        """(draws, size) reference row indices; seeded by (seed, size) so a size's days never depend on others."""
        if not 0 < size < self.rows:
            raise ValueError(f"cannot draw days of {size} rows from a reference of {self.rows} rows")
        rng = np.random.default_rng([seed, size])
        return np.stack([rng.choice(self.rows, size, replace=False) for _ in range(draws)])

    def scores(self, test: ColumnTest, days: np.ndarray) -> np.ndarray:
        """The column's drift score of each drawn day against the reference rows not drawn."""
        coded = self._coded[test.column]
        vectorised = _vectorised(test, len(coded.values))
        if vectorised is None:
            return self._evidently(test, days)
        chunks = math.ceil(len(days) * (len(coded.values) + 1) / _CELL_BUDGET)
        scores = np.concatenate([vectorised(coded, part) for part in np.array_split(days, chunks)])
        # The vectorised scores stand in for Evidently's only where they are its own: check a typical day and
        # the two extremes, which bound every quantile taken from them.
        checked = [0, int(np.argmin(scores)), int(np.argmax(scores))]
        expected = self._evidently(test, days[checked])
        if not np.allclose(scores[checked], expected, rtol=1e-9, atol=1e-12):
            raise RuntimeError(
                f"{test.column}: vectorised {test.test.name} scores {scores[checked]} differ from Evidently's "
                f"{expected}; has Evidently changed how it computes them?"
            )
        return scores

    def _evidently(self, test: ColumnTest, days: np.ndarray) -> np.ndarray:
        values = self._columns[test.column]
        scores = np.empty(len(days))
        for number, day in enumerate(days):
            rest = np.ones(self.rows, dtype=bool)
            rest[day] = False
            result = test.test(values[rest].dropna(), values.iloc[day].dropna(), test.kind, test.threshold)
            scores[number] = result.drift_score
        return scores


def calibrate(
    reference: pd.DataFrame,
    sizes: Iterable[int],
    config: MonitoringConfig,
    *,
    draws: int = DRAWS,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = SEED,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per drift column (all, or `columns`) and batch size: the threshold that rings on `false_alarm_rate` of
    `draws` days drawn from the reference, and how often the default threshold rings on them.

    The rows are raw.drift_calibration's, but for the columns ensure_calibration adds.
    """
    tests = [t for t in column_tests(reference, config) if columns is None or t.column in columns]
    null = NullDays(reference, tests)
    rows = []
    for size in sorted(set(sizes)):
        days = null.draw(size, draws, seed)
        for test in tests:
            scores = null.scores(test, days)
            quantile = test.quantile(false_alarm_rate)
            rows.append(
                {
                    "column_name": test.column,
                    "batch_size": size,
                    "stat_test": test.test.display_name,
                    "default_threshold": test.threshold,
                    "calibrated_threshold": float(np.quantile(scores, quantile)),
                    "quantile": quantile,
                    "draws": draws,
                    "false_alarm_rate_default": float(np.mean(test.drifted(scores, test.threshold))),
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows, columns=[c for c in DRIFT_CALIBRATION_SCHEMA.names if c not in _STORED_ONLY])


def _covering(size: int, calibrated: Iterable[int]) -> int | None:
    """The calibrated size nearest to `size` within the tolerance, if any."""
    near = [(abs(size - c) / c, c) for c in calibrated if abs(size - c) <= SIZE_TOLERANCE * c]
    return min(near)[1] if near else None


def plan_sizes(sizes: Iterable[int], calibrated: Iterable[int]) -> list[int]:
    """The sizes to calibrate so that every size is covered: smallest first, each covering those within 2%."""
    covered = list(calibrated)
    todo: list[int] = []
    for size in sorted(set(sizes)):
        if _covering(size, [*covered, *todo]) is None:
            todo.append(size)
    return todo


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
        covering = _covering(size, sizes)
        return None if covering is None else sizes[covering]


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


def measure(
    warehouse: Warehouse,
    config: MonitoringConfig,
    *,
    draws: int = DRAWS,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = SEED,
) -> pd.DataFrame:
    """Per drift column, for the newest model version: how often default and calibrated thresholds ring.

    false_alarm_rate_*: the share of days drawn from the reference (a fresh set, seeded seed + 1, so the
    calibrated rate is out of sample) on which the threshold rings, averaged over the production days' sizes.
    days_flagged_*: the production days whose real drift score is drift at that threshold.
    """
    from mlwatch.metrics import configured_test_names, read_side  # metrics imports this module
    from mlwatch.report import newest_model_version

    configured_test_names(config)
    version = newest_model_version(warehouse, config)
    reference = read_side(warehouse, config, version, "split = 'reference'", [])
    production = read_side(warehouse, config, version, "split = 'production'", [])
    days = [day for _, day in production.groupby("batch_date") if len(day) <= max_batch_size(len(reference))]
    sizes = [len(day) for day in days]
    calibration = calibrate(
        reference, plan_sizes(sizes, []), config, draws=draws, false_alarm_rate=false_alarm_rate, seed=seed
    )
    thresholds = Thresholds.of(calibration)
    tests = column_tests(reference, config)
    null = NullDays(reference, tests)
    fresh = {size: null.draw(size, draws, seed + 1) for size in set(sizes)}
    rows = []
    for test in tests:
        name = test.test.display_name
        values = _clean(reference[test.column]).dropna()
        per_day = []
        for day in days:
            threshold = thresholds.lookup(test.column, name, len(day))
            scores = null.scores(test, fresh[len(day)])
            score = test.test(values, _clean(day[test.column]).dropna(), test.kind, None).drift_score
            per_day.append(
                {
                    "calibrated_threshold": threshold,
                    "false_alarm_rate_default": test.drifted(scores, test.threshold).mean(),
                    "false_alarm_rate_calibrated": test.drifted(scores, threshold).mean(),
                    "days_flagged_default": bool(test.drifted(score, test.threshold)),
                    "days_flagged_calibrated": calibrated_verdict(name, score, threshold),
                }
            )
        summary = pd.DataFrame(per_day)
        rows.append(
            {
                "column_name": test.column,
                "stat_test": name,
                "default_threshold": test.threshold,
                "calibrated_min": summary["calibrated_threshold"].min(),
                "calibrated_max": summary["calibrated_threshold"].max(),
                "false_alarm_rate_default": summary["false_alarm_rate_default"].mean(),
                "false_alarm_rate_calibrated": summary["false_alarm_rate_calibrated"].mean(),
                "days": len(days),
                "days_flagged_default": int(summary["days_flagged_default"].sum()),
                "days_flagged_calibrated": int(summary["days_flagged_calibrated"].sum()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    """Print `measure` on the warehouse the environment names (as the CLI reads it)."""
    import time

    from mlwatch.config import load_config
    from mlwatch.warehouse import WarehouseSettings, connect

    config = load_config()
    warehouse = connect(WarehouseSettings.from_env(config.project_dir))
    try:
        started = time.perf_counter()
        table = measure(warehouse, config)
    finally:
        warehouse.close()
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print(f"{time.perf_counter() - started:.1f} s (calibration, a fresh set of draws, and the real days)")


if __name__ == "__main__":
    main()


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
    count = sum(verdicts)
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
