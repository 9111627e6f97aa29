"""mlwatch.replay: a replayed build leaves what dbt leaves, and dbt runs whenever something it read has changed."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import PROJECT_DIR, Pipeline, cloned

from mlwatch import replay
from mlwatch.config import load_config
from mlwatch.replay import Plan
from mlwatch.warehouse import WarehouseSettings

SCHEMAS = ("staging", "intermediate", "marts", "seeds")
# Relations that read the run log, which each run adds to.
RUN_LOG_READERS = ("stg_monitoring__pipeline_runs", "pipeline_health")
SERVING = "dbt build --selector serving"
ENGINE_LINE = "warehouse: 28 day(s)"


def relations(pipeline: Pipeline) -> dict[str, str]:
    """Every relation dbt builds, with its kind (table or view)."""
    listed = pipeline.query(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_schema in ({', '.join('?' * len(SCHEMAS))})",
        list(SCHEMAS),
    )
    return {f"{row.table_schema}.{row.table_name}": row.table_type for row in listed.itertuples()}


def contents(pipeline: Pipeline, relation: str) -> pd.DataFrame:
    """A relation's rows in a fixed order, without what differs from run to run by design: the time of a run
    (timestamps, compute_seconds), and float sums' last digits (parallel aggregation adds in any order)."""
    frame = pipeline.query(f"select * from {relation}")
    keep = [
        column
        for column in frame.columns
        if column != "compute_seconds"
        and not pd.api.types.is_datetime64_any_dtype(frame[column])
        and not frame[column].map(lambda value: isinstance(value, pd.Timestamp | type(pd.NaT))).any()
    ]
    frame = frame[keep].copy()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].round(7)
        else:
            frame[column] = frame[column].map(lambda value: None if pd.isna(value) else str(value))
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def indexes(pipeline: Pipeline) -> dict[str, int]:
    if pipeline.target != "postgres":
        return {}
    listed = pipeline.query(
        "select tablename, count(*) as n from pg_indexes where schemaname = 'intermediate' group by tablename"
    )
    return dict(zip(listed["tablename"], listed["n"], strict=True))


def printed(ran: subprocess.CompletedProcess[str]) -> str:
    return ran.stdout + ran.stderr


def line(output: str, start: str) -> str:
    [found] = [text.strip() for text in output.splitlines() if text.strip().startswith(start)]
    return found


@dataclass
class Replayed:
    pipeline: Pipeline
    by_dbt: str  # what the run that recorded printed
    replayed: str  # what the next one printed
    relations: dict[str, str]  # after the dbt run
    contents: dict[str, pd.DataFrame]
    indexes: dict[str, int]


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def replayed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """A copy of the session's pipeline where `mlwatch metrics --engine warehouse --full-refresh` ran three times:
    the first creates the engine's tables; the second, its recordings deleted, runs dbt (and is recorded); the third
    replays it. What dbt left is kept to compare."""
    source = request.getfixturevalue(f"built_{request.param}")
    with cloned(source, tmp_path_factory.mktemp(f"replay-{request.param}")) as pipeline:
        args = ("metrics", "--engine", "warehouse", "--full-refresh")
        pipeline.run(*args)
        shutil.rmtree(Path(pipeline.env["DBT_TARGET_PATH"]) / "mlwatch-replay", ignore_errors=True)
        by_dbt = printed(pipeline.run(*args))
        built = relations(pipeline)
        kept = {name: contents(pipeline, name) for name in built if name.split(".")[1] not in RUN_LOG_READERS}
        yield Replayed(pipeline, by_dbt, printed(pipeline.run(*args)), built, kept, indexes(pipeline))


@pytest.mark.integration
def test_the_second_run_replays_the_engine_and_the_marts(replayed: Replayed) -> None:
    assert "dbt start-up" in line(replayed.by_dbt, ENGINE_LINE)
    assert "dbt start-up" in line(replayed.by_dbt, SERVING)
    assert "dbt start-up" not in line(replayed.replayed, ENGINE_LINE)
    assert "replayed without starting dbt" in line(replayed.replayed, SERVING)


@pytest.mark.integration
def test_a_replayed_build_leaves_what_dbt_left(replayed: Replayed) -> None:
    pipeline = replayed.pipeline
    assert relations(pipeline) == replayed.relations
    assert len(replayed.contents) > 30
    for name, expected in replayed.contents.items():
        pd.testing.assert_frame_equal(contents(pipeline, name), expected, obj=name)
    # Postgres: every engine table has its look-up indexes again (dbt's own names would have been skipped).
    assert indexes(pipeline) == replayed.indexes
    assert pipeline.target != "postgres" or sum(replayed.indexes.values()) >= 4


@pytest.fixture
def recorded(built: Pipeline, tmp_path: Path) -> Iterator[Pipeline]:
    """A copy of the session's pipeline whose marts' build has just been recorded (nothing new to compute)."""
    with cloned(built, tmp_path) as pipeline:
        assert "dbt start-up" in line(printed(pipeline.run("metrics")), SERVING)
        yield pipeline


@pytest.mark.integration
def test_dbt_runs_and_reports_a_data_test_that_now_fails(recorded: Pipeline) -> None:
    warehouse = recorded.connect()
    try:
        warehouse.execute("insert into raw.batch_metrics select * from raw.batch_metrics limit 1")
    finally:
        warehouse.close()
    ran = recorded.run("metrics", check=False)
    assert ran.returncode == 1
    message = printed(ran)
    assert "✗ metrics failed: dbt build --selector serving" in message and "failed (exit 1)" in message
    assert "mlwatch_unique_combination_stg_monitoring__batch_metrics" in message


@pytest.mark.integration
def test_dbt_runs_when_a_relation_it_listed_is_gone(recorded: Pipeline) -> None:
    rows = len(recorded.query("select * from marts.daily_status"))
    warehouse = recorded.connect()
    try:
        warehouse.execute("drop table marts.daily_status")
    finally:
        warehouse.close()
    assert "dbt start-up" in line(printed(recorded.run("metrics")), SERVING)
    assert len(recorded.query("select * from marts.daily_status")) == rows
    # That run created a relation, so its recording was not kept; dbt runs until a run leaves the relations as it
    # found them (on Postgres, views dropped with a rebuilt table may take one more), then replays resume.
    after = [line(printed(recorded.run("metrics")), SERVING) for _ in range(2)]
    assert "replayed without starting dbt" in after[-1], after


def test_the_key_holds_what_dbt_reads_and_nothing_else() -> None:
    config = load_config(PROJECT_DIR, env={})
    settings = WarehouseSettings.from_env(PROJECT_DIR, env={"DUCKDB_PATH": "/tmp/a.duckdb"})
    args = ["run", "--selector", "warehouse_engine"]

    def plan(env: dict[str, str], on: WarehouseSettings = settings) -> Plan:
        made = Plan.of(config, on, args, env)
        assert made is not None
        return made

    first = plan({"MLWATCH_ENGINE_BATCH_DATES": "2021-02-01"})
    assert plan({"MLWATCH_ENGINE_BATCH_DATES": "2021-02-01", "NOT_READ_BY_DBT": "1"}).key == first.key
    other_days = plan({"MLWATCH_ENGINE_BATCH_DATES": "2021-02-02"})
    assert other_days.key != first.key and other_days.path == first.path  # the same command: one plan kept
    elsewhere = plan({}, WarehouseSettings.from_env(PROJECT_DIR, env={"DUCKDB_PATH": "/tmp/b.duckdb"}))
    assert elsewhere.path != first.path
    spark = WarehouseSettings.from_env(PROJECT_DIR, env={"DBT_TARGET": "spark"})
    assert Plan.of(config, spark, args, {}) is None


@pytest.mark.integration
def test_a_new_day_is_replayed_with_the_values_dbt_computed(replayed: Replayed) -> None:
    """The engine's days are rows of raw.engine_batch_dates, not SQL: the run recorded for one day replays for
    another, and computes what the full refresh by dbt computed for it."""
    pipeline = replayed.pipeline
    columns = "batch_date, model_version, metric_name, column_name, metric_value, drift_detected, stat_test"
    expected = pipeline.query(f"select {columns} from raw.batch_metrics order by {columns}")

    def new_day(day: dt.date) -> str:
        warehouse = pipeline.connect()
        try:
            for table in ("raw.batch_metrics", "raw.performance_estimates"):
                warehouse.execute(f"delete from {table} where batch_date = ?", [day])
        finally:
            warehouse.close()
        return line(printed(pipeline.run("metrics", "--engine", "warehouse")), "warehouse: 1 day(s)")

    assert "dbt start-up" in new_day(dt.date(2021, 2, 28))  # the first run without --full-refresh is recorded
    assert "dbt start-up" not in new_day(dt.date(2021, 2, 27))
    recomputed = pipeline.query(f"select {columns} from raw.batch_metrics order by {columns}")
    pd.testing.assert_frame_equal(recomputed, expected, check_exact=False, atol=1e-9)


def test_postgres_temporary_namespaces_are_not_a_difference() -> None:
    """They come with each new server process that makes a temporary table; dbt lists schemas to create its own."""
    listed = [("marts",), ("pg_temp_3",), ("pg_toast_temp_3",), ("staging",)]
    assert replay._rows(listed) == replay._rows([("staging",), ("marts",)])
    assert replay._rows([("marts",)]) != replay._rows([("staging",), ("marts",)])
