"""Spark's loader on a series of files, in one process (one JVM): run by tests/test_reliability.py as a child,
because a process's Spark session serves one warehouse and the test process may serve another.

    python tests/spark_loader_cases.py GOOD_FILE [BAD_FILE ...]   (DBT_TARGET=spark, SPARK_WAREHOUSE_DIR set)

Lands the zones and GOOD_FILE, then tries each BAD_FILE as `mlwatch load` would (pyarrow's footer check, then
Spark's loader). Prints one JSON line: what GOOD_FILE landed, and for each BAD_FILE the error (or none) and
whether each raw table is unchanged (row count and an order-independent hash of its rows).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlwatch import spark_load
from mlwatch.config import load_config
from mlwatch.errors import LoadError
from mlwatch.load import ZONE_FILE, RowChecks, check_trip_file, known_zone_ids, load_zones
from mlwatch.warehouse import Warehouse, WarehouseSettings, connect, ensure_raw_tables

PROJECT_DIR = Path(__file__).resolve().parents[1]
MONTH = "2021-02"
RAW_TABLES = ("green_trips", "rejected_trips", "taxi_zones")
LOAD_TIME = {"loaded_at"}


def checksums(warehouse: Warehouse) -> dict[str, list[int]]:
    sums = {}
    for table in RAW_TABLES:
        columns = ", ".join(f"`{c}`" for c in warehouse.table_columns("raw", table) if c not in LOAD_TIME)
        [(rows, total)] = warehouse.rows(
            f"select count(*), coalesce(sum(cast(xxhash64({columns}) as decimal(38, 0))), 0) from raw.{table}"
        )
        sums[table] = [int(rows), int(total)]
    return sums


def main(good: Path, bad: list[Path]) -> dict[str, object]:
    config = load_config(PROJECT_DIR)
    warehouse = connect(WarehouseSettings.from_env(PROJECT_DIR), create_database=True)
    ensure_raw_tables(warehouse)
    load_zones(warehouse, good.parent / ZONE_FILE)  # beside the file, as in the data folder
    checks = RowChecks(known_zone_ids(warehouse), config.max_trip_hours, config.max_reject_share)
    landed = spark_load.load_trip_file(warehouse, good, MONTH, None, checks)
    before = checksums(warehouse)
    refused = {}
    for path in bad:
        try:
            check_trip_file(path)
            spark_load.load_trip_file(warehouse, path, MONTH, None, checks)
            error = None
        except LoadError as failure:
            error = str(failure)
        refused[str(path)] = {"error": error, "unchanged": checksums(warehouse) == before}
    return {
        "rows": landed.rows,
        "rejected": warehouse.rows("select source_row_number, reject_reason from raw.rejected_trips"),
        "landed": warehouse.rows("select count(distinct source_row_number), min(trip_id) from raw.green_trips"),
        "refused": refused,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])))
