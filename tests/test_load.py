"""The loader: one logical schema whatever the file's physical types, clear errors, downloads."""

from __future__ import annotations

import datetime as dt
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DATA_DIR, PROJECT_DIR

from mlwatch.errors import LoadError
from mlwatch.load import ROW_SPACE, ensure_file, read_trip_batches, read_zones
from mlwatch.schema import GREEN_TRIP_SCHEMA, RAW_TRIPS_SCHEMA

LOADED_AT = dt.datetime(2026, 1, 1)


def write_sample(path: Path, rows: int = 5, **replace: pa.Array) -> Path:
    """The first `rows` trips of the real January file, with some columns replaced."""
    table = pq.read_table(DATA_DIR / "green_tripdata_2021-01.parquet").slice(0, rows)
    for name, array in replace.items():
        table = table.set_column(table.schema.get_field_index(name), name, array)
    pq.write_table(table, path)
    return path


def test_later_years_physical_types_load_as_the_logical_schema(tmp_path: Path) -> None:
    path = write_sample(
        tmp_path / "green_tripdata_2023-01.parquet",
        PULocationID=pa.array([1, 2, 3, 4, 5], type=pa.int32()),
        passenger_count=pa.array([1, None, 2, 1, 1], type=pa.int64()),
        store_and_fwd_flag=pa.array(["N", "Y", None, "N", "N"], type=pa.large_string()),
    )
    batches = list(read_trip_batches(path, "2023-01", LOADED_AT, batch_rows=2))
    table = pa.Table.from_batches(batches)
    assert table.schema == RAW_TRIPS_SCHEMA
    assert table["pulocationid"].to_pylist() == [1, 2, 3, 4, 5]
    assert table["passenger_count"].to_pylist() == [1, None, 2, 1, 1]
    assert table["source_row_number"].to_pylist() == [0, 1, 2, 3, 4]  # positions continue across batches
    assert table["trip_id"].to_pylist() == [202301 * ROW_SPACE + i for i in range(5)]


def test_strings_in_a_numeric_column_are_refused_with_file_column_and_count(tmp_path: Path) -> None:
    path = write_sample(
        tmp_path / "green_tripdata_2021-01.parquet",
        fare_amount=pa.array(["1.5", "abc", "2", "n/a", None], type=pa.string()),
    )
    with pytest.raises(LoadError) as error:
        list(read_trip_batches(path, "2021-01", LOADED_AT))
    assert str(path) in str(error.value)
    assert "column fare_amount (string) has 2 value(s)" in str(error.value)


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    table = pq.read_table(DATA_DIR / "green_tripdata_2021-01.parquet").slice(0, 3).drop(["trip_distance"])
    path = tmp_path / "green_tripdata_2021-01.parquet"
    pq.write_table(table, path)
    with pytest.raises(LoadError, match=r"required column\(s\) \['trip_distance'\] missing"):
        list(read_trip_batches(path, "2021-01", LOADED_AT))


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "green_tripdata_2021-01.parquet"
    path.write_text("VendorID,lpep_pickup_datetime\n1,2021-01-01\n")
    with pytest.raises(LoadError, match="not a readable parquet file"):
        list(read_trip_batches(path, "2021-01", LOADED_AT))


def test_zone_lookup_keeps_na_as_a_value() -> None:
    zones = read_zones(DATA_DIR / "taxi_zone_lookup.csv")
    assert zones.num_rows == 265
    assert zones.column_names == ["locationid", "borough", "zone", "service_zone"]
    assert "N/A" in zones["zone"].to_pylist()
    assert zones["zone"].null_count == 0


def test_every_logical_column_is_typed_once() -> None:
    assert len(set(GREEN_TRIP_SCHEMA.names)) == 20


@pytest.fixture
def tlc_server(tmp_path: Path) -> Iterator[str]:
    """A local stand-in for the TLC download host, serving trip-data/ and misc/ like the real one."""
    root = tmp_path / "server"
    (root / "trip-data").mkdir(parents=True)
    (root / "trip-data" / "green_tripdata_2021-02.parquet").write_bytes(
        (DATA_DIR / "green_tripdata_2021-02.parquet").read_bytes()
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_missing_file_is_downloaded(tmp_path: Path, tlc_server: str) -> None:
    data_dir = tmp_path / "data"
    path = ensure_file(data_dir, "green_tripdata_2021-02.parquet", tlc_server)
    assert path.read_bytes() == (DATA_DIR / "green_tripdata_2021-02.parquet").read_bytes()
    assert [p.name for p in data_dir.iterdir()] == ["green_tripdata_2021-02.parquet"]  # no partial file left


def test_a_file_the_server_lacks_gives_a_clear_error(tmp_path: Path, tlc_server: str) -> None:
    with pytest.raises(LoadError, match=r"green_tripdata_2030-01.parquet is not in .* could not be downloaded"):
        ensure_file(tmp_path / "data", "green_tripdata_2030-01.parquet", tlc_server)
    assert list((tmp_path / "data").iterdir()) == []  # no partial file left


def test_offline_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="Put the file in"):
        ensure_file(tmp_path, "green_tripdata_2021-02.parquet", "http://127.0.0.1:9", timeout=5)


@pytest.mark.parametrize(
    ("version_line", "found"),
    [(None, "no java on PATH or in JAVA_HOME"), ('openjdk version "11.0.22" 2024-01-16', "Java 11 found")],
)
def test_spark_without_java_17_is_refused_in_one_line(tmp_path: Path, version_line: str | None, found: str) -> None:
    """Before any JVM starts, not as a Py4J stack trace: no `java` at all, or one that prints an older version."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if version_line:
        java = bin_dir / "java"
        java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
        java.chmod(0o755)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "DBT_TARGET": "spark",
        "SPARK_WAREHOUSE_DIR": str(tmp_path / "spark"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "TAXI_DATA_DIR": str(DATA_DIR),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "mlwatch", "load"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    output = " ".join((completed.stdout + completed.stderr).split())
    assert completed.returncode == 1, output
    assert f"✗ load failed: DBT_TARGET=spark needs Java 17 or newer ({found})" in output
    assert "Traceback" not in output
