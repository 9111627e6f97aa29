"""`make test-fast`'s one end-to-end build: `mlwatch load && mlwatch metrics` on DuckDB, on the real 2021-01/02 files.

It shares the session's `built_duckdb` with the full suite, so `make test` pays nothing for the build. The expected
values are counted from the parquet files with pyarrow, never read back through the pipeline's code; test_pipeline.py
and test_coverage.py check the computed metrics themselves, on both warehouses.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import DATA_DIR, Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.smoke]

FEBRUARY = [dt.date(2021, 2, 1) + dt.timedelta(days=n) for n in range(28)]


def february_by_day() -> dict[dt.date, tuple[int, int, int]]:
    """Per pickup day: trips, those passing the input rule (1 to 8 passengers), and of those the 0-60 minute ones."""
    table = pq.read_table(
        DATA_DIR / "green_tripdata_2021-02.parquet",
        columns=["lpep_pickup_datetime", "lpep_dropoff_datetime", "passenger_count"],
    )
    passengers, pickup = table["passenger_count"], table["lpep_pickup_datetime"]
    valid = pc.fill_null(pc.and_(pc.greater(passengers, 0), pc.less_equal(passengers, 8)), False)
    seconds = pc.seconds_between(pickup, table["lpep_dropoff_datetime"])
    performance = pc.and_(valid, pc.and_(pc.greater_equal(seconds, 0), pc.less_equal(seconds, 3600)))
    days = pa.table(
        {
            "day": pc.cast(pickup, pa.date32()),
            "valid": pc.cast(valid, pa.int64()),
            "performance": pc.cast(performance, pa.int64()),
        }
    )
    counted = days.group_by("day").aggregate([("day", "count"), ("valid", "sum"), ("performance", "sum")]).to_pylist()
    return {row["day"]: (row["day_count"], row["valid_sum"], row["performance_sum"]) for row in counted}


def test_raw_trips_are_the_files_rows(built_duckdb: Pipeline) -> None:
    counts = built_duckdb.query("select source_file, count(*) as n from raw.green_trips group by source_file")
    files = [f"green_tripdata_{month}.parquet" for month in ("2021-01", "2021-02")]
    expected = {name: pq.ParquetFile(DATA_DIR / name).metadata.num_rows for name in files}
    assert dict(zip(counts.source_file, counts.n, strict=True)) == expected


def test_every_february_day_is_computed_with_the_files_trip_counts(built_duckdb: Pipeline) -> None:
    mart = built_duckdb.query(
        "select batch_date, trips, input_valid_trips, performance_trips, metrics_computed "
        "from marts.daily_model_monitoring order by batch_date"
    )
    assert [day.date() if isinstance(day, dt.datetime) else day for day in mart.batch_date] == FEBRUARY
    assert mart.metrics_computed.all()
    counted = february_by_day()
    columns = zip(mart.trips, mart.input_valid_trips, mart.performance_trips, strict=True)
    got = [tuple(int(n) for n in row) for row in columns]
    assert got == [counted[day] for day in FEBRUARY]


def test_the_model_is_trained_on_the_courses_30000_rows_and_both_steps_succeed(built_duckdb: Pipeline) -> None:
    assert built_duckdb.query("select train_rows from raw.model_versions").train_rows.tolist() == [30000]
    # The first two runs: later tests of the full suite re-run steps on the same warehouse.
    runs = built_duckdb.query("select step, status from raw.pipeline_runs order by started_at limit 2")
    assert list(zip(runs.step, runs.status, strict=True)) == [("load", "success"), ("metrics", "success")]
