"""Land TLC trip files and the zone lookup in the warehouse's raw schema.

Each file is streamed in record batches, cast to the logical schema, its impossible rows quarantined, and
appended inside one transaction that first deletes the file's previous copy: a reload replaces, a failure
changes nothing. Atomicity is per file: when the second file fails, the first one's new copy stays.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlwatch.errors import LoadError
from mlwatch.schema import GREEN_TRIP_SCHEMA, RAW_TRIPS_SCHEMA, REJECTED_TRIPS_SCHEMA, ZONE_SCHEMA
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
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)  # reject reason -> rows quarantined
    # landed trips picked up outside the file's month: in no daily batch unless that month is monitored too
    outside_month: int = 0


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


# Row-level defects that make a row impossible as a trip, as (reason, the rule it breaks), in the order a row's
# first broken rule is reported. None of them occurs in the real 2021-01..2022-02 files, and none can pass the
# course's rules (duration 0..60 minutes, which fails on a null, negative or day-long duration), so quarantining
# them never changes the training rows. Soft defects the course keeps (negative fares, pickups outside the
# file's month) are flagged in dbt instead (int_trips_validated), never quarantined.
REJECT_REASONS: dict[str, str] = {
    "missing_pickup_or_dropoff": "lpep_pickup_datetime or lpep_dropoff_datetime is null",
    "dropoff_before_pickup": "lpep_dropoff_datetime < lpep_pickup_datetime",
    "longer_than_max_trip_hours": "lpep_dropoff_datetime - lpep_pickup_datetime > max_trip_hours",
    "pickup_in_future": "lpep_pickup_datetime > the load time (UTC)",
    "unknown_pickup_location": "pulocationid is not in the zone lookup",
    "unknown_dropoff_location": "dolocationid is not in the zone lookup",
    "non_finite_number": "a double column holds NaN or +/-infinity",
}
# The TLC's timestamps are New York wall-clock time without a zone; a zone-aware file is converted to it.
TLC_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class RowChecks:
    """What the loader needs to classify rows: the known zones and the limits from dbt_project.yml vars."""

    zone_ids: pa.Array[Any]
    max_trip_hours: float = 24.0
    max_reject_share: float = 0.01


def known_zone_ids(warehouse: Warehouse) -> pa.Array[Any]:
    """The location ids of raw.taxi_zones; trips are checked against them, so zones are loaded first."""
    ids = [row[0] for row in warehouse.rows(f"select locationid from {RAW_SCHEMA}.taxi_zones order by 1")]
    if not ids:
        raise LoadError(f"{RAW_SCHEMA}.taxi_zones is empty: load the zone lookup ({ZONE_FILE}) before the trips")
    return pa.array(ids, type=pa.int64())


def classify_rows(trips: pa.RecordBatch, checks: RowChecks, loaded_at: dt.datetime) -> pa.Array[Any]:
    """Per row, the first reject reason it meets (REJECT_REASONS order), or null for a row to keep."""
    pickup, dropoff = trips.column("lpep_pickup_datetime"), trips.column("lpep_dropoff_datetime")
    longest = pa.scalar(dt.timedelta(hours=checks.max_trip_hours), type=pa.duration("us"))

    def unknown(column: str) -> pa.Array[Any]:
        ids = trips.column(column)
        return pc.and_(pc.is_valid(ids), pc.invert(pc.is_in(ids, value_set=checks.zone_ids)))

    broken = {
        "missing_pickup_or_dropoff": pc.or_(pc.is_null(pickup), pc.is_null(dropoff)),
        "dropoff_before_pickup": pc.less(dropoff, pickup),
        "longer_than_max_trip_hours": pc.greater(pc.subtract(dropoff, pickup), longest),
        "pickup_in_future": pc.greater(pickup, pa.scalar(loaded_at, type=pa.timestamp("us"))),
        "unknown_pickup_location": unknown("pulocationid"),
        "unknown_dropoff_location": unknown("dolocationid"),
        "non_finite_number": _any_non_finite(trips),
    }
    # pyarrow-stubs type pc.fill_null as pc.coalesce, whose arguments share one type, so a Python fill value
    # makes it object (type-var) and the list list[object] (misc); pyarrow takes False and returns a BooleanArray.
    masks: list[pa.BooleanArray] = [
        pc.fill_null(broken[reason], False)  # type: ignore[type-var, misc]
        for reason in REJECT_REASONS
    ]
    reasons: pa.Array[Any] = pc.case_when(
        pc.make_struct(*masks, field_names=list(REJECT_REASONS)),
        *(pa.scalar(reason, type=pa.string()) for reason in REJECT_REASONS),
    )
    return reasons


def _any_non_finite(trips: pa.RecordBatch) -> pa.Array[Any]:
    """Per row, whether a double column holds NaN or infinity: SQL would carry it into every mean and sum."""
    flags: pa.Array[Any] = pa.repeat(pa.scalar(False), trips.num_rows)
    for field in trips.schema:
        if pa.types.is_floating(field.type):
            column = trips.column(field.name)
            flags = pc.or_kleene(flags, pc.and_kleene(pc.is_valid(column), pc.invert(pc.is_finite(column))))
    return flags


def _kind_mismatch(name: str, source: pa.DataType, target: pa.DataType) -> str | None:
    """Why a file's column type cannot hold the logical type without a guess, or None when it can.

    Numbers stored as strings are checked value by value (cast_batch counts the ones that fail); a timestamp
    stored as a number is refused outright, as its unit (seconds, milliseconds...) would be a guess."""
    if pa.types.is_null(source) or pa.types.is_dictionary(source):
        return None
    if pa.types.is_timestamp(target):
        if pa.types.is_timestamp(source):
            return None
        return (
            f"column {name} is {source}, not a parquet timestamp: the loader does not guess the unit or zone of "
            f"numbers or strings; write it as a timestamp (New York wall-clock time, or zone-aware)"
        )
    textual = pa.types.is_string(source) or pa.types.is_large_string(source)
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source) or pa.types.is_decimal(source)
    if pa.types.is_string(target):
        return None if textual else f"column {name} is {source}, not a string"
    if numeric or textual:
        return None
    return f"column {name} is {source}, not a number"


def _count_uncastable(values: pa.ChunkedArray[Any] | pa.Array[Any], target: pa.DataType) -> tuple[int, object]:
    """Non-null values that do not convert to `target`, and one of them (cast is vectorised: go by unique values)."""
    bad, example = 0, None
    counts = pc.value_counts(pc.drop_null(values))
    for item in counts:
        try:
            pc.cast(pa.array([item["values"].as_py()], type=values.type), target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad += item["counts"].as_py()
            example = item["values"].as_py() if example is None else example
    return bad, example


def file_columns(path: Path, schema: pa.Schema) -> tuple[dict[str, str], tuple[str, ...]]:
    """Map logical column -> the file's column (case-insensitive); list the file's unknown columns."""
    try:
        file_schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise LoadError(f"{path}: not a readable parquet file ({error})") from error
    by_lower = {name.lower(): name for name in file_schema.names}
    missing = [field.name for field in schema if field.name not in by_lower]
    if missing:
        raise LoadError(f"{path}: required column(s) {missing} missing (the file has {file_schema.names})")
    mismatches = [
        reason
        for field in schema
        if (reason := _kind_mismatch(by_lower[field.name], file_schema.field(by_lower[field.name]).type, field.type))
    ]
    if mismatches:
        raise LoadError(f"{path}: {'; '.join(mismatches)}")
    known = {field.name for field in schema}
    ignored = tuple(name for name in file_schema.names if name.lower() not in known)
    return {field.name: by_lower[field.name] for field in schema}, ignored


def check_trip_file(path: Path) -> int:
    """Refuse a file that is not parquet, lacks a required column or holds no row, from its footer alone, before
    anything is written (`mlwatch load` checks every file first); its row count."""
    try:
        file_columns(path, GREEN_TRIP_SCHEMA)
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError) as error:
            raise LoadError(f"{path}: not a readable parquet file ({error})") from error
        if rows == 0:
            raise LoadError(f"{path}: the file holds no trips (0 rows)")
        if rows >= ROW_SPACE:
            raise LoadError(f"{path}: {rows:,} rows; trip ids leave room for {ROW_SPACE - 1:,} rows per file")
    except LoadError as error:
        raise LoadError(f"{error}; refused before anything was written") from error
    return rows


def cast_batch(
    batch: pa.RecordBatch, columns: dict[str, str], path: Path, parquet: pq.ParquetFile | None = None
) -> pa.RecordBatch:
    """The batch in the logical schema; a value that does not convert is an error naming file, column and count.

    With `parquet`, the count covers the whole file (its column is scanned again, batch by batch)."""
    arrays = []
    for field in GREEN_TRIP_SCHEMA:
        source = batch.column(columns[field.name])
        if pa.types.is_timestamp(source.type) and source.type.tz is not None:
            # an instant: shown as the TLC's New York wall-clock time, as the naive files are. pyarrow-stubs
            # type local_timestamp for naive microsecond arrays only; it takes any zoned timestamp array.
            in_new_york = pc.cast(source, pa.timestamp(source.type.unit, tz=TLC_TIMEZONE))
            source = pc.local_timestamp(in_new_york)  # type: ignore[call-overload]
        try:
            arrays.append(pc.cast(source, field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            if parquet is None:
                bad, example = _count_uncastable(source, field.type)
                scope = f"in this batch of {batch.num_rows} rows"
            else:
                bad, example = 0, None
                for part in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[columns[field.name]]):
                    part_bad, part_example = _count_uncastable(part.column(0), field.type)
                    bad += part_bad
                    example = part_example if example is None else example
                scope = f"among the file's {parquet.metadata.num_rows} rows"
            raise LoadError(
                f"{path}: column {columns[field.name]} ({source.type}) has {bad} value(s) {scope} that are not "
                f"{field.type}, e.g. {example!r}: {error}"
            ) from error
    return pa.RecordBatch.from_arrays(arrays, schema=GREEN_TRIP_SCHEMA)


def _unreadable(parquet: pq.ParquetFile, first_row: int, columns: list[str]) -> str:
    """Which column of which row group fails to decode (from the one holding `first_row` on), found by reading
    the groups' columns one at a time: one column chunk in memory at once."""
    start = 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if start + rows > first_row:
            broken = []
            for column in columns:
                try:
                    parquet.read_row_group(group, columns=[column])
                except (pa.ArrowException, OSError):
                    broken.append(column)
            if broken:
                return (
                    f"column(s) {broken} of row group {group} (rows {start}-{start + rows - 1}, {rows} rows) unreadable"
                )
        start += rows
    return f"unreadable after row {first_row}"


def read_trip_batches(
    path: Path, month: str, loaded_at: dt.datetime, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The file's trips in the raw table's schema, `batch_rows` at a time, with lineage columns.

    Memory is bounded by one batch (and one row group, which parquet decodes at once), whatever the file's size."""
    columns, _ = file_columns(path, GREEN_TRIP_SCHEMA)
    offset = 0
    parquet = None
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffered row groups stay cached until the end
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns.values())):
            trips = cast_batch(batch, columns, path, parquet)
            count = trips.num_rows
            positions = pa.array(np.arange(offset, offset + count, dtype=np.int64))
            lineage: list[pa.Array[Any]] = [
                pc.add(positions, month_key(month) * ROW_SPACE),
                pa.repeat(pa.scalar(path.name, type=pa.string()), count),
                pa.repeat(pa.scalar(month, type=pa.string()), count),
                positions,
                pa.repeat(pa.scalar(loaded_at, type=pa.timestamp("us")), count),
            ]
            yield pa.RecordBatch.from_arrays([*lineage, *trips.columns], schema=RAW_TRIPS_SCHEMA)
            offset += count
    except (pa.ArrowException, OSError) as error:
        where = (
            f"unreadable after row {offset}" if parquet is None else _unreadable(parquet, offset, [*columns.values()])
        )
        raise LoadError(f"{path}: {where} ({str(error).strip()})") from error


def _with_reason(batch: pa.RecordBatch, reasons: pa.Array[Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([*batch.columns, reasons], schema=REJECTED_TRIPS_SCHEMA)


def check_rejects(path: Path, rejected: Mapping[str, int], total: int, max_reject_share: float) -> None:
    """Refuse an empty file, or one whose quarantined share exceeds `max_reject_share`, with each reason's count."""
    if total == 0:
        raise LoadError(f"{path}: the file holds no trips (0 rows)")
    share = sum(rejected.values()) / total
    if share > max_reject_share:
        reasons_text = "; ".join(
            f"{reason} ({REJECT_REASONS[reason]}): {count:,} row{'s' * (count != 1)}"
            for reason, count in rejected.items()
        )
        raise LoadError(
            f"{path}: {sum(rejected.values()):,} of {total:,} rows ({share:.2%}) break a row rule, more than "
            f"max_reject_share = {max_reject_share:.2%} (dbt_project.yml vars): {reasons_text}"
        )


def load_trip_file(
    warehouse: Warehouse,
    path: Path,
    month: str,
    progress: Progress | None = None,
    checks: RowChecks | None = None,
) -> LoadedFile:
    """Replace the file's trips in raw.green_trips and its quarantined rows in raw.rejected_trips, atomically.

    Rows breaking a REJECT_REASONS rule go to raw.rejected_trips (same columns plus `reject_reason`, same trip_id
    and source_row_number as they would have had); a file whose rejected share exceeds `max_reject_share`, that
    holds no row, or that fails to read or cast anywhere is refused and the warehouse keeps its previous state."""
    _, ignored = file_columns(path, GREEN_TRIP_SCHEMA)
    checks = checks or RowChecks(zone_ids=known_zone_ids(warehouse))
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = outside_month = 0
    rejected: dict[str, int] = {}
    year, number = divmod(month_key(month), 100)
    month_start = pa.scalar(dt.datetime(year, number, 1), type=pa.timestamp("us"))
    next_start = pa.scalar(dt.datetime(year + number // 12, number % 12 + 1, 1), type=pa.timestamp("us"))
    try:
        with warehouse.transaction():
            for table in ("green_trips", "rejected_trips"):
                warehouse.execute(f"delete from {RAW_SCHEMA}.{table} where source_file = ?", [path.name])
            for batch in read_trip_batches(path, month, loaded_at):
                reasons = classify_rows(batch, checks, loaded_at)
                if reasons.null_count == batch.num_rows:
                    kept = batch
                else:
                    kept = batch.filter(pc.is_null(reasons))
                    is_rejected = pc.is_valid(reasons)
                    warehouse.append(
                        f"{RAW_SCHEMA}.rejected_trips",
                        _with_reason(batch.filter(is_rejected), reasons.filter(is_rejected)),
                    )
                    for item in pc.value_counts(reasons.drop_null()):
                        reason = item["values"].as_py()
                        rejected[reason] = rejected.get(reason, 0) + item["counts"].as_py()
                if kept.num_rows:
                    warehouse.append(f"{RAW_SCHEMA}.green_trips", kept)
                    pickups = kept.column("lpep_pickup_datetime")
                    outside = pc.or_(pc.less(pickups, month_start), pc.greater_equal(pickups, next_start))
                    outside_month += outside.true_count
                rows += kept.num_rows
                if progress:
                    progress(batch.num_rows)
            check_rejects(path, rejected, rows + sum(rejected.values()), checks.max_reject_share)
    except LoadError as error:
        raise LoadError(
            f"{error}; nothing was changed (the warehouse keeps its previous copy of {path.name})"
        ) from error
    return LoadedFile(path=path, rows=rows, ignored_columns=ignored, rejected=rejected, outside_month=outside_month)


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
