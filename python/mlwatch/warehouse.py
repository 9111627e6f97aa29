"""The warehouses behind one small interface: DuckDB (embedded default), Postgres (served) and Spark (mlwatch.spark).

Bulk paths only: DuckDB scans Arrow batches in place; Postgres receives them through COPY; Spark reads the trip
files itself.
SQL is written with `?` placeholders and values are always passed as parameters.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from mlwatch.errors import WarehouseError
from mlwatch.schema import RAW_TABLES

RAW_SCHEMA = "raw"
TARGETS = ("duckdb", "postgres", "spark")
SPARK_DIR, SPARK_MASTER = "warehouse/spark", "local[*]"  # SPARK_WAREHOUSE_DIR, SPARK_MASTER when unset

_SQL_TYPES = {
    pa.int64(): "bigint",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.timestamp("us"): "timestamp",
    pa.date32(): "date",
    pa.bool_(): "boolean",
}
# Spark SQL spells two of them differently (its `timestamp` is wall-clock time: mlwatch.spark.session_config).
_SPARK_TYPES = {**_SQL_TYPES, pa.float64(): "double", pa.string(): "string"}


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the data lives; read from the same environment variables as profiles/profiles.yml."""

    target: str
    duckdb_path: Path
    postgres: dict[str, Any]
    spark_dir: Path = Path(SPARK_DIR)  # the Spark warehouse folder and its Derby metastore
    spark_master: str = SPARK_MASTER

    @classmethod
    def from_env(cls, project_dir: Path, env: dict[str, str] | None = None) -> WarehouseSettings:
        env = dict(os.environ if env is None else env)
        target = env.get("DBT_TARGET", "duckdb")
        if target not in TARGETS:
            raise WarehouseError(f"DBT_TARGET={target!r}: expected one of {', '.join(TARGETS)}")
        duckdb_path = Path(env.get("DUCKDB_PATH", "warehouse/mlwatch.duckdb"))
        if not duckdb_path.is_absolute():
            duckdb_path = project_dir / duckdb_path
        postgres = {
            "host": env.get("POSTGRES_HOST", "localhost"),
            "port": int(env.get("POSTGRES_PORT", "5432")),
            "user": env.get("POSTGRES_USER", "postgres"),
            "password": env.get("POSTGRES_PASSWORD", ""),
            "dbname": env.get("POSTGRES_DB", "mlwatch"),
        }
        spark_dir = Path(env.get("SPARK_WAREHOUSE_DIR", SPARK_DIR))
        if not spark_dir.is_absolute():
            spark_dir = project_dir / spark_dir
        return cls(
            target=target,
            duckdb_path=duckdb_path,
            postgres=postgres,
            spark_dir=spark_dir,
            spark_master=env.get("SPARK_MASTER", SPARK_MASTER),
        )

    def dbt_env(self) -> dict[str, str]:
        """The variables profiles/profiles.yml reads, so dbt sees the warehouse Python writes to."""
        return {
            "DBT_TARGET": self.target,
            "DUCKDB_PATH": str(self.duckdb_path),
            "POSTGRES_HOST": self.postgres["host"],
            "POSTGRES_PORT": str(self.postgres["port"]),
            "POSTGRES_USER": self.postgres["user"],
            "POSTGRES_PASSWORD": self.postgres["password"],
            "POSTGRES_DB": self.postgres["dbname"],
            "SPARK_WAREHOUSE_DIR": str(self.spark_dir),
            "SPARK_MASTER": self.spark_master,
        }

    def describe(self) -> str:
        if self.target == "duckdb":
            return f"duckdb:{self.duckdb_path}"
        if self.target == "spark":
            return f"spark:{self.spark_master}:{self.spark_dir}"
        pg = self.postgres
        return f"postgres://{pg['user']}@{pg['host']}:{pg['port']}/{pg['dbname']}"


class Warehouse(Protocol):
    dialect: str

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None: ...

    def query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame: ...

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]: ...

    def table_columns(self, schema: str, table: str) -> list[str]:
        """The table's columns, none if it does not exist."""
        ...

    def transaction(self) -> Any: ...

    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def column_definitions(schema: pa.Schema, dialect: str = "duckdb") -> str:
    types = _SPARK_TYPES if dialect == "spark" else _SQL_TYPES
    return ", ".join(f"{field.name} {types[field.type]}" for field in schema)


def _information_schema_columns(warehouse: Warehouse, schema: str, table: str) -> list[str]:
    rows = warehouse.rows(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    )
    return [row[0] for row in rows]


class DuckDBWarehouse:
    dialect = "duckdb"

    def __init__(self, path: Path) -> None:
        import duckdb

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path))
        except duckdb.IOException as error:
            raise WarehouseError(f"Cannot open {path}: {error} (is another mlwatch or dbt run using it?)") from error

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        self._con.execute(sql, list(params))

    def query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        return self._con.execute(sql, list(params)).df()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, list(params)).fetchall()

    def table_columns(self, schema: str, table: str) -> list[str]:
        return _information_schema_columns(self, schema, table)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._con.begin()
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> None:
        columns = ", ".join(data.schema.names)
        # Registered as a reader: DuckDB keeps a registered table or batch alive until the transaction ends, so a
        # file appended batch by batch in one transaction would otherwise stay in memory whole.
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        self._con.register("_mlwatch_batch", pa.RecordBatchReader.from_batches(data.schema, batches))
        try:
            self._con.execute(f"insert into {table} ({columns}) select {columns} from _mlwatch_batch")
        finally:
            self._con.unregister("_mlwatch_batch")

    def close(self) -> None:
        self._con.close()


class PostgresWarehouse:
    dialect = "postgres"

    def __init__(self, params: dict[str, Any], create_database: bool = False) -> None:
        import psycopg

        self._psycopg = psycopg
        try:
            self._con = psycopg.connect(**params, autocommit=True)
        except psycopg.OperationalError as error:
            if create_database and f'database "{params["dbname"]}" does not exist' in str(error):
                self._create_database(params)
                self._con = psycopg.connect(**params, autocommit=True)
            else:
                raise WarehouseError(
                    f"Cannot connect to Postgres at {params['host']}:{params['port']} as {params['user']}, "
                    f"database {params['dbname']}: {str(error).strip()} "
                    "(set POSTGRES_HOST/PORT/USER/PASSWORD/DB, or start it with `docker compose up -d db`)"
                ) from error

    def _create_database(self, params: dict[str, Any]) -> None:
        from psycopg import sql

        with self._psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(params["dbname"])))
            # PUBLIC's CONNECT and TEMPORARY would let every role of the server in, the read-only one included
            admin.execute(sql.SQL("revoke all on database {} from public").format(sql.Identifier(params["dbname"])))

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        self._con.execute(self._sql(sql), list(params))

    def query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        cursor = self._con.execute(self._sql(sql), list(params))
        names = [column.name for column in cursor.description or []]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=names)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(self._sql(sql), list(params)).fetchall()

    def table_columns(self, schema: str, table: str) -> list[str]:
        return _information_schema_columns(self, schema, table)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._con.transaction():
            yield

    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> None:
        # CSV is the fastest COPY input Arrow writes natively; an empty unquoted field is NULL. The server's
        # parsing is the slow side: Arrow encodes the next chunk in a thread (it releases the GIL) meanwhile.
        chunks = [data.slice(start, COPY_CHUNK_ROWS) for start in range(0, data.num_rows, COPY_CHUNK_ROWS)]
        columns = ", ".join(data.schema.names)
        with (
            ThreadPoolExecutor(max_workers=1) as encoder,
            self._con.cursor().copy(f"copy {table} ({columns}) from stdin with (format csv)") as copy,
        ):
            for encoded in encoder.map(_csv, chunks):
                copy.write(encoded)

    def close(self) -> None:
        self._con.close()


COPY_CHUNK_ROWS = 50_000


def _csv(data: pa.Table | pa.RecordBatch) -> memoryview:
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getbuffer()


def connect(settings: WarehouseSettings, create_database: bool = False) -> Warehouse:
    if settings.target == "duckdb":
        return DuckDBWarehouse(settings.duckdb_path)
    if settings.target == "spark":
        from mlwatch.spark import SparkWarehouse  # PySpark: only the Spark target imports it

        return SparkWarehouse(settings.spark_dir, settings.spark_master)
    return PostgresWarehouse(settings.postgres, create_database=create_database)


@contextmanager
def connected(settings: WarehouseSettings, create_database: bool = False) -> Iterator[Warehouse]:
    """A connection closed on leaving: DuckDB admits one writing process, and dbt runs between a step's parts."""
    warehouse = connect(settings, create_database=create_database)
    try:
        yield warehouse
    finally:
        warehouse.close()


def ensure_raw_tables(warehouse: Warehouse) -> None:
    """Create the raw schema and the tables Python writes, if missing (dbt reads them as sources)."""
    warehouse.execute(f"create schema if not exists {RAW_SCHEMA}")
    spark = warehouse.dialect == "spark"
    types = _SPARK_TYPES if spark else _SQL_TYPES
    for name, schema in RAW_TABLES.items():
        storage = ""
        if spark:
            from mlwatch.spark import PARTITION_COLUMNS

            storage = " using parquet" + (
                f" partitioned by ({PARTITION_COLUMNS[name]})" if name in PARTITION_COLUMNS else ""
            )
        columns = column_definitions(schema, warehouse.dialect)
        warehouse.execute(f"create table if not exists {RAW_SCHEMA}.{name} ({columns}){storage}")
        # A warehouse made by an older mlwatch gets the columns added since.
        present = set(warehouse.table_columns(RAW_SCHEMA, name))
        for field in schema:
            if field.name not in present:
                column = f"{field.name} {types[field.type]}"
                warehouse.execute(
                    f"alter table {RAW_SCHEMA}.{name} add " + (f"columns ({column})" if spark else f"column {column}")
                )
