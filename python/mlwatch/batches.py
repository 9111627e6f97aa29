"""Which (model version, batch date) pairs a metrics engine still has to compute, and what a run did.

Shared by both engines (mlwatch.metrics, mlwatch.warehouse_engine).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mlwatch.config import MonitoringConfig
from mlwatch.warehouse import RAW_SCHEMA, Warehouse


@dataclass(frozen=True)
class MetricsRun:
    model_versions: int
    days_computed: int
    rows_written: int
    seconds: float
    dbt_start_up_seconds: float = 0.0  # within `seconds`: what dbt costs before it computes anything


def model_versions(warehouse: Warehouse, config: MonitoringConfig) -> list[str]:
    """The model versions monitored against the configured reference month, oldest first."""
    return [
        row[0]
        for row in warehouse.rows(
            "select model_version from staging.stg_model__model_versions where reference_month = ? order by trained_at",
            [config.reference_month],
        )
    ]


def pending_days(warehouse: Warehouse, version: str, full_refresh: bool) -> list[dt.date]:
    days = [row[0] for row in warehouse.rows("select batch_date from intermediate.int_batch_dates_spined order by 1")]
    if full_refresh:
        # Each day is replaced atomically when recomputed; only days no longer configured go now.
        warehouse.execute(
            f"delete from {RAW_SCHEMA}.batch_metrics where model_version = ? "
            "and batch_date not in (select batch_date from intermediate.int_batch_dates_spined)",
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
