"""Each drift column's test as Evidently picks it for the reference, and the seed's stat tests checked by name."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlwatch.batches import drift_rule
from mlwatch.config import MonitoringConfig
from mlwatch.errors import ConfigError

# Evidently takes seconds to import, imported where called: a calibration already stored needs none of this.
if TYPE_CHECKING:
    from evidently.legacy.calculations.stattests.registry import StatTest
    from evidently.legacy.core import ColumnType


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
        return np.asarray(drift_rule(self.test.name)(scores, threshold))


def clean_values(values: pd.Series) -> pd.Series:
    """The values Evidently's drift test sees: infinities are missing, and missing values are dropped later."""
    return values.replace([-np.inf, np.inf], np.nan)


def column_kind(column: str, config: MonitoringConfig) -> ColumnType:
    from evidently.legacy.core import ColumnType

    return ColumnType.Categorical if column in config.categorical_features else ColumnType.Numerical


def configured_test_names(config: MonitoringConfig) -> dict[str, str]:
    """Evidently's display name of each configured stat test (as it names its defaults); unknown tests are refused."""
    from evidently.legacy.calculations.stattests.registry import StatTestNotFoundError, get_registered_stattest

    names = {}
    for column in config.drift_columns:
        method = config.column(column).stat_test
        if method is None:
            continue
        try:
            names[column] = get_registered_stattest(method, column_kind(column, config)).display_name
        except StatTestNotFoundError as error:
            raise ConfigError(f"seeds/monitored_columns.csv: column {column}: {error}") from None
        except ValueError as error:
            raise ConfigError(f"seeds/monitored_columns.csv: column {column}: stat test {method!r}: {error}") from None
    return names


def column_tests(reference: pd.DataFrame, config: MonitoringConfig) -> list[ColumnTest]:
    """Each drift column's test as Evidently picks it (validate the seed first with configured_test_names)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest

    tests = []
    for column in config.drift_columns:
        values = clean_values(reference[column]).dropna()
        # Evidently's default depends on the reference and on the values of reference and day together; a day
        # drawn from the reference adds no value, so the reference alone decides.
        kind = column_kind(column, config)
        test = get_stattest(values, values.iloc[0:0], kind, config.column(column).stat_test)
        drift_rule(test.name)  # refuse a test whose drift side is unknown before any work
        threshold = config.column(column).threshold
        tests.append(ColumnTest(column, kind, test, test.default_threshold if threshold is None else threshold))
    return tests
