"""Days drawn from the reference, which cannot drift, each column's drift score on them, and the thresholds.

The scores are Evidently's own: vectorised for the tests Evidently picks by default (checked against it on
every call), else Evidently's test called draw by draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlwatch.calibration.column_tests import ColumnTest, clean_values, column_tests
from mlwatch.config import MonitoringConfig
from mlwatch.schema import DRIFT_CALIBRATION_SCHEMA

DRAWS = 200
FALSE_ALARM_RATE = 0.01
SEED = 0
# Count matrices (draws x distinct values) are built in chunks of at most this many cells (~160 MB).
_CELL_BUDGET = 20_000_000
# The columns of raw.drift_calibration that mlwatch.calibration.store adds to calibrate's rows.
STORED_ONLY = ("model_version", "reference_fingerprint", "computed_at")


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
    distances: np.ndarray = area / np.maximum(std, 0.001)
    return distances


def _jensenshannon(coded: _Coded, days: np.ndarray) -> np.ndarray:
    """Evidently's Jensen-Shannon distance of each drawn day to the rest of the reference, on value frequencies."""
    # Imported here: scipy.spatial takes 0.6 s to import, and a run that finds its calibration stored never draws.
    from scipy.spatial import distance

    day = coded.day_counts(days)
    distances: np.ndarray = distance.jensenshannon(coded.totals - day, day, axis=1)
    return distances


def _vectorised(test: ColumnTest, distinct: int) -> Callable[[_Coded, np.ndarray], np.ndarray] | None:
    """The vectorised scores equal to Evidently's own for this test, if mlwatch has them.

    Only for the tests Evidently picks by default; its Jensen-Shannon distance is on value frequencies for
    categories, and for numbers while the reference has at most 20 distinct values (beyond, it bins them).
    Every other test is called draw by draw.
    """
    # Evidently takes seconds to import: only a calibration of new sizes needs it, not a stored one.
    from evidently.legacy.calculations import stattests
    from evidently.legacy.core import ColumnType

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
        self._columns = {t.column: clean_values(reference[t.column]).reset_index(drop=True) for t in tests}
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
    return pd.DataFrame(rows, columns=[c for c in DRIFT_CALIBRATION_SCHEMA.names if c not in STORED_ONLY])
