"""Land TLC trip files and the zone lookup in the warehouse's raw schema.

Each file is streamed in record batches, cast to the logical schema and appended inside one
transaction that first deletes the file's previous copy: a reload replaces, a failure changes nothing.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlwatch.errors import LoadError
from mlwatch.schema import GREEN_TRIP_SCHEMA, RAW_TRIPS_SCHEMA, ZONE_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

TLC_BASE_URL = "https://d37ci6vzurychx.cloudfront.net"
ZONE_FILE = "taxi_zone_lookup.csv"
BATCH_ROWS = 200_000
# trip_id = yyyymm * ROW_SPACE + position in file: stable across reloads and unique across months.
ROW_SPACE = 100_000_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    rows: int
    ignored_columns: tuple[str, ...]


def trip_file_name(taxi_type: str, month: str) -> str:
    return f"{taxi_type}_tripdata_{month}.parquet"


def file_url(base_url: str, name: str) -> str:
    folder = "misc" if name == ZONE_FILE else "trip-data"
    return f"{base_url.rstrip('/')}/{folder}/{name}"


def ensure_file(data_dir: Path, name: str, base_url: str = TLC_BASE_URL, timeout: float = 60) -> Path:
    """The local copy of a TLC file, downloaded from `base_url` first when it is not in `data_dir`."""
    path = data_dir / name
    if path.is_file():
        return path
    url = file_url(base_url, name)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            tempfile.NamedTemporaryFile(dir=data_dir, prefix=f".{name}.", delete=False) as partial,
        ):
            shutil.copyfileobj(response, partial)
        Path(partial.name).replace(path)  # only a complete download gets the real name
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        if "partial" in locals():
            Path(partial.name).unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise LoadError(
            f"{name} is not in {data_dir} and could not be downloaded from {url}: {reason}. "
            f"Put the file in {data_dir} or point TAXI_DATA_DIR at a folder that has it."
        ) from error
    return path


def month_key(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 100 + int(mon)


def _count_uncastable(values: pa.ChunkedArray | pa.Array, target: pa.DataType) -> int:
    """Non-null values that do not convert to `target` (cast is vectorised, so count via unique values)."""
    bad = 0
    counts = pc.value_counts(pc.drop_null(values))
    for item in counts:
        try:
            pc.cast(pa.array([item["values"].as_py()], type=values.type), target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad += item["counts"].as_py()
    return bad


def _file_columns(path: Path, schema: pa.Schema) -> tuple[dict[str, str], tuple[str, ...]]:
    """Map logical column -> the file's column (case-insensitive); list the file's unknown columns."""
    try:
        file_schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise LoadError(f"{path}: not a readable parquet file ({error})") from error
    by_lower = {name.lower(): name for name in file_schema.names}
    missing = [field.name for field in schema if field.name not in by_lower]
    if missing:
        raise LoadError(f"{path}: required column(s) {missing} missing (the file has {file_schema.names})")
    known = {field.name for field in schema}
    ignored = tuple(name for name in file_schema.names if name.lower() not in known)
    return {field.name: by_lower[field.name] for field in schema}, ignored


def cast_batch(batch: pa.RecordBatch, columns: dict[str, str], path: Path) -> pa.RecordBatch:
    arrays = []
    for field in GREEN_TRIP_SCHEMA:
        source = batch.column(columns[field.name])
        try:
            arrays.append(pc.cast(source, field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            bad = _count_uncastable(source, field.type)
            raise LoadError(
                f"{path}: column {columns[field.name]} ({source.type}) has {bad} value(s) in this batch of "
                f"{batch.num_rows} rows that are not {field.type}: {error}"
            ) from error
    return pa.RecordBatch.from_arrays(arrays, schema=GREEN_TRIP_SCHEMA)


def read_trip_batches(
    path: Path, month: str, loaded_at: dt.datetime, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The file's trips in the raw table's schema, `batch_rows` at a time, with lineage columns."""
    columns, _ = _file_columns(path, GREEN_TRIP_SCHEMA)
    offset = 0
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns.values())):
            trips = cast_batch(batch, columns, path)
            positions = pa.array(range(offset, offset + trips.num_rows), type=pa.int64())
            lineage = [
                pc.add(positions, month_key(month) * ROW_SPACE),
                pa.array([path.name] * trips.num_rows, type=pa.string()),
                pa.array([month] * trips.num_rows, type=pa.string()),
                positions,
                pa.array([loaded_at] * trips.num_rows, type=pa.timestamp("us")),
            ]
            yield pa.RecordBatch.from_arrays([*lineage, *trips.columns], schema=RAW_TRIPS_SCHEMA)
            offset += trips.num_rows
    except (pa.ArrowInvalid, OSError) as error:
        raise LoadError(f"{path}: unreadable after row {offset} ({error})") from error


def load_trip_file(warehouse: Warehouse, path: Path, month: str, progress: Progress | None = None) -> LoadedFile:
    """Replace the file's trips in raw.green_trips, atomically."""
    _, ignored = _file_columns(path, GREEN_TRIP_SCHEMA)
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = 0
    with warehouse.transaction():
        warehouse.execute(f"delete from {RAW_SCHEMA}.green_trips where source_file = ?", [path.name])
        for batch in read_trip_batches(path, month, loaded_at):
            warehouse.append(f"{RAW_SCHEMA}.green_trips", batch)
            rows += batch.num_rows
            if progress:
                progress(batch.num_rows)
        if rows == 0:
            raise LoadError(f"{path}: the file holds no trips (0 rows); nothing was changed")
    return LoadedFile(path=path, rows=rows, ignored_columns=ignored)


def read_zones(path: Path) -> pa.Table:
    """The zone lookup; "N/A" and empty strings are values there, not missing ones."""
    try:
        table = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                column_types={"LocationID": pa.int64()}, null_values=[], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise LoadError(f"{path}: not a readable zone lookup CSV ({error})") from error
    columns = {name.lower(): name for name in table.column_names}
    missing = [field.name for field in ZONE_SCHEMA if field.name not in columns]
    if missing:
        raise LoadError(f"{path}: required column(s) {missing} missing (the file has {table.column_names})")
    return pa.table([table[columns[f.name]].cast(f.type) for f in ZONE_SCHEMA], schema=ZONE_SCHEMA)


def load_zones(warehouse: Warehouse, path: Path) -> int:
    zones = read_zones(path)
    with warehouse.transaction():
        warehouse.execute(f"delete from {RAW_SCHEMA}.taxi_zones")
        warehouse.append(f"{RAW_SCHEMA}.taxi_zones", zones)
    return zones.num_rows
