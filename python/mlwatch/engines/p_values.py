"""The warehouse engine's p-values: scipy turns the K-S, chi-square and Z statistics of SQL into raw.drift_p_values.

SQL computes every drift test's statistic (models/intermediate/warehouse_engine/int_column_drift_computed.sql),
but the three p-value tests need distributions no supported warehouse has: the exact two-sample
Kolmogorov-Smirnov distribution (a lattice-path recursion up to 10,000 rows a side), the chi-square survival
function (a regularized incomplete gamma function) and the normal CDF (erf, absent from DuckDB and Spark SQL).
Python computes them exactly as Evidently does and lands them in a raw table of their own, which dbt reads as
the source `monitoring.drift_p_values`: no dbt-managed table is written from Python.
"""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa

from mlwatch.errors import WarehouseError
from mlwatch.relations import ENGINE_COLUMN_DRIFT
from mlwatch.schema import DRIFT_P_VALUE_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

TABLE = f"{RAW_SCHEMA}.drift_p_values"


def ks_p_value(statistic: float, reference_rows: int, current_rows: int) -> float:
    """scipy.stats.ks_2samp's two-sided p-value (method 'auto', as Evidently calls it) for a known statistic."""
    from scipy.stats import kstwo

    # ks_2samp's own exact path; private, so scipy-stubs leave it out.
    from scipy.stats._stats_py import _attempt_exact_2kssamp  # type: ignore[attr-defined]

    # ks_2samp's branches once it has the statistic (scipy 1.17): exact up to 10,000 rows a side, where
    # the statistic is first rounded to a multiple of 1 / lcm(n1, n2), else Smirnov's asymptotics.
    n1, n2 = reference_rows, current_rows
    if max(n1, n2) <= 10_000:
        success, statistic, p_value = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), statistic, "two-sided")
        if success:
            return float(min(max(p_value, 0.0), 1.0))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(min(max(kstwo.sf(statistic, round(m * n / (m + n))), 0.0), 1.0))


def chisquare_p_value(statistic: float, degrees_of_freedom: int) -> float:
    """scipy.stats.chisquare's p-value for Pearson's statistic."""
    from scipy.stats import chi2

    return float(chi2.sf(statistic, degrees_of_freedom))


def z_p_value(statistic: float) -> float:
    """Evidently's two-sided proportions-difference Z-test (stattests/z_stattest.py), written as it does."""
    from scipy.stats import norm

    return float(2 * (1 - norm.cdf(abs(statistic))))


def land_p_values(warehouse: Warehouse) -> int:
    """Replace the p-values of every day in the engine's last run by those of its statistics; refuse a missing score.

    The engine's models hold only the days of that run, so those (batch date, model version) pairs are the
    keys replaced, all in one transaction: a column whose test changed leaves no stale p-value behind.
    """
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for day, version, column, test, statistic, dof, reference_rows, current_rows in warehouse.rows(
        "select batch_date, model_version, column_name, stat_test_key, test_statistic, degrees_of_freedom, "
        f"reference_rows, current_rows from {ENGINE_COLUMN_DRIFT} where drift_score is null"
    ):
        if test == "ks":
            p_value = ks_p_value(statistic, int(reference_rows), int(current_rows))
        elif test == "chisquare":
            p_value = chisquare_p_value(statistic, int(dof))
        elif test == "z":
            p_value = z_p_value(statistic)
        else:
            raise WarehouseError(f"the warehouse engine computed no {test} score for {column} on {day} ({version})")
        rows.append(
            {
                "batch_date": day,
                "model_version": version,
                "column_name": column,
                "stat_test_key": test,
                "test_statistic": statistic,
                "p_value": p_value,
                "computed_at": computed_at,
            }
        )
    with warehouse.transaction():
        warehouse.execute(
            f"delete from {TABLE} where exists (select 1 from {ENGINE_COLUMN_DRIFT} as computed "
            f"where computed.batch_date = {TABLE}.batch_date and computed.model_version = {TABLE}.model_version)"
        )
        warehouse.append(TABLE, pa.Table.from_pylist(rows, schema=DRIFT_P_VALUE_SCHEMA))
    return len(rows)
