"""The pipeline's own health: every writing CLI step leaves a row in raw.pipeline_runs.

A step is recorded as 'running' when it starts and updated when it ends, so a step that was killed
stays 'running' and a stalled pipeline shows in the `pipeline_health` mart.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa

from mlwatch.schema import PIPELINE_RUN_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, WarehouseSettings, connect, ensure_raw_tables


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_start(settings: WarehouseSettings, step: str) -> str:
    run_id = uuid.uuid4().hex
    row = {"run_id": run_id, "step": step, "started_at": _now(), "status": "running"}
    warehouse = connect(settings, create_database=True)
    try:
        ensure_raw_tables(warehouse)
        with warehouse.transaction():
            warehouse.append(f"{RAW_SCHEMA}.pipeline_runs", pa.Table.from_pylist([row], schema=PIPELINE_RUN_SCHEMA))
    finally:
        warehouse.close()
    return run_id


def record_end(settings: WarehouseSettings, run_id: str, rows: int, error: str | None = None) -> None:
    warehouse = connect(settings)
    try:
        warehouse.execute(
            f"update {RAW_SCHEMA}.pipeline_runs set finished_at = ?, status = ?, rows_written = ?, error = ? "
            "where run_id = ?",
            [_now(), "failed" if error else "success", rows, error, run_id],
        )
    finally:
        warehouse.close()
