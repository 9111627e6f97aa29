"""Load benchmark: the loader's Postgres COPY path against pandas.DataFrame.to_sql, on the same 1M trips.

The rows are real TLC trips resampled to 1M (deterministically), in the raw table's logical schema.
COPY goes through mlwatch.warehouse.PostgresWarehouse.append in the loader's batches; to_sql is pandas'
default (SQLAlchemy + psycopg, one INSERT per row batch). Both write into empty tables of the same
definition in a throwaway database.

pandas.to_sql needs SQLAlchemy, which mlwatch does not depend on; `make bench` adds it for this run only:
    uv run --no-sync --with 'sqlalchemy>=2' python bench/load_copy.py [--rows 1000000] [--runs 3]

Prints a table and writes bench/results/load_copy.json (git-ignored).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from benchlib import DATA_DIR, POSTGRES, drop_database, save, spread, table

from mlwatch.load import BATCH_ROWS
from mlwatch.schema import GREEN_TRIP_SCHEMA, RAW_TRIPS_SCHEMA
from mlwatch.warehouse import PostgresWarehouse, column_definitions

DATABASE = "mlwatch_bench_load"
SOURCES = ("green_tripdata_2021-01.parquet", "green_tripdata_2021-02.parquet")


def trips(rows: int, seed: int = 7) -> pa.Table:
    """`rows` real trips drawn with replacement, cast to the raw table's schema, with lineage columns."""
    real = pa.concat_tables([pq.read_table(DATA_DIR / name) for name in SOURCES], promote_options="permissive")
    real = real.rename_columns([name.lower() for name in real.column_names])
    picked = real.take(pa.array(np.random.default_rng(seed).integers(0, real.num_rows, size=rows)))
    columns = {field.name: picked.column(field.name).cast(field.type) for field in GREEN_TRIP_SCHEMA}
    lineage = {
        "trip_id": pa.array(np.arange(rows, dtype=np.int64)),
        "source_file": pa.array(["bench"] * rows),
        "source_month": pa.array(["2021-01"] * rows),
        "source_row_number": pa.array(np.arange(rows, dtype=np.int64)),
        "loaded_at": pc.cast(pa.array([0] * rows, pa.int64()), pa.timestamp("us")),
    }
    return pa.table({**lineage, **columns}, schema=RAW_TRIPS_SCHEMA)


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import sqlalchemy

    data = trips(args.rows)
    frame = data.to_pandas()
    drop_database(DATABASE)
    params = {**POSTGRES, "port": int(POSTGRES["port"]), "dbname": DATABASE}
    warehouse = PostgresWarehouse(params, create_database=True)
    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg://{POSTGRES['user']}:{POSTGRES['password']}@{POSTGRES['host']}:{POSTGRES['port']}/{DATABASE}"
    )
    warehouse.execute("create schema bench")
    for name in ("copied", "to_sql"):
        warehouse.execute(f"create table bench.{name} ({column_definitions(RAW_TRIPS_SCHEMA)})")

    def copy() -> None:
        with warehouse.transaction():
            for batch in data.to_batches(max_chunksize=BATCH_ROWS):
                warehouse.append("bench.copied", batch)

    def to_sql() -> None:
        frame.to_sql("to_sql", engine, schema="bench", if_exists="append", index=False)

    seconds: dict[str, list[float]] = {"copy": [], "to_sql": []}
    for _ in range(args.runs):
        for name, action, target in (("copy", copy, "copied"), ("to_sql", to_sql, "to_sql")):
            warehouse.execute(f"truncate bench.{target}")
            seconds[name].append(timed(action))
            [(loaded,)] = warehouse.rows(f"select count(*) from bench.{target}")
            assert loaded == args.rows, f"{name} loaded {loaded:,} rows, not {args.rows:,}"
    warehouse.close()
    engine.dispose()
    drop_database(DATABASE)

    results = {name: spread(values) for name, values in seconds.items()}
    results["rows"] = args.rows
    results["speed_up"] = results["to_sql"]["median"] / results["copy"]["median"]
    path = save("load_copy", results)
    rows = [
        [
            what,
            f"{results[name]['median']:.1f} ({results[name]['min']:.1f}-{results[name]['max']:.1f})",
            f"{args.rows / results[name]['median']:,.0f}",
        ]
        for name, what in (("copy", "COPY (PostgresWarehouse.append)"), ("to_sql", "pandas.DataFrame.to_sql"))
    ]
    print(table([f"load of {args.rows:,} trips into Postgres", "seconds: median (min-max)", "rows/s"], rows))
    print(f"COPY is {results['speed_up']:.1f}x faster than to_sql\n→ {path}")


if __name__ == "__main__":
    main()
