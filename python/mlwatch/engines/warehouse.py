"""The warehouse engine: the metrics the Evidently engine writes (drift, missing values, rows, health), in SQL.

One dbt run of the engine's models (selector `warehouse_engine`, models/intermediate/warehouse_engine/)
computes every pending day (written to raw.engine_batch_dates) at once; mlwatch.engines.p_values turns the
p-value tests' statistics into p-values with scipy, exactly as Evidently computes them, in
raw.drift_p_values; then the engine's rows are judged at the calibrated thresholds and written to
raw.batch_metrics by the same code and under the same keys as the Evidently engine's, so nothing
downstream can tell the engines apart except `engine`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from importlib.metadata import version as package_version
from typing import Any

import pyarrow as pa

from mlwatch.batches import (
    MetricsRun,
    Thresholds,
    plan_days,
    read_side,
    with_calibrated_verdicts,
    write_days,
)
from mlwatch.calibration.store import ensure_calibration
from mlwatch.config import MonitoringConfig
from mlwatch.dbt import run_dbt
from mlwatch.engines.p_values import land_p_values
from mlwatch.relations import ENGINE_METRICS, WAREHOUSE_ENGINE
from mlwatch.schema import BATCH_METRIC_SCHEMA, ENGINE_BATCH_DATE_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse, WarehouseSettings, connected

ENGINE_BATCH_DATES = f"{RAW_SCHEMA}.engine_batch_dates"

log = logging.getLogger(__name__)


def _judge_and_write(
    warehouse: Warehouse, config: MonitoringConfig, version: str, days: list[dt.date], seconds_per_day: float
) -> int:
    """Judge the engine's rows at the calibrated thresholds, as the Evidently engine does, and write them by day."""
    # The calibration draws null days from the reference with Evidently's tests: it is shared by both engines
    # and stored per reference and batch size, so only a new size costs more than a read.
    # The rows name the Evidently version whose definitions the SQL reproduces, as the Evidently engine's do.
    stamped = {"evidently_version": package_version("evidently"), "compute_seconds": seconds_per_day}
    columns = [name for name in BATCH_METRIC_SCHEMA.names if name not in stamped and not name.startswith("calibrated_")]
    days_in = f"batch_date in ({', '.join('?' * len(days))})"
    by_day: dict[dt.date, list[dict[str, Any]]] = {day: [] for day in days}
    for values in warehouse.rows(
        f"select {', '.join(columns)} from {ENGINE_METRICS} where model_version = ? and {days_in}", [version, *days]
    ):
        row = dict(zip(columns, values, strict=True))
        by_day[row["batch_date"]].append({**row, **stamped})
    sizes = {
        day: next(int(row["metric_value"]) for row in rows if row["metric_name"] == "row_count")
        for day, rows in by_day.items()
    }
    reference = read_side(warehouse, config, version, "split = 'reference'", [])
    calibration = ensure_calibration(warehouse, config, version, reference, [size for size in sizes.values() if size])
    thresholds = Thresholds.of(calibration)
    # One transaction for all the days: the SQL computed them together, and a kill leaves all or none.
    return write_days(
        warehouse,
        version,
        {day: with_calibrated_verdicts(rows, thresholds, sizes[day], config) for day, rows in by_day.items()},
    )


def compute_metrics(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    full_refresh: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_day: Callable[[dt.date], None] | None = None,
) -> MetricsRun:
    """Compute every (model version, batch date) not yet in raw.batch_metrics, or all with full_refresh."""
    started = time.perf_counter()
    with connected(settings) as warehouse:
        plan = plan_days(warehouse, config, full_refresh)
    days = sorted({day for version_days in plan.values() for day in version_days})
    if on_start:
        on_start(sum(len(version_days) for version_days in plan.values()))
    if not days:
        return MetricsRun(len(plan), 0, 0, time.perf_counter() - started)

    with connected(settings) as warehouse, warehouse.transaction():
        warehouse.execute(f"delete from {ENGINE_BATCH_DATES}")
        warehouse.append(ENGINE_BATCH_DATES, pa.table({"batch_date": days}, schema=ENGINE_BATCH_DATE_SCHEMA))
    # Reference profiles are kept between runs (incremental); a full refresh rebuilds them too.
    dbt_run = run_dbt(
        config,
        settings,
        ["run", "--selector", WAREHOUSE_ENGINE, *(["--full-refresh"] if full_refresh else [])],
        env={"MLWATCH_ENGINE_BATCH_DATES": "pending"},
    )
    log.info(
        "dbt run of the engine models for %d day(s): %.2f s, of which dbt start-up %.2f s",
        len(days),
        dbt_run.seconds,
        dbt_run.start_up_seconds or 0.0,
    )
    log.debug("dbt output:\n%s", dbt_run.output)
    with connected(settings) as warehouse:
        step_started = time.perf_counter()
        p_values = land_p_values(warehouse)
        log.info("p-value scores: %d, %.2f s", p_values, time.perf_counter() - step_started)
        seconds_per_day = (time.perf_counter() - started) / len(days)
        step_started = time.perf_counter()
        rows_written = days_computed = 0
        for version, version_days in plan.items():
            if not version_days:
                continue
            rows_written += _judge_and_write(warehouse, config, version, version_days, seconds_per_day)
            days_computed += len(version_days)
            if on_day:
                for day in version_days:
                    on_day(day)
        log.info("calibrated verdicts and writes: %d rows, %.2f s", rows_written, time.perf_counter() - step_started)
    return MetricsRun(
        len(plan), days_computed, rows_written, time.perf_counter() - started, dbt_run.start_up_seconds or 0.0
    )
