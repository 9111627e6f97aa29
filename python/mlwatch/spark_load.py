"""The loader on Spark: a TLC file read by Spark's parquet reader, cast, checked and landed in Spark SQL.

The same contract as mlwatch.load on the other warehouses, with no row passing through Python: the file is cast to
the logical schema (a value that does not convert refuses the file, naming column, count and an example), each row
gets its first REJECT_REASONS rule, the file is refused when the quarantined share exceeds max_reject_share, and
only then are the file's partitions of raw.green_trips and raw.rejected_trips overwritten. Each overwrite swaps the
partition's files once its query has succeeded, so a failure leaves the previous copy; the two tables are two swaps.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from mlwatch.errors import LoadError
from mlwatch.load import (
    REJECT_REASONS,
    ROW_SPACE,
    TLC_TIMEZONE,
    LoadedFile,
    Progress,
    RowChecks,
    check_rejects,
    file_columns,
    known_zone_ids,
    month_key,
)
from mlwatch.schema import GREEN_TRIP_SCHEMA
from mlwatch.warehouse import RAW_SCHEMA, Warehouse

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

_SPARK_TYPES = {pa.int64(): "bigint", pa.float64(): "double", pa.string(): "string", pa.timestamp("us"): "timestamp"}


def _timestamp(literal: dt.datetime) -> str:
    return f"timestamp_ntz'{literal:%Y-%m-%d %H:%M:%S.%f}'"


def _cast(column: str, source: DataType, target: pa.DataType) -> tuple[str, str]:
    """(the column in the logical type, the condition of a value that does not convert), as SQL on the file."""
    from pyspark.sql.types import FractionalType, TimestampType

    quoted = f"`{column}`"
    if pa.types.is_timestamp(target):
        if isinstance(source, TimestampType):  # an instant: the TLC's New York wall-clock time, as the naive files
            return f"to_timestamp_ntz(from_utc_timestamp({quoted}, '{TLC_TIMEZONE}'))", "false"
        return f"cast({quoted} as timestamp)", "false"
    spark_type = _SPARK_TYPES[target]
    converted = f"try_cast({quoted} as {spark_type})"
    bad = f"{converted} is null"
    if pa.types.is_integer(target) and isinstance(source, FractionalType):  # pyarrow's safe cast refuses 1.5
        bad += f" or {converted} != {quoted}"
    return converted, f"({quoted} is not null and ({bad}))"


def _reason(checks: RowChecks, loaded_at: dt.datetime, doubles: list[str]) -> str:
    """The first REJECT_REASONS rule a row breaks, as a `case` over the cast trips."""
    zones = ", ".join(str(zone) for zone in checks.zone_ids.to_pylist())
    conditions = {
        "missing_pickup_or_dropoff": "lpep_pickup_datetime is null or lpep_dropoff_datetime is null",
        "dropoff_before_pickup": "lpep_dropoff_datetime < lpep_pickup_datetime",
        "longer_than_max_trip_hours": "timestampdiff(MICROSECOND, lpep_pickup_datetime, lpep_dropoff_datetime) > "
        f"{round(checks.max_trip_hours * 3_600_000_000)}",
        "pickup_in_future": f"lpep_pickup_datetime > {_timestamp(loaded_at)}",
        "unknown_pickup_location": f"pulocationid not in ({zones})",
        "unknown_dropoff_location": f"dolocationid not in ({zones})",
        "non_finite_number": " or ".join(f"isnan({c}) or abs({c}) = double('infinity')" for c in doubles) or "false",
    }
    assert list(conditions) == list(REJECT_REASONS)
    whens = "\n".join(f"        when {condition} then '{reason}'" for reason, condition in conditions.items())
    return f"case\n{whens}\n    end"


def load_trip_file(
    warehouse: Warehouse,
    path: Path,
    month: str,
    progress: Progress | None = None,
    checks: RowChecks | None = None,
) -> LoadedFile:
    """mlwatch.load.load_trip_file on Spark: the same arguments, result and failures."""
    from mlwatch.spark import SparkWarehouse

    assert isinstance(warehouse, SparkWarehouse)
    spark_warehouse, spark = warehouse, warehouse.spark
    columns, ignored = file_columns(path, GREEN_TRIP_SCHEMA)
    checks = checks or RowChecks(zone_ids=known_zone_ids(warehouse))
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    try:
        frame = spark.read.parquet(str(path.resolve())).selectExpr("*", "_metadata.row_index as _mlwatch_row_index")
        source_types = {name: frame.schema[name].dataType for name in columns.values()}
        view = f"_mlwatch_file_{uuid.uuid4().hex}"
        frame.createOrReplaceTempView(view)
        casts = {
            field.name: _cast(columns[field.name], source_types[columns[field.name]], field.type)
            for field in GREEN_TRIP_SCHEMA
        }
        doubles = [field.name for field in GREEN_TRIP_SCHEMA if pa.types.is_floating(field.type)]
        year, number = divmod(month_key(month), 100)
        month_start, next_start = dt.datetime(year, number, 1), dt.datetime(year + number // 12, number % 12 + 1, 1)
        lineage = (
            f"cast({month_key(month)} as bigint) * {ROW_SPACE} + _mlwatch_row_index as trip_id, "
            f"'{month}' as source_month, _mlwatch_row_index as source_row_number, {_timestamp(loaded_at)} as loaded_at"
        )
        trips = f"select {lineage}, {', '.join(f'{cast} as {name}' for name, (cast, _) in casts.items())} from {view}"
        classified = f"select *, {_reason(checks, loaded_at, doubles)} as reject_reason from ({trips}) as trips"

        uncastable = ", ".join(
            f"count_if({bad}), min(case when {bad} then cast(`{columns[name]}` as string) end)"
            for name, (_, bad) in casts.items()
        )
        [bad_counts] = spark_warehouse.rows(f"select count(*), {uncastable} from {view}")
        total = int(bad_counts[0])
        for index, field in enumerate(GREEN_TRIP_SCHEMA):
            bad, example = bad_counts[1 + 2 * index], bad_counts[2 + 2 * index]
            if bad:
                source = columns[field.name]
                raise LoadError(
                    f"{path}: column {source} ({source_types[source].simpleString()}) has {bad} value(s) among the "
                    f"file's {total} rows that are not {field.type}, e.g. {example!r}"
                )
        counts = spark_warehouse.rows(
            f"select reject_reason, count(*), count_if(lpep_pickup_datetime < {_timestamp(month_start)} "
            f"or lpep_pickup_datetime >= {_timestamp(next_start)}) from ({classified}) as classified "
            "group by reject_reason"
        )
        rejected = {str(reason): int(rows) for reason, rows, _ in counts if reason is not None}
        rows = sum(int(rows) for reason, rows, _ in counts if reason is None)
        outside_month = sum(int(outside) for reason, _, outside in counts if reason is None)
        check_rejects(path, rejected, total, checks.max_reject_share)
        for table, condition in (("green_trips", "is null"), ("rejected_trips", "is not null")):
            target = f"{RAW_SCHEMA}.{table}"
            names = [name for name in spark_warehouse.table_columns(RAW_SCHEMA, table) if name != "source_file"]
            spark_warehouse.replace_partition(
                target,
                path.name,
                f"select {', '.join(names)} from ({classified}) as classified where reject_reason {condition}",
            )
        spark.catalog.dropTempView(view)
    except LoadError as error:
        raise LoadError(
            f"{error}; nothing was changed (the warehouse keeps its previous copy of {path.name})"
        ) from error
    except Exception as error:  # PySpark's errors: the file is unreadable where pyarrow's footer was not
        if type(error).__module__.startswith(("pyspark", "py4j")):
            raise LoadError(
                f"{path}: unreadable by Spark ({str(error).strip().splitlines()[0]}); nothing was changed "
                f"(the warehouse keeps its previous copy of {path.name})"
            ) from error
        raise
    if progress:
        progress(total)
    return LoadedFile(path=path, rows=rows, ignored_columns=ignored, rejected=rejected, outside_month=outside_month)
