"""The "dirty" pipelines of tests/test_reliability.py, as a pytest plugin (conftest.py loads it): the real files
with a 2021-02 that lacks one day (GAP_DAY) and carries a few impossible rows (HARD_DEFECTS), loaded and computed
once per warehouse. Their fixtures are the session's, so that conftest's `builds` can start these builds with
the others, before the first test, instead of when test_reliability.py's first case asks for them: the
session's later tests run one subprocess at a time and leave a core to them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import DATA_DIR, PROJECT_DIR, InThreads, Pipeline, make_pipeline, postgres_answers, require_data

TARGETS = ["duckdb", "postgres"]
JANUARY, FEBRUARY, ZONES = "green_tripdata_2021-01.parquet", "green_tripdata_2021-02.parquet", "taxi_zone_lookup.csv"
GAP_DAY = dt.date(2021, 2, 10)
FUTURE = dt.datetime(2099, 1, 1, 12, 0)
# Position in the dirty February file -> the defect written into that row (the reason the loader must give).
HARD_DEFECTS = {
    100: "dropoff_before_pickup",
    101: "dropoff_before_pickup",
    102: "dropoff_before_pickup",
    200: "longer_than_max_trip_hours",
    201: "longer_than_max_trip_hours",
    300: "pickup_in_future",
    400: "unknown_pickup_location",
    401: "unknown_pickup_location",
    500: "unknown_dropoff_location",
    600: "missing_pickup_or_dropoff",
}

# Columns that record when something ran, not what it computed; and the run log itself (a run adds a row).
TIME_COLUMNS = {"loaded_at", "predicted_at", "computed_at", "compute_seconds", "trained_at"}
# The run log, and what mlwatch keeps of it: the fingerprint of the metric inputs holds the loads' times.
RUN_LOG = {
    "raw.pipeline_runs",
    "staging.stg_monitoring__pipeline_runs",
    "marts.pipeline_health",
    "raw.metric_inputs_builds",
}
SCHEMAS = ("raw", "staging", "intermediate", "marts", "seeds")

Snapshot = dict[str, tuple[int, str]]


# --- checksums ------------------------------------------------------------------------------------------------


def _checksum_sql(dialect: str, table: str, columns: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    if dialect == "duckdb":
        return f"select count(*), coalesce(sum(cast(hash({quoted}) as hugeint)), 0)::varchar from {table}"
    digest = f"('x' || substr(md5(row({quoted})::text), 1, 15))::bit(60)::bigint"
    return f"select count(*), coalesce(sum({digest}), 0)::text from {table}"


def snapshot(pipeline: Pipeline, schemas: tuple[str, ...] = SCHEMAS) -> Snapshot:
    """Row count and an order-independent checksum of every table and view of `schemas` (time columns left out)."""
    warehouse = pipeline.connect()
    try:
        listed = warehouse.rows(
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where table_schema in ({', '.join('?' * len(schemas))}) "
            "order by table_schema, table_name, ordinal_position",
            list(schemas),
        )
        columns: dict[str, list[str]] = {}
        for schema, table, column in listed:
            columns.setdefault(f"{schema}.{table}", [])
            if column not in TIME_COLUMNS:
                columns[f"{schema}.{table}"].append(column)
        sums = {}
        for table, names in sorted(columns.items()):
            if table in RUN_LOG:
                continue
            [(rows, checksum)] = warehouse.rows(_checksum_sql(warehouse.dialect, table, names))
            sums[table] = (int(rows), str(checksum))
        return sums
    finally:
        warehouse.close()


# --- data ------------------------------------------------------------------------------------------------------


def dirty_february() -> pa.Table:
    """The real 2021-02 file without GAP_DAY's trips, with HARD_DEFECTS written into a few rows."""
    table = pq.read_table(DATA_DIR / FEBRUARY)
    table = table.filter(pc.not_equal(pc.cast(table["lpep_pickup_datetime"], pa.date32()), pa.scalar(GAP_DAY)))
    names = ("lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID")
    values = {name: table[name].to_pylist() for name in names}
    pickups, dropoffs = values["lpep_pickup_datetime"], values["lpep_dropoff_datetime"]
    for position, reason in HARD_DEFECTS.items():
        if reason == "dropoff_before_pickup":
            dropoffs[position] = pickups[position] - dt.timedelta(minutes=5)
        elif reason == "longer_than_max_trip_hours":
            dropoffs[position] = pickups[position] + dt.timedelta(hours=30)
        elif reason == "pickup_in_future":
            pickups[position], dropoffs[position] = FUTURE, FUTURE + dt.timedelta(minutes=10)
        elif reason == "unknown_pickup_location":
            values["PULocationID"][position] = 999
        elif reason == "unknown_dropoff_location":
            values["DOLocationID"][position] = 0
        elif reason == "missing_pickup_or_dropoff":
            dropoffs[position] = None
    for name, column in values.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(column, type=table.schema.field(name).type))
    return table


@dataclass
class DirtyData:
    folder: Path
    february: pa.Table


def data_folder(folder: Path, february: Callable[[Path], None] | None) -> Path:
    """A data folder with the real January and zones (symlinks) and a February written by `february` (or none)."""
    folder.mkdir(parents=True)
    for name in (JANUARY, ZONES):
        (folder / name).symlink_to(DATA_DIR / name)
    if february:
        february(folder / FEBRUARY)
    return folder


@pytest.fixture(scope="session")
def dirty_data(tmp_path_factory: pytest.TempPathFactory) -> DirtyData:
    require_data()
    february = dirty_february()
    folder = data_folder(tmp_path_factory.mktemp("dirty-data") / "data", lambda path: pq.write_table(february, path))
    return DirtyData(folder, february)


# --- the pipeline -----------------------------------------------------------------------------------------------


def start(pipeline: Pipeline, args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The CLI in its own process group (it runs dbt in a child), its output going to `log`."""
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "mlwatch", *args],
            cwd=PROJECT_DIR,
            env={**pipeline.env, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class Dirty:
    pipeline: Pipeline
    loaded: subprocess.CompletedProcess[str]
    metrics_runs: list[tuple[int, str]]  # (exit code, output) of the two metrics runs started together
    baseline: Snapshot
    tmp: Path

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        saved = dict(self.pipeline.env)
        self.pipeline.env.update(env)
        try:
            return self.pipeline.run(*args, check=check)
        finally:
            self.pipeline.env.clear()
            self.pipeline.env.update(saved)


def build_dirty(target: str, folder: Path, data: DirtyData) -> Iterator[Dirty]:
    """`mlwatch load`, then two `mlwatch metrics` started at the same moment, on the dirty data."""
    for pipeline in make_pipeline(target, folder):
        pipeline.env["TAXI_DATA_DIR"] = str(data.folder)
        loaded = pipeline.run("load")
        processes = [start(pipeline, ["metrics"], folder / f"metrics-{i}.log") for i in range(2)]
        codes = [process.wait(timeout=600) for process in processes]
        outputs = [(folder / f"metrics-{i}.log").read_text() for i in range(2)]
        yield Dirty(pipeline, loaded, list(zip(codes, outputs, strict=True)), snapshot(pipeline), folder)


class DirtyBuilds(InThreads[Dirty]):
    """Both warehouses' dirty pipelines, built side by side: the Postgres one is ready by the time the DuckDB
    cases are done."""

    def __init__(self, factory: pytest.TempPathFactory, data: DirtyData) -> None:
        super().__init__()
        for target in TARGETS:
            if target != "postgres" or postgres_answers():
                self.start(target, build_dirty(target, factory.mktemp(f"dirty-{target}"), data))


@pytest.fixture(scope="session")
def dirty_builds(tmp_path_factory: pytest.TempPathFactory, dirty_data: DirtyData) -> Iterator[DirtyBuilds]:
    builds = DirtyBuilds(tmp_path_factory, dirty_data)
    yield builds
    builds.close()
