"""Reliability (issue 5): bad input, idempotency, crash safety and concurrent runs, on DuckDB and on Postgres.

docs/reliability.md lists every case with the test here that proves it. Most cases run on one "dirty" pipeline
per warehouse (tests/dirty.py), built once, at the session's start, from the real files with a 2021-02 that
lacks one day (GAP_DAY) and carries a few impossible rows (HARD_DEFECTS). Every case that runs on it must leave it
exactly as it was built: its tables are compared by checksum with the `baseline` taken right after the build (an
uninterrupted run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from conftest import (
    DATA_DIR,
    POSTGRES,
    PROJECT_DIR,
    Pipeline,
    cloned,
    make_pipeline,
    require_data,
    require_postgres,
    require_spark,
)
from dirty import (
    FEBRUARY,
    FUTURE,
    GAP_DAY,
    HARD_DEFECTS,
    JANUARY,
    ZONES,
    Dirty,
    DirtyBuilds,
    DirtyData,
    Snapshot,
    data_folder,
    dirty_february,
    snapshot,
    start,
)

from mlwatch.load import RowChecks, classify_rows, read_trip_batches, read_zones
from mlwatch.locks import LockError, lock_file, step_lock
from mlwatch.warehouse import Warehouse

pytestmark = pytest.mark.integration

# --- checksums ------------------------------------------------------------------------------------------------


def raw_snapshot(pipeline: Pipeline) -> Snapshot:
    return snapshot(pipeline, ("raw",))


def assert_same(got: Snapshot, expected: Snapshot) -> None:
    differing = sorted(t for t in set(got) | set(expected) if got.get(t) != expected.get(t))
    details = {t: {"got": got.get(t), "expected": expected.get(t)} for t in differing}
    assert not differing, f"tables differ from the uninterrupted run: {details}"


def scalar(pipeline: Pipeline, sql: str, params: list | None = None):
    return pipeline.query(sql, params).iloc[0, 0]


# --- the CLI, run, raced and killed ---------------------------------------------------------------------------


@dataclass
class Killed:
    killed: bool
    after_seconds: float
    at: dt.datetime  # when SIGKILL was sent (UTC, as raw.pipeline_runs stamps), or when the step had already exited
    output: str  # what the CLI had printed when it was killed: where the kill landed

    @property
    def landed_after(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else "(nothing printed)"


def run_and_kill(pipeline: Pipeline, args: list[str], log: Path, marker: str, delay: float) -> Killed:
    """Start the step, wait until it prints `marker` (it has recorded its run by then), sleep `delay`, SIGKILL."""
    process = start(pipeline, args, log)
    deadline = time.monotonic() + 120
    while marker not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    time.sleep(delay)
    killed = process.poll() is None
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if killed:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    wait_for_group_exit(process.pid)
    return Killed(killed, time.monotonic() - started, at, log.read_text())


def wait_for_group_exit(group: int, timeout: float = 30) -> None:
    """SIGKILL is asynchronous: the step's dbt child may hold the DuckDB file for a few more milliseconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {group} still alive {timeout} s after SIGKILL")


KILL_SEED = int(os.environ.get("MLWATCH_TEST_SEED") or random.SystemRandom().randrange(10**6))
KILL_RANDOM = random.Random(KILL_SEED)


def kill_delay(low: float, high: float) -> float:
    """Random, but reproducible: MLWATCH_TEST_SEED=<the printed seed> replays a session's delays."""
    delay = KILL_RANDOM.uniform(low, high)
    print(f"kill delay {delay:.2f} s (MLWATCH_TEST_SEED={KILL_SEED})")
    return delay


def assert_recorded_as_killed(pipeline: Pipeline, step: str, killed: Killed) -> None:
    """A kill before the step recorded its end leaves it 'running' (the pipeline_health mart shows it); a kill that
    came after (the step had finished and the interpreter was only exiting) leaves 'success'."""
    frame = pipeline.query(
        "select status, finished_at from raw.pipeline_runs where step = ? order by started_at desc limit 1", [step]
    )
    status, finished_at = frame.status[0], frame.finished_at[0]
    if pd.notna(finished_at) and finished_at <= killed.at:
        assert status == "success", (status, finished_at, killed.at)
    else:
        assert status == "running", (status, finished_at, killed.at)


def newest_run(pipeline: Pipeline, step: str) -> tuple[str, str | None]:
    frame = pipeline.query(
        "select status, error from raw.pipeline_runs where step = ? order by started_at desc limit 1", [step]
    )
    return frame.status[0], frame.error[0]


# --- the dirty pipeline -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def dirty(request: pytest.FixtureRequest, dirty_builds: DirtyBuilds) -> Dirty:
    if request.param == "postgres":
        require_postgres()
    return dirty_builds.get(request.param)


def test_two_metrics_runs_started_together_one_is_refused_none_duplicates(dirty: Dirty) -> None:
    codes = sorted(code for code, _ in dirty.metrics_runs)
    assert codes == [0, 1], dirty.metrics_runs
    refused = next(output for code, output in dirty.metrics_runs if code == 1)
    assert "another mlwatch run is writing to" in refused and "mlwatch metrics (pid" in refused, refused
    assert "`metrics` was refused and wrote nothing" in refused
    duplicates = dirty.pipeline.query(
        "select batch_date, model_version, metric_name, column_name, count(*) as n from raw.batch_metrics "
        "group by batch_date, model_version, metric_name, column_name having count(*) > 1"
    )
    assert duplicates.empty
    runs = dirty.pipeline.query("select status from raw.pipeline_runs where step = 'metrics'")
    assert list(runs.status) == ["success"]  # the refused run recorded nothing


def test_a_day_without_trips_is_an_empty_batch_and_nothing_crashes(dirty: Dirty) -> None:
    metrics = dirty.pipeline.query(
        "select metric_name, column_name, metric_value from raw.batch_metrics where batch_date = ?", [GAP_DAY]
    )
    assert [tuple(row) for row in metrics.itertuples(index=False)] == [("row_count", "", 0.0)]
    day = dirty.pipeline.query(
        "select trips, input_valid_trips, is_empty_batch, metrics_computed, mae, prediction_drift_score "
        "from marts.daily_model_monitoring where batch_date = ?",
        [GAP_DAY],
    ).iloc[0]
    assert (day.trips, day.input_valid_trips, bool(day.is_empty_batch), bool(day.metrics_computed)) == (
        0,
        0,
        True,
        True,
    )
    assert day.isna()[["mae", "prediction_drift_score"]].all()
    tests = dirty.pipeline.query(
        "select test_name, status from marts.daily_test_results where batch_date = ? order by test_name", [GAP_DAY]
    )
    statuses = dict(zip(tests.test_name, tests.status, strict=True))
    # no trips at all is exactly what the volume test is for; every other test has no value to judge
    assert statuses.pop("volume_vs_reference") == "fail"
    assert set(statuses.values()) == {"no_data"}
    status = dirty.pipeline.query("select * from marts.daily_status where batch_date = ?", [GAP_DAY]).iloc[0]
    assert (status.status, status.failed_test_names) == ("fail", "volume_vs_reference")
    assert scalar(dirty.pipeline, "select trips from marts.daily_data_defects where batch_date = ?", [GAP_DAY]) == 0


def test_impossible_rows_are_quarantined_with_their_reason_and_file_position(
    dirty: Dirty, dirty_data: DirtyData
) -> None:
    assert "10 rows quarantined" in dirty.loaded.stderr
    rejected = dirty.pipeline.query(
        "select trip_id, source_file, source_row_number, reject_reason from raw.rejected_trips order by 3"
    )
    assert set(rejected.source_file) == {FEBRUARY}  # January, the training month, has none
    assert dict(zip(rejected.source_row_number, rejected.reject_reason, strict=True)) == HARD_DEFECTS
    assert list(rejected.trip_id) == [202102 * 100_000_000 + p for p in HARD_DEFECTS]
    landed = dirty.pipeline.query(
        "select count(*) as n, min(source_row_number) as first_row, max(source_row_number) as last_row, "
        "count(distinct source_row_number) as positions from raw.green_trips where source_file = ?",
        [FEBRUARY],
    ).iloc[0]
    rows = dirty_data.february.num_rows
    assert (landed.n, landed.positions, landed.first_row, landed.last_row) == (
        rows - len(HARD_DEFECTS),
        landed.n,
        0,
        rows - 1,
    )
    overlap = scalar(
        dirty.pipeline,
        "select count(*) from raw.green_trips g inner join raw.rejected_trips r on g.trip_id = r.trip_id",
    )
    assert overlap == 0  # every position is in exactly one of the two tables
    staged = dirty.pipeline.query(
        "select reject_reason, count(*) as n from staging.stg_tlc__rejected_trips group by reject_reason"
    )
    expected: dict[str, int] = {}
    for reason in HARD_DEFECTS.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(zip(staged.reject_reason, staged.n, strict=True)) == expected
    # per pickup day in daily_data_defects (the row picked up in 2099 belongs to no production day)
    per_day = dirty.pipeline.query(
        "select batch_date, rejected_trips from marts.daily_data_defects where rejected_trips > 0"
    )
    pickups = dirty_data.february["lpep_pickup_datetime"].to_pylist()
    expected_days: dict[dt.date, int] = {}
    for position in HARD_DEFECTS:
        day = pickups[position].date()
        if day.month == 2:
            expected_days[day] = expected_days.get(day, 0) + 1
    got_days = dict(zip(pd.to_datetime(per_day.batch_date).dt.date, per_day.rejected_trips, strict=True))
    assert got_days == expected_days


def test_soft_defects_are_flagged_and_counted_not_dropped(dirty: Dirty, dirty_data: DirtyData) -> None:
    flags = dirty.pipeline.query(
        "select source_month, cast(sum(case when is_outside_file_month then 1 else 0 end) as bigint) as outside, "
        "cast(sum(case when has_negative_fare then 1 else 0 end) as bigint) as negative "
        "from intermediate.int_trips_validated group by source_month order by 1"
    )
    expected = []
    for month, table in (("2021-01", pq.read_table(DATA_DIR / JANUARY)), ("2021-02", dirty_data.february)):
        keep = pa.array([True] * table.num_rows) if month == "2021-01" else None
        if keep is None:
            keep = pa.array([i not in HARD_DEFECTS for i in range(table.num_rows)])
        table = table.filter(keep)
        pickup_month = pc.strftime(table["lpep_pickup_datetime"], "%Y-%m")
        outside = pc.sum(pc.not_equal(pickup_month, month)).as_py()
        negative = pc.sum(pc.or_(pc.less(table["fare_amount"], 0), pc.less(table["total_amount"], 0))).as_py()
        expected.append((month, outside, negative))
    assert [tuple(r) for r in flags.itertuples(index=False)] == expected
    assert expected[0][1:] == (3, 134) and expected[1][2] > 0  # the real January: 3 and 134, kept for training
    total = scalar(dirty.pipeline, "select sum(negative_fare_trips) from marts.daily_data_defects")
    in_batches = scalar(
        dirty.pipeline,
        "select count(*) from intermediate.int_trips_split where split = 'production' and batch_date is not null "
        "and has_negative_fare",
    )
    assert int(total) == int(in_batches) > 0

    # every landed production trip is in a daily batch, in none (picked up outside the one production month), or
    # an exact copy of an earlier one: production_file_defects accounts for each, and `show` names the second kind
    february = dirty_data.february
    kept = february.filter(pa.array([i not in HARD_DEFECTS for i in range(february.num_rows)])).to_pandas()
    in_month = kept.lpep_pickup_datetime.dt.strftime("%Y-%m") == "2021-02"
    copies = kept.duplicated()
    unbatched = int((~in_month & ~copies).sum())
    assert unbatched > 0
    files = dirty.pipeline.query("select * from marts.production_file_defects")
    assert files.to_dict("records") == [
        {
            "source_month": "2021-02",
            "landed_trips": len(kept),
            "monitored_trips": int((in_month & ~copies).sum()),
            "trips_in_no_batch": unbatched,
            "duplicate_trips": int(copies.sum()),
            "outside_file_month_trips": expected[1][1],
            "rejected_trips": len(HARD_DEFECTS),
        }
    ]
    show = dirty.run("show")
    shown = " ".join((show.stdout + show.stderr).split())
    assert f"note: {unbatched:,} trip(s) of the 2021-02 file were picked up outside every production month" in shown


def test_quarantine_leaves_the_model_trained_exactly_as_the_course(dirty: Dirty) -> None:
    model = dirty.pipeline.query("select * from raw.model_versions").iloc[0]
    assert (model.train_rows, model.validation_rows) == (30000, 9457)
    assert round(model.train_mae, 4) == 3.9446 and round(model.validation_mae, 4) == 3.9276


def test_rerunning_each_step_changes_no_table(dirty: Dirty) -> None:
    dirty.run("load")
    assert_same(snapshot(dirty.pipeline), dirty.baseline)
    # A load since the last metrics run: its inputs are built again; then, with nothing changed, they are not.
    assert "--selector metric_inputs: ok" in dirty.run("metrics").stderr
    assert_same(snapshot(dirty.pipeline), dirty.baseline)
    assert "--selector metric_inputs: skipped" in dirty.run("metrics").stderr
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


# --- bad input: refused, named, nothing changed ---------------------------------------------------------------


def _strings_in_fare(path: Path) -> None:
    table = dirty_february()
    fares = [None if v is None else str(v) for v in table["fare_amount"].to_pylist()]
    fares[10], fares[20], fares[30] = "abc", "n/a", "abc"
    pq.write_table(table.set_column(table.schema.get_field_index("fare_amount"), "fare_amount", pa.array(fares)), path)


def _corrupt_page(path: Path) -> None:
    """Row group 1 of 4 written whole, but the page header of its fare_amount chunk garbled (footer intact)."""
    pq.write_table(dirty_february(), path, row_group_size=20_000)
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(pq.read_schema(path).get_field_index("fare_amount"))
    offset = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = bytes((b * 7 + 13) % 256 for b in data[offset : offset + 64])
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    pq.write_table(dirty_february(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _too_many_rejects(path: Path) -> None:
    table = dirty_february()
    pickups, dropoffs = table["lpep_pickup_datetime"].to_pylist(), table["lpep_dropoff_datetime"].to_pylist()
    for position in range(1000, 2000):
        dropoffs[position] = pickups[position] - dt.timedelta(seconds=1)
    index = table.schema.get_field_index("lpep_dropoff_datetime")
    pq.write_table(table.set_column(index, "lpep_dropoff_datetime", pa.array(dropoffs, pa.timestamp("us"))), path)


@dataclass(frozen=True)
class BadInput:
    write: Callable[[Path], None] | None
    message: tuple[str, ...]  # what the error must say (besides the file's path)
    before_any_write: bool  # refused before anything is written (else: January, loaded first, is re-landed)
    env: tuple[tuple[str, str], ...] = ()


def _with_column(path: Path, name: str, values: pa.Array | pa.ChunkedArray, table: pa.Table | None = None) -> None:
    table = dirty_february() if table is None else table
    pq.write_table(table.set_column(table.schema.get_field_index(name), name, values), path)


def _epoch_seconds(path: Path) -> None:
    pickups = dirty_february()["lpep_pickup_datetime"]
    _with_column(path, "lpep_pickup_datetime", pc.divide(pc.cast(pickups, pa.int64()), 1_000_000))


def _non_finite_fares(rows: range) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        fares = dirty_february()["fare_amount"].to_pylist()
        for position in rows:
            fares[position] = float("inf") if position % 2 else float("nan")
        _with_column(path, "fare_amount", pa.array(fares, pa.float64()))

    return write


BAD_INPUTS = {
    "epoch_seconds_timestamps": BadInput(
        _epoch_seconds,
        ("column lpep_pickup_datetime is int64, not a parquet timestamp", "does not guess the unit"),
        True,
    ),
    "string_timestamps": BadInput(
        lambda path: _with_column(
            path, "lpep_dropoff_datetime", pc.strftime(dirty_february()["lpep_dropoff_datetime"], "%Y-%m-%d %H:%M:%S")
        ),
        ("column lpep_dropoff_datetime is string, not a parquet timestamp",),
        True,
    ),
    "booleans_in_a_number_column": BadInput(
        lambda path: _with_column(
            path, "passenger_count", pc.greater(dirty_february()["passenger_count"], pa.scalar(1.0))
        ),
        ("column passenger_count is bool, not a number",),
        True,
    ),
    "non_finite_fares_over_the_limit": BadInput(
        _non_finite_fares(range(3000, 4000)),
        ("non_finite_number (a double column holds NaN or +/-infinity): 1,000 rows", "more than max_reject_share"),
        False,
    ),
    "required_column_missing": BadInput(
        lambda path: pq.write_table(dirty_february().drop(["trip_distance"]), path),
        ("required column(s) ['trip_distance'] missing",),
        True,
    ),
    "strings_in_fare_amount": BadInput(
        _strings_in_fare, ("column fare_amount (string) has 3 value(s) among the file's", "that are not double"), False
    ),
    "truncated_file": BadInput(_truncated, ("not a readable parquet file", "magic bytes"), True),
    "corrupt_page": BadInput(
        _corrupt_page, ("column(s) ['fare_amount'] of row group 1 (rows 20000-39999, 20000 rows) unreadable",), False
    ),
    "empty_file": BadInput(
        lambda path: pq.write_table(dirty_february().slice(0, 0), path), ("holds no trips (0 rows)",), True
    ),
    "not_parquet": BadInput(
        lambda path: pa_csv.write_csv(dirty_february().slice(0, 100), path), ("not a readable parquet file",), True
    ),
    "missing_file_offline": BadInput(
        None,
        ("is not in", "could not be downloaded from http://127.0.0.1:9"),
        True,
        (("TLC_BASE_URL", "http://127.0.0.1:9"),),
    ),
    "too_many_rejected_rows": BadInput(
        _too_many_rejects,
        (
            "rows (1.6",
            "break a row rule, more than max_reject_share = 1.00%",
            "dropoff_before_pickup (lpep_dropoff_datetime < lpep_pickup_datetime): 1,003 rows",
            "unknown_pickup_location (pulocationid is not in the zone lookup): 2 rows",
        ),
        False,
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_refused_with_file_column_and_rows_and_changes_nothing(
    dirty: Dirty, case: str, tmp_path: Path
) -> None:
    bad = BAD_INPUTS[case]
    folder = data_folder(tmp_path / "data", bad.write)
    january_loaded = "select max(loaded_at) from raw.green_trips where source_file = ?"
    january_before = scalar(dirty.pipeline, january_loaded, [JANUARY])

    result = dirty.run("load", check=False, TAXI_DATA_DIR=str(folder), **dict(bad.env))

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "✗ load failed:" in output and "Traceback" not in output
    assert str(folder / FEBRUARY) in " ".join(output.split()) or FEBRUARY in output
    for fragment in bad.message:
        assert fragment in " ".join(output.split()), f"{fragment!r} not in {output}"
    assert "dbt build" not in output  # nothing downstream ran
    assert_same(raw_snapshot(dirty.pipeline), {t: v for t, v in dirty.baseline.items() if t.startswith("raw.")})
    status, error = newest_run(dirty.pipeline, "load")
    assert status == "failed" and FEBRUARY in error
    # per-file atomicity: January (first in line) keeps its new copy when February fails later on
    january_after = scalar(dirty.pipeline, january_loaded, [JANUARY])
    assert (january_after == january_before) == bad.before_any_write


# Spark's loader reads the file with Spark's own parquet reader, where pyarrow decoded the page and named it.
SPARK_MESSAGES = {"corrupt_page": ("unreadable by Spark",)}


@pytest.mark.spark
def test_the_spark_loader_quarantines_and_refuses_like_the_others_and_changes_nothing(
    dirty_data: DirtyData, tmp_path: Path
) -> None:
    """The cases of the loader itself (a missing file is found before any warehouse) on Spark's loader, all in one
    child process (tests/spark_loader_cases.py: one JVM), as `mlwatch load` meets them after pyarrow's footer check."""
    require_spark()
    cases = {}
    for case, bad in BAD_INPUTS.items():
        if bad.write is not None:
            cases[case] = tmp_path / case / FEBRUARY
            cases[case].parent.mkdir()
            bad.write(cases[case])
    env = {**os.environ, "DBT_TARGET": "spark", "SPARK_WAREHOUSE_DIR": str(tmp_path / "spark")}
    child = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("spark_loader_cases.py")), str(dirty_data.folder / FEBRUARY)]
        + [str(path) for path in cases.values()],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])

    assert result["rows"] == dirty_data.february.num_rows - len(HARD_DEFECTS)
    assert dict(map(tuple, result["rejected"])) == HARD_DEFECTS
    assert result["landed"] == [[result["rows"], 202102 * 100_000_000]]
    for case, path in cases.items():
        refused = result["refused"][str(path)]
        assert refused["error"] is not None, f"{case}: Spark's loader accepted the file"
        message = " ".join(refused["error"].split())
        assert str(path) in message, case
        for fragment in SPARK_MESSAGES.get(case, BAD_INPUTS[case].message):
            assert fragment in message, f"{case}: {fragment!r} not in {message}"
        assert refused["unchanged"], f"{case}: a raw table changed"


def test_later_years_physical_types_and_an_unknown_column_load_the_same_tables(dirty: Dirty, tmp_path: Path) -> None:
    def later_year_layout(path: Path) -> None:
        table = dirty_february()
        types = {
            "VendorID": pa.int32(),
            "PULocationID": pa.int32(),
            "DOLocationID": pa.int32(),
            "passenger_count": pa.int64(),
            "RatecodeID": pa.int64(),
            "payment_type": pa.int64(),
            "trip_type": pa.int64(),
            "store_and_fwd_flag": pa.large_string(),
            "ehail_fee": pa.float64(),
        }
        for name, kind in types.items():
            table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(kind))
        table = table.append_column("cbd_congestion_fee", pa.array([0.75] * table.num_rows))
        pq.write_table(table, path)

    folder = data_folder(tmp_path / "data", later_year_layout)
    assert pq.read_schema(folder / FEBRUARY).field("PULocationID").type == pa.int32()
    result = dirty.run("load", TAXI_DATA_DIR=str(folder))
    assert "ignored unknown columns ['cbd_congestion_fee']" in result.stderr
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


def test_zone_aware_timestamps_load_as_new_york_wall_clock_time(dirty: Dirty, tmp_path: Path) -> None:
    """The same instants written zone-aware, in UTC and in nanoseconds: converted to the TLC's New York
    wall-clock time, every table equals the load of the naive file (no batch shifted by 5 hours)."""

    def in_utc(path: Path) -> None:
        table = dirty_february()
        for name in ("lpep_pickup_datetime", "lpep_dropoff_datetime"):
            aware = pc.assume_timezone(table[name], "America/New_York", ambiguous="earliest", nonexistent="earliest")
            table = table.set_column(table.schema.get_field_index(name), name, aware.cast(pa.timestamp("ns", "UTC")))
        pq.write_table(table, path)

    folder = data_folder(tmp_path / "data", in_utc)
    assert pq.read_schema(folder / FEBRUARY).field("lpep_pickup_datetime").type == pa.timestamp("ns", "UTC")
    dirty.run("load", TAXI_DATA_DIR=str(folder))
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


DUPLICATED_ROWS = 5_000


def _february_with_copies(path: Path) -> None:
    """The dirty February holding 5,000 of its own trips (every 10th of its first 50,000 rows) twice."""
    table = dirty_february()
    pq.write_table(pa.concat_tables([table, table.slice(0, 50_000).take(pa.array(range(0, 50_000, 10)))]), path)


def test_exact_duplicates_are_counted_per_day_and_kept_out_of_every_metric(
    dirty: Dirty, dirty_data: DirtyData, tmp_path: Path
) -> None:
    folder = data_folder(tmp_path / "data", _february_with_copies)
    with cloned(dirty.pipeline, tmp_path) as pipeline:  # the module's other tests read the pipeline unchanged
        pipeline.env["TAXI_DATA_DIR"] = str(folder)
        pipeline.run("load")
        pipeline.run("metrics", "--full-refresh")  # every day's drift and performance computed again, with the copies
        # oracle: pandas' duplicate test on the file without the quarantined rows (and their copies)
        frame = pq.read_table(folder / FEBRUARY).to_pandas()
        rows = dirty_data.february.num_rows
        quarantined = [*HARD_DEFECTS, *(rows + p // 10 for p in HARD_DEFECTS if p < 50_000 and p % 10 == 0)]
        kept = frame.drop(index=quarantined)
        pickups = kept[kept.duplicated(keep="first")].lpep_pickup_datetime
        in_month = pickups[(pickups.dt.year == 2021) & (pickups.dt.month == 2)]
        expected = {day: int(n) for day, n in in_month.dt.date.value_counts().items()}
        assert sum(expected.values()) > 4_900
        counted = pipeline.query(
            "select batch_date, duplicate_trips from marts.daily_data_defects where duplicate_trips > 0"
        )
        days = pd.to_datetime(counted.batch_date).dt.date
        assert dict(zip(days, counted.duplicate_trips.astype(int), strict=True)) == expected
        per_file = scalar(pipeline, "select duplicate_trips from marts.production_file_defects")
        assert per_file == int(kept.duplicated(keep="first").sum())
        # every metric, daily volume and test, and the model, are those of the file without its copies
        now = snapshot(pipeline)
    defects = ("marts.daily_data_defects", "marts.production_file_defects")
    compared = [t for t in dirty.baseline if t.startswith("marts.") and t not in defects]
    compared += ["raw.batch_metrics", "raw.model_versions"]
    assert_same({t: now[t] for t in compared}, {t: dirty.baseline[t] for t in compared})


# --- crash safety: kill -9 mid-step, re-run, compare with the uninterrupted run --------------------------------


def test_kill_during_load_then_rerun_equals_the_uninterrupted_run(dirty: Dirty, tmp_path: Path) -> None:
    # Two kills: one while the trip files land (right after the zones are printed), one anywhere in the step
    # (files, dbt, training, scoring); then an ordinary run.
    for attempt, (marker, low, high) in enumerate([("taxi_zone_lookup.csv:", 0.0, 0.6), ("load →", 0.2, 9.0)]):
        killed = run_and_kill(dirty.pipeline, ["load"], tmp_path / f"load-{attempt}.log", marker, kill_delay(low, high))
        print(f"load killed={killed.killed} after {killed.after_seconds:.1f} s, after the line: {killed.landed_after}")
        if killed.killed:
            assert_recorded_as_killed(dirty.pipeline, "load", killed)
        dirty.pipeline.env["MLWATCH_LOCK_TIMEOUT"] = "120"  # a killed Postgres session may take a moment to go
    dirty.run("load")
    del dirty.pipeline.env["MLWATCH_LOCK_TIMEOUT"]
    assert newest_run(dirty.pipeline, "load")[0] == "success"
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


def test_kill_during_metrics_then_rerun_equals_the_uninterrupted_run(dirty: Dirty, tmp_path: Path) -> None:
    # The last 7 days are "not computed yet", as after new days land. The kill lands after the first dbt build,
    # while the days are computed and written (or during the final dbt build).
    first_pending = dt.date(2021, 2, 22)
    warehouse: Warehouse = dirty.pipeline.connect()
    try:
        [(full_day,)] = warehouse.rows("select count(*) from raw.batch_metrics where batch_date = ?", [first_pending])
        warehouse.execute("delete from raw.batch_metrics where batch_date >= ?", [first_pending])
    finally:
        warehouse.close()
    marker = "dbt build --selector metric_inputs:"  # built, or skipped as unchanged since the last run
    killed = run_and_kill(dirty.pipeline, ["metrics"], tmp_path / "metrics.log", marker, kill_delay(3.0, 10.0))
    days = dirty.pipeline.query(
        "select batch_date, count(*) as n from raw.batch_metrics where batch_date >= ? group by batch_date",
        [first_pending],
    )
    print(
        f"metrics killed={killed.killed} after {killed.after_seconds:.1f} s, after the line: {killed.landed_after}; "
        f"{len(days)} of 7 days committed before the kill"
    )
    assert set(days.n) <= {full_day}  # no partial day: a day has all its rows or none
    if killed.killed:
        assert_recorded_as_killed(dirty.pipeline, "metrics", killed)
    dirty.run("metrics", MLWATCH_LOCK_TIMEOUT="120")
    assert newest_run(dirty.pipeline, "metrics")[0] == "success"
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


# --- configuration: refused before anything runs ----------------------------------------------------------------


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    if request.param == "postgres":
        require_postgres()
    yield from make_pipeline(request.param, tmp_path / "warehouse")


def _project_with_seed_edit(folder: Path, seed: str, edit: Callable[[str], str]) -> Path:
    folder.mkdir()
    shutil.copy(PROJECT_DIR / "dbt_project.yml", folder / "dbt_project.yml")
    shutil.copytree(PROJECT_DIR / "seeds", folder / "seeds")
    path = folder / "seeds" / seed
    path.write_text(edit(path.read_text()))
    return folder


def _append(row: str) -> Callable[[str], str]:
    return lambda text: text + row + "\n"


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


COLUMNS, THRESHOLDS = "monitored_columns.csv", "metric_thresholds.csv"


def _line(seed: str, text: str) -> int:
    """The line of the committed seed that holds `text` (1 = the header), as the error names it."""
    lines = (PROJECT_DIR / "seeds" / seed).read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


# case -> (seed file and its edit, env, the step run with its arguments, the message)
BAD_CONFIGS: dict[str, tuple[tuple[str, Callable[[str], str]] | None, dict[str, str], list[str], str]] = {
    "unknown_column": (
        (COLUMNS, _append("tip_amount_typo,numerical_feature,,")),
        {},
        ["load"],
        "names unknown column(s) ['tip_amount_typo']",
    ),
    "column_not_an_identifier": (
        (COLUMNS, _append('"fare_amount; drop table raw.green_trips",numerical_feature,,')),
        {},
        ["metrics"],
        "is not a plain lower-case identifier",
    ),
    "unknown_month": (
        None,
        {"MLWATCH_PRODUCTION_MONTHS": "2021-13"},
        ["load"],
        "production month '2021-13' is not a month",
    ),
    # issue 14, class 3: an edit that would resolve to nothing in SQL is refused, file, line and value named
    "trailing_space_in_a_column_name": (
        (COLUMNS, _replace("fare_amount,numerical_feature", "fare_amount ,numerical_feature")),
        {},
        ["metrics", "--engine", "warehouse"],
        "monitored_columns.csv: line 4: column_name 'fare_amount ' has surrounding spaces",
    ),
    "metric_name_typo": (
        (THRESHOLDS, _replace(",mae_ratio_to_reference,", ",mae_ratio_to_referense,")),
        {},
        ["metrics"],
        f"metric_thresholds.csv: line {_line(THRESHOLDS, ',mae_ratio_to_reference,')}: "
        "metric_name 'mae_ratio_to_referense' is not a metric of daily_metric_trends",
    ),
    "direction_typo": (
        (THRESHOLDS, _replace("volume_ratio_to_reference,min,", "volume_ratio_to_reference,minimum,")),
        {},
        ["load"],
        f"metric_thresholds.csv: line {_line(THRESHOLDS, 'volume_ratio_to_reference,min,')}: "
        "direction 'minimum' is not one of max, min",
    ),
    # class 6: known failures in one line, not a traceback
    "non_numeric_threshold": (
        (THRESHOLDS, _replace(",max,1.1,1.25,", ",max,1.1,1.25x,")),
        {},
        ["metrics"],
        f"metric_thresholds.csv: line {_line(THRESHOLDS, ',max,1.1,1.25,')}: "
        "fail_threshold '1.25x' is not a finite number",
    ),
    "non_numeric_column_threshold": (
        (COLUMNS, _replace("trip_distance,numerical_feature,,", "trip_distance,numerical_feature,wasserstein,0.1.2")),
        {},
        ["load"],
        "monitored_columns.csv: line 3: threshold '0.1.2' is not a finite number",
    ),
    "unknown_stat_test_warehouse_engine": (
        (COLUMNS, _replace("trip_distance,numerical_feature,,", "trip_distance,numerical_feature,kolmogorov,")),
        {},
        ["metrics", "--engine", "warehouse"],
        "column trip_distance: stat_test 'kolmogorov' is not a drift test mlwatch knows",
    ),
    "unknown_stat_test_evidently_engine": (
        (COLUMNS, _replace("trip_distance,numerical_feature,,", "trip_distance,numerical_feature,kolmogorov,")),
        {},
        ["metrics", "--engine", "evidently"],
        "column trip_distance: stat_test 'kolmogorov' is not a drift test mlwatch knows",
    ),
    "stat_test_the_warehouse_engine_lacks": (
        (COLUMNS, _replace("trip_distance,numerical_feature,,", "trip_distance,numerical_feature,anderson,")),
        {},
        ["metrics", "--engine", "warehouse"],
        "the warehouse engine has no 'anderson' test for numerical columns",
    ),
    # class 4: a text column as a model input would land the trips, then fail at training
    "text_column_as_a_feature": (
        (COLUMNS, _append("store_and_fwd_flag,categorical_feature,,")),
        {},
        ["load"],
        "column(s) ['store_and_fwd_flag'] hold text or timestamps",
    ),
}


def database_exists(pipeline: Pipeline) -> bool:
    if pipeline.target == "duckdb":
        return Path(pipeline.env["DUCKDB_PATH"]).exists() or lock_file(pipeline.settings).exists()
    import psycopg

    with psycopg.connect(**POSTGRES, dbname="postgres") as admin:
        found = admin.execute("select 1 from pg_database where datname = %s", [pipeline.env["POSTGRES_DB"]])
        return found.fetchone() is not None


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_a_bad_configuration_is_refused_before_anything_runs(fresh: Pipeline, case: str, tmp_path: Path) -> None:
    seed_edit, env, args, message = BAD_CONFIGS[case]
    if seed_edit:
        fresh.env["MLWATCH_PROJECT_DIR"] = str(_project_with_seed_edit(tmp_path / "project", *seed_edit))
    fresh.env.update(env)
    result = fresh.run(*args, check=False)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, output
    assert f"✗ {args[0]} failed:" in output and message in output and "Traceback" not in output
    assert not database_exists(fresh)  # nothing written: no warehouse, no lock, no pipeline_runs row


# --- the writer lock itself --------------------------------------------------------------------------------------


def test_the_writer_lock_refuses_a_second_holder_waits_when_asked_and_frees(fresh: Pipeline) -> None:
    settings = fresh.settings
    with step_lock(settings, "metrics", timeout=0):
        refused = r"another mlwatch run is writing to .*mlwatch metrics \(pid"
        with pytest.raises(LockError, match=refused), step_lock(settings, "load", timeout=0):
            pass
        started = time.monotonic()
        with pytest.raises(LockError, match=r"`load` was refused after waiting 1 s"), step_lock(settings, "load", 1):
            pass
        assert time.monotonic() - started >= 1
    with step_lock(settings, "load", timeout=0):  # free again once the holder leaves
        pass


def test_a_dbt_command_waits_for_a_running_step_like_the_steps_do(fresh: Pipeline) -> None:
    with step_lock(fresh.settings, "metrics", timeout=0):
        refused = fresh.run("dbt", "ls", "--select", "stg_tlc__taxi_zones", check=False)
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 1 and "✗ dbt failed: another mlwatch run is writing to" in output, output
    assert "mlwatch metrics (pid" in output
    assert fresh.run("dbt", "ls", "--select", "stg_tlc__taxi_zones").returncode == 0  # free once the step ends


def test_the_writer_lock_is_released_when_its_holder_is_killed(fresh: Pipeline, tmp_path: Path) -> None:
    holder = (
        "import sys, time\n"
        "from mlwatch.locks import step_lock\n"
        "from mlwatch.warehouse import WarehouseSettings\n"
        "from pathlib import Path\n"
        f"settings = WarehouseSettings.from_env(Path({str(PROJECT_DIR)!r}))\n"
        "with step_lock(settings, 'metrics', timeout=0):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], env=fresh.env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    with pytest.raises(LockError), step_lock(fresh.settings, "load", timeout=0):
        pass
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    started = time.monotonic()
    with step_lock(fresh.settings, "load", timeout=10):
        waited = time.monotonic() - started
    assert waited < 5


# --- the row rules against the real files ---------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2021-01", "2021-02", "2022-01", "2022-02"])
def test_the_real_files_hold_no_row_the_loader_would_quarantine(month: str) -> None:
    require_data()
    path = DATA_DIR / f"green_tripdata_{month}.parquet"
    checks = RowChecks(zone_ids=read_zones(DATA_DIR / ZONES)["locationid"].combine_chunks())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rejected = sum(
        batch.num_rows - classify_rows(batch, checks, now).null_count for batch in read_trip_batches(path, month, now)
    )
    assert rejected == 0


def test_each_row_gets_the_first_rule_it_breaks() -> None:
    ts = pa.timestamp("us")
    pickup = dt.datetime(2021, 2, 1, 8)
    rows = [  # (pickup, dropoff, pu, do) -> reason
        ((pickup, pickup + dt.timedelta(minutes=9), 1, 2), None),
        ((None, pickup, 1, 2), "missing_pickup_or_dropoff"),
        ((pickup, pickup - dt.timedelta(minutes=1), 999, 2), "dropoff_before_pickup"),  # and an unknown zone
        ((pickup, pickup + dt.timedelta(hours=24, seconds=1), 1, 2), "longer_than_max_trip_hours"),
        ((pickup, pickup + dt.timedelta(hours=24), 1, 2), None),  # exactly the limit is allowed
        ((FUTURE, FUTURE, 1, 2), "pickup_in_future"),
        ((pickup, pickup, None, 2), None),  # a missing zone is not an unknown one
        ((pickup, pickup, 1, 266), "unknown_dropoff_location"),
    ]
    columns = list(zip(*(row for row, _ in rows), strict=True))
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(columns[0], ts),
            pa.array(columns[1], ts),
            pa.array(columns[2], pa.int64()),
            pa.array(columns[3], pa.int64()),
        ],
        names=["lpep_pickup_datetime", "lpep_dropoff_datetime", "pulocationid", "dolocationid"],
    )
    checks = RowChecks(zone_ids=pa.array(range(1, 266), pa.int64()))
    reasons = classify_rows(batch, checks, dt.datetime(2026, 1, 1))
    assert reasons.to_pylist() == [reason for _, reason in rows]


# --- issue 14: a step that cannot finish says what is missing, and leaves nothing stuck --------------------------


def _one_line(result: subprocess.CompletedProcess[str], step: str) -> str:
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, output
    assert f"✗ {step} failed:" in output and "Traceback" not in output, output
    return output


@pytest.mark.parametrize("command", [["metrics"], ["show"], ["dashboard"]])
def test_commands_on_a_missing_warehouse_say_which_command_makes_it(fresh: Pipeline, command: list[str]) -> None:
    output = _one_line(fresh.run(*command, check=False), command[0])
    assert "does not exist yet: run `mlwatch load` first" in output
    assert not database_exists(fresh)


def test_metrics_and_show_on_an_empty_warehouse_name_what_is_missing(fresh: Pipeline) -> None:
    from mlwatch.warehouse import connected, ensure_raw_tables

    with connected(fresh.settings, create_database=True) as warehouse:
        ensure_raw_tables(warehouse)
    output = _one_line(fresh.run("metrics", check=False), "metrics")
    assert "raw.pipeline_runs is empty in" in output and "run `mlwatch load` first" in output
    output = _one_line(fresh.run("show", check=False), "show")
    assert "marts.daily_model_monitoring does not exist in" in output and "run `mlwatch metrics` first" in output
    assert fresh.query("select count(*) as n from raw.pipeline_runs").n[0] == 0  # refused before recording


def _without_passenger_counts(path: Path) -> None:
    table = pq.read_table(DATA_DIR / FEBRUARY)
    _with_column(path, "passenger_count", pa.nulls(table.num_rows, pa.float64()), table)


def test_a_production_without_one_valid_trip_is_marked_and_warned_and_its_dashboard_renders(
    fresh: Pipeline, tmp_path: Path
) -> None:
    """Every passenger_count null: every trip fails the input rules. The marts fail each day on volume, `metrics`
    and `dashboard` warn naming the rule, and the panels show "No data" (before: an error that blamed the marts)."""
    folder = data_folder(tmp_path / "data", _without_passenger_counts)
    fresh.env["TAXI_DATA_DIR"] = str(folder)
    pickups = pq.read_table(folder / FEBRUARY).column("lpep_pickup_datetime").to_pandas()
    in_month = int(((pickups >= "2021-02-01") & (pickups < "2021-03-01")).sum())
    fresh.run("load")
    warning = (
        f"warning: on 28 of 28 production day(s), none of their {in_month:,} trips passes the input rules "
        "(vars.input_rules in dbt_project.yml; passenger_count_in_range fails on 100% of their trips)"
    )
    metrics = fresh.run("metrics")
    assert warning in " ".join((metrics.stdout + metrics.stderr).split())
    status = fresh.query("select status, count(*) as days from marts.daily_status group by status")
    assert status.to_dict("records") == [{"status": "fail", "days": 28}]
    failed = fresh.query("select distinct test_name from marts.daily_test_results where status = 'fail'")
    assert list(failed.test_name) == ["volume_vs_reference"]
    page = tmp_path / "dashboard.html"
    dashboard = fresh.run("dashboard", "--output", str(page))
    assert warning in " ".join((dashboard.stdout + dashboard.stderr).split())
    html = page.read_text()
    assert '<p class="notice">on 28 of 28 production day(s)' in html and "column: None" in html


def _short_january(rows: int, failing: int = 0) -> Callable[[Path], None]:
    """January cut to `rows` rows, of which the first `failing` carry passenger_count 0 (fails an input rule)."""

    def write(path: Path) -> None:
        table = pq.read_table(DATA_DIR / JANUARY).slice(0, rows)
        counts = table["passenger_count"].to_pylist()
        counts[:failing] = [0.0] * failing
        _with_column(path, "passenger_count", pa.array(counts, pa.float64()), table)

    return write


def _folder_with_january(folder: Path, write: Callable[[Path], None]) -> Path:
    folder.mkdir(parents=True)
    for name in (FEBRUARY, ZONES):
        (folder / name).symlink_to(DATA_DIR / name)
    write(folder / JANUARY)
    return folder


def test_a_reference_month_shorter_than_training_rows_is_refused_before_anything_is_written(
    fresh: Pipeline, tmp_path: Path
) -> None:
    fresh.env["TAXI_DATA_DIR"] = str(_folder_with_january(tmp_path / "data", _short_january(20_000)))
    output = _one_line(fresh.run("load", check=False), "load")
    assert "the reference month holds 20,000 rows, fewer than training_rows = 30,000" in output
    assert "refused before anything was written" in output
    assert fresh.query("select count(*) as n from raw.green_trips").n[0] == 0


def test_a_load_that_fails_after_landing_says_so_and_metrics_waits_for_a_good_load(
    fresh: Pipeline, tmp_path: Path
) -> None:
    """31,000 rows, 2,000 of which fail a rule: the file passes the footer check and lands, training then
    finds 29,000 rows. The failure says the trips landed without a model; `metrics` refuses, naming it."""
    folder = _folder_with_january(tmp_path / "data", _short_january(31_000, 2_000))
    fresh.env["TAXI_DATA_DIR"] = str(folder)
    trips = pq.read_table(folder / JANUARY).to_pandas()  # oracle: the course's rules in pandas
    minutes = (trips.lpep_dropoff_datetime - trips.lpep_pickup_datetime).dt.total_seconds() / 60
    kept = ((trips.passenger_count > 0) & (trips.passenger_count <= 8) & minutes.between(0, 60)).sum()
    assert kept < 30_000
    output = _one_line(fresh.run("load", check=False), "load")
    assert f"has only {kept} trips passing every rule; training needs training_rows=30000" in output
    assert "the trips are landed but no model was trained on them" in output
    output = _one_line(fresh.run("metrics", check=False), "metrics")
    assert "landed trips and then failed" in output and "run `mlwatch load` again" in output


def test_non_finite_numbers_are_quarantined_not_landed(fresh: Pipeline, tmp_path: Path) -> None:
    """inf and NaN in a few fares (under max_reject_share): quarantined with their reason, never a value in SQL."""
    from mlwatch.load import RowChecks, known_zone_ids, load_trip_file, load_zones
    from mlwatch.warehouse import connected, ensure_raw_tables

    path = tmp_path / FEBRUARY
    _non_finite_fares(range(50, 56))(path)
    with connected(fresh.settings, create_database=True) as warehouse:
        ensure_raw_tables(warehouse)
        load_zones(warehouse, DATA_DIR / ZONES)
        loaded = load_trip_file(warehouse, path, "2021-02", checks=RowChecks(known_zone_ids(warehouse)))
        rejected = warehouse.rows(
            "select source_row_number, reject_reason from raw.rejected_trips where reject_reason = 'non_finite_number'"
        )
        [(landed, fares)] = warehouse.rows("select count(*), sum(fare_amount) from raw.green_trips")
    assert loaded.rejected["non_finite_number"] == 6
    assert sorted(row[0] for row in rejected) == list(range(50, 56))
    oracle = pq.read_table(path).to_pandas()
    clean = oracle[~oracle.index.isin(list(range(50, 56)) + list(HARD_DEFECTS))]
    assert landed == len(clean)
    assert float(fares) == pytest.approx(clean.fare_amount.sum())


def test_a_lost_postgres_connection_is_one_line_with_the_detail_in_the_log_and_a_rerun_repairs(
    dirty: Dirty, tmp_path: Path
) -> None:
    if dirty.pipeline.target != "postgres":
        pytest.skip("DuckDB is embedded: there is no server connection to lose")
    import psycopg

    log = tmp_path / "metrics.log"
    process = start(dirty.pipeline, ["metrics", "--full-refresh"], log)
    deadline = time.monotonic() + 300
    while "--selector metric_inputs:" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
        others = "from pg_stat_activity where datname = %s and pid <> pg_backend_pid()"
        database = [dirty.pipeline.env["POSTGRES_DB"]]
        # One connection holds the writer lock (an advisory lock) for the whole step; the step opens a second
        # once its engine is imported, and both are cut while it computes the days.
        while process.poll() is None and time.monotonic() < deadline:
            [(connected,)] = admin.execute(f"select count(*) {others}", database).fetchall()
            if connected >= 2:
                break
            time.sleep(0.05)
        admin.execute(f"select pg_terminate_backend(pid) {others}", database)
    process.wait(timeout=300)
    wait_for_group_exit(process.pid)
    output = " ".join(log.read_text().split())
    assert process.returncode == 1, output
    assert "✗ metrics failed:" in output and "Traceback" not in output, output
    assert "connection" in output.lower()
    details = Path(output.split("(details: ")[1].split(")")[0])
    assert "Traceback" in details.read_text()
    dirty.run("metrics", MLWATCH_LOCK_TIMEOUT="60")
    assert_same(snapshot(dirty.pipeline), dirty.baseline)


# --- issue 14, class 7: the read-only role can SELECT the marts of its database and nothing else ----------------


@pytest.mark.postgres
def test_the_readonly_role_cannot_write_temp_tables_nor_enter_other_mlwatch_databases(tmp_path: Path) -> None:
    require_postgres()
    import psycopg
    from psycopg import errors

    from mlwatch.warehouse import connect

    pipelines = [make_pipeline("postgres", tmp_path / name) for name in ("served", "other")]
    served, other = (next(p) for p in pipelines)
    try:
        for pipeline in (served, other):
            connect(pipeline.settings, create_database=True).close()  # as `mlwatch load` creates it
        role, password = f"mlwatch_reader_{os.getpid()}", "pw-test-only"
        served.env.update(MLWATCH_READONLY_USER=role, MLWATCH_READONLY_PASSWORD=password)
        granted = served.run("grant-readonly")
        login = {**POSTGRES, "user": role, "password": password}
        with psycopg.connect(**login, dbname=served.env["POSTGRES_DB"], autocommit=True) as con:
            for statement in ("create temporary table intruder as select 1 as x", "create schema intruder"):
                with pytest.raises(errors.InsufficientPrivilege):
                    con.execute(statement)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(**login, dbname=other.env["POSTGRES_DB"]).close()
        with psycopg.connect(**POSTGRES, dbname="postgres") as admin:
            reachable = admin.execute(
                "select datname from pg_database where has_database_privilege(%s, datname, 'CONNECT')", [role]
            ).fetchall()
        others = sorted(name for (name,) in reachable if name != served.env["POSTGRES_DB"])
        assert other.env["POSTGRES_DB"] not in others
        if "postgres" in others:  # a database mlwatch did not create: named, as PUBLIC's CONNECT is its owner's
            assert "can still connect to [" in granted.stderr and "'postgres'" in granted.stderr
    finally:
        with psycopg.connect(**POSTGRES, dbname=served.env["POSTGRES_DB"], autocommit=True) as admin:
            admin.execute(f'drop owned by "{role}"')
            admin.execute(f'drop role if exists "{role}"')
        for pipeline_iter in pipelines:
            for _ in pipeline_iter:
                pass


def test_a_corrupt_duckdb_file_is_one_line_with_the_traceback_in_the_named_log(tmp_path: Path) -> None:
    """A driver error no check foresaw (the warehouse file is not a DuckDB database): one line, detail logged."""
    for pipeline in make_pipeline("duckdb", tmp_path / "warehouse"):
        path = Path(pipeline.env["DUCKDB_PATH"])
        path.parent.mkdir(parents=True)
        path.write_text("not a database\n" * 1000)
        output = _one_line(pipeline.run("show", check=False), "show")
        details = Path(output.split("(details: ")[1].split(")")[0])
        assert details.parent == Path(pipeline.env["DBT_LOG_PATH"]).resolve()
        assert "Traceback" in details.read_text() and "mlwatch show" in details.read_text()
