"""Whether `mlwatch metrics` must build its inputs again: what they were last built from, kept in the warehouse.

The metric inputs (the models and seeds of the metric_inputs selector: trips checked, split and scored, batch
dates) are a function of the raw tables `mlwatch load` writes, of the dbt project's files and of the configuration
(dbt vars and their overrides). Rebuilding them costs a `mlwatch metrics` run seconds of dbt even when none of
those changed, as on a re-run or a `--full-refresh`. So the step stores a fingerprint of all three with the tables
it built and skips the build while it matches. The warehouse holds it, so a copy of the warehouse carries it with
the tables it describes.

A dbt run that is not one of mlwatch's own builds (`dbt build`, `mlwatch dbt ...`) may have rebuilt the inputs from
other vars: its on-run-end hook (macros/built_inputs.sql) forgets the fingerprint, and the next `mlwatch metrics`
builds them again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from mlwatch.config import MonitoringConfig
from mlwatch.relations import BATCH_DATES
from mlwatch.schema import METRIC_INPUTS_BUILD_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

TABLE = f"{RAW_SCHEMA}.metric_inputs_builds"
# What dbt reads to build them; the profile is left out: a warehouse holds its own fingerprint.
PROJECT_FILES = ("dbt_project.yml", "selectors.yml", "models", "macros", "seeds", "data_tests")
# Set for dbt by mlwatch's own in-process builds, which leave the inputs as their configuration builds them.
STEP_BUILD_VARIABLE = "MLWATCH_STEP_BUILD"


def project_files(project_dir: Path) -> Iterable[Path]:
    for name in PROJECT_FILES:
        path = project_dir / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(child for child in path.rglob("*") if child.is_file())


def fingerprint(config: MonitoringConfig, warehouse: Warehouse) -> str:
    """The project's files, the vars overridden for this run and every load recorded so far, hashed."""
    digest = hashlib.sha256()
    for path in project_files(config.project_dir):
        digest.update(str(path.relative_to(config.project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(config.overrides, sort_keys=True).encode())
    loads = warehouse.rows(f"select count(*), max(started_at) from {RAW_SCHEMA}.pipeline_runs where step = 'load'")
    digest.update(repr(loads).encode())
    return digest.hexdigest()


def unchanged(warehouse: Warehouse, config: MonitoringConfig, current: str) -> bool:
    """The inputs were built from what `current` describes and are still there."""
    stored = warehouse.rows(f"select fingerprint from {TABLE}")
    built = all(warehouse.table_columns(*relation.split(".")) for relation in (config.rows_relation, BATCH_DATES))
    return stored == [(current,)] and built


def forget(warehouse: Warehouse) -> None:
    """Before a build: should it fail part-way, the next run builds again."""
    warehouse.execute(f"delete from {TABLE}")


def remember(warehouse: Warehouse, current: str) -> None:
    row = {"fingerprint": current, "built_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    with warehouse.transaction():
        warehouse.execute(f"delete from {TABLE}")
        warehouse.append(TABLE, pa.Table.from_pylist([row], schema=METRIC_INPUTS_BUILD_SCHEMA))
