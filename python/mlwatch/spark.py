"""Apache Spark as the third warehouse: one in-process SparkSession (PySpark), shared by mlwatch and dbt-spark.

dbt-spark's `session` method calls `SparkSession.builder.getOrCreate()`, so the session mlwatch starts first, with
the configuration profiles/profiles.yml gives dbt (`session_config`), is the one dbt runs in: one JVM per process,
and one process at a time on the Derby metastore, which admits a single JVM.

Spark's built-in parquet tables have neither transactions nor DELETE and UPDATE (those need Delta Lake or Iceberg,
whose jars a local session would download). The raw tables that hold a file's or a model's rows are partitioned by
it, and replacing them is an `insert overwrite` of one partition; the small tables the other steps rewrite are
replaced whole: within `transaction()`, the deletes and appends of each table are kept and, when the block ends
without an error, written as one overwrite of the table with its kept rows and the new ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from mlwatch.errors import WarehouseError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MIN_JAVA = 17
# The raw tables whose rows are replaced a partition at a time, by the column that names the partition.
PARTITION_COLUMNS = {"green_trips": "source_file", "rejected_trips": "source_file", "predictions": "model_version"}

_DELETE = re.compile(r"\s*delete\s+from\s+(?P<table>[\w.]+)(?:\s+where\s+(?P<where>.*))?\s*", re.I | re.S)
_UPDATE = re.compile(r"\s*update\s+(?P<table>[\w.]+)\s+set\s+(?P<set>.*?)\s+where\s+(?P<where>.*)", re.I | re.S)
_ASSIGNMENT = re.compile(r"\s*(\w+)\s*=\s*\?\s*")


def session_config(spark_dir: Path, master: str) -> dict[str, str]:
    """The session's settings; profiles/profiles.yml's `server_side_parameters` give dbt the same ones."""
    return {
        "spark.master": master,
        "spark.sql.warehouse.dir": str(spark_dir / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={spark_dir / 'metastore_db'};create=true"
        ),
        # derby.log goes to the JVM's working directory unless told otherwise
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={spark_dir}",
        # `timestamp` is wall-clock time without a zone, as on DuckDB and Postgres; the zone for the odd
        # conversion (current_timestamp) is UTC, as the other steps stamp their rows.
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # its bars would draw over mlwatch's own
        "spark.log.level": "ERROR",
    }


def java_major_version() -> int | None:
    """The major version of the `java` a new JVM would run (JAVA_HOME first, as PySpark does), or None if none."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        return None
    try:
        output = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=30).stderr
    except OSError:
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0_392" is Java 8


def require_java() -> None:
    major = java_major_version()
    if major is None or major < MIN_JAVA:
        found = "no java on PATH or in JAVA_HOME" if major is None else f"Java {major} found"
        raise WarehouseError(
            f"DBT_TARGET=spark needs Java {MIN_JAVA} or newer ({found}): install a JDK {MIN_JAVA}+ "
            "(e.g. apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one"
        )


def session(spark_dir: Path, master: str) -> SparkSession:
    """This process's SparkSession, started on first use after checking Java (a JVM start error is a stack trace)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        wanted = Path(session_config(spark_dir, master)["spark.sql.warehouse.dir"])
        serving = Path(str(active.conf.get("spark.sql.warehouse.dir")).removeprefix("file:"))
        if serving != wanted:
            # a JVM holds one metastore: a second warehouse would silently read and write the first one
            raise WarehouseError(
                f"this process's Spark session serves {serving}, not {wanted}; one process works on one Spark warehouse"
            )
        return active
    require_java()
    spark_dir.mkdir(parents=True, exist_ok=True)
    # Python work on the executors (the DLE loss model) runs in this interpreter's environment, not PATH's python3
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.enableHiveSupport()
    for name, value in session_config(spark_dir, master).items():
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class _Pending:
    """One table's writes inside a transaction: its delete conditions (with their parameters) and appended rows."""

    deletes: list[tuple[str, list[Any]]] = field(default_factory=list)
    appends: list[pa.Table] = field(default_factory=list)


class SparkWarehouse:
    dialect = "spark"

    def __init__(self, spark_dir: Path, master: str) -> None:
        self.spark = session(spark_dir, master)
        self._pending: dict[str, _Pending] | None = None

    def _sql(self, sql: str, params: Iterable[Any] = ()) -> DataFrame:
        args = list(params)
        return self.spark.sql(sql, args=args) if args else self.spark.sql(sql)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        if deleted := _DELETE.fullmatch(sql):
            with self.transaction():
                self._table(deleted["table"]).deletes.append((deleted["where"] or "true", list(params)))
        elif updated := _UPDATE.fullmatch(sql):
            self._update(updated["table"], updated["set"], updated["where"], list(params))
        else:
            self._sql(sql, params).collect()

    def query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        return self._sql(sql, params).toPandas()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._sql(sql, params).collect()]

    def table_columns(self, schema: str, table: str) -> list[str]:
        if not self.spark.catalog.tableExists(f"{schema}.{table}"):
            return []
        return list(self.spark.table(f"{schema}.{table}").columns)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._pending is not None:  # nested: part of the enclosing block
            yield
            return
        self._pending = {}
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        for table, writes in pending.items():
            self._rewrite(table, writes)

    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> None:
        with self.transaction():
            self._table(table).appends.append(data if isinstance(data, pa.Table) else pa.Table.from_batches([data]))

    def close(self) -> None:
        """Nothing: the session lives as long as the process, for dbt and the next connection."""

    def _table(self, table: str) -> _Pending:
        assert self._pending is not None
        return self._pending.setdefault(table, _Pending())

    def _rewrite(self, table: str, writes: _Pending) -> None:
        """Overwrite `table` with its rows that no delete matches, then the appended ones."""
        target = self.spark.table(table)
        kept = target
        if writes.deletes:
            matched = " or ".join(f"coalesce(({where}), false)" for where, _ in writes.deletes)
            params = [param for _, params in writes.deletes for param in params]
            kept = self._sql(f"select * from {table} where not ({matched})", params)
        for data in writes.appends:
            added = self.spark.createDataFrame(data)
            kept = kept.unionByName(
                added.select([added[name].cast(target.schema[name].dataType).alias(name) for name in target.columns])
            )
        # Materialized first: Spark refuses to overwrite a table the same query reads.
        kept.localCheckpoint().write.insertInto(table, overwrite=True)

    def _update(self, table: str, assignments: str, where: str, params: list[Any]) -> None:
        """`update table set a = ?, b = ? where ...` as an overwrite with the assigned columns' new values."""
        columns = [_ASSIGNMENT.fullmatch(part) for part in assignments.split(",")]
        if not all(columns):
            raise WarehouseError(f"SparkWarehouse updates only `column = ?` assignments: {assignments}")
        names = [match.group(1) for match in columns if match]
        values, where_params = params[: len(names)], params[len(names) :]
        target = self.spark.table(table)
        select, args = [], []
        for name in target.columns:
            if name in names:
                spark_type = target.schema[name].dataType.simpleString()
                select.append(
                    f"case when coalesce(({where}), false) then cast(? as {spark_type}) else {name} end as {name}"
                )
                args += [*where_params, values[names.index(name)]]
            else:
                select.append(name)
        self._sql(f"select {', '.join(select)} from {table}", args).localCheckpoint().write.insertInto(
            table, overwrite=True
        )

    def replace_partition(self, table: str, value: str, select_sql: str, params: Iterable[Any] = ()) -> None:
        """Replace the rows of one partition of `table` (PARTITION_COLUMNS) by `select_sql`'s, which yields the
        table's other columns in its order: Spark swaps the partition's files when the query has succeeded."""
        column = PARTITION_COLUMNS[table.split(".")[-1]]
        self._sql(
            f"insert overwrite table {table} partition ({column} = {sql_literal(value)}) {select_sql}", params
        ).collect()
