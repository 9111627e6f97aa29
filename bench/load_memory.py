"""Peak memory and speed of the loader on big months: it must stream, whatever the file's size.

Builds months of N trips by resampling the real TLC rows (written in a temp folder, deleted afterwards, never
committed), loads each with `mlwatch.load.load_trip_file` - the code `mlwatch load` runs, row checks and
quarantine included - in a fresh child process, and reports the child's peak RSS (`os.wait4`'s ru_maxrss) and
rows/s. A child that only imports the same modules and connects gives the fixed part of that memory.

    .venv/bin/python bench/load_memory.py                      # 1M and 10M rows into Postgres ($POSTGRES_*)
    .venv/bin/python bench/load_memory.py --rows 1000000 --target duckdb

Prints a table and writes bench/results/load_memory.json (git-ignored; one entry per target). The Postgres database is
$POSTGRES_DB (default mlwatch_bench); the bench deletes the rows it loaded when it is done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TAXI_DATA_DIR", ROOT.parent / "shared" / "data"))
SOURCES = ("green_tripdata_2021-01.parquet", "green_tripdata_2021-02.parquet")
MONTH = "2021-01"
WRITE_ROWS = 500_000
ROW_GROUP_ROWS = 1_048_576  # pyarrow's default; the TLC's own files use one row group per ~1M rows or fewer
RESULTS = ROOT / "bench" / "results" / "load_memory.json"


def build_month(path: Path, rows: int, seed: int = 5) -> None:
    """`rows` trips drawn with replacement from the real files, written in chunks (never all in memory)."""
    real = pa.concat_tables([pq.read_table(DATA_DIR / name) for name in SOURCES], promote_options="permissive")
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, real.schema) as writer:
        for start in range(0, rows, WRITE_ROWS):
            picks = rng.integers(0, real.num_rows, size=min(WRITE_ROWS, rows - start))
            writer.write_table(real.take(pa.array(picks)), row_group_size=ROW_GROUP_ROWS)


CHILD = """
import json, sys, time
from pathlib import Path
from mlwatch.load import RowChecks, known_zone_ids, load_trip_file, load_zones
from mlwatch.warehouse import WarehouseSettings, connect, ensure_raw_tables
settings = WarehouseSettings.from_env(Path(sys.argv[1]))
warehouse = connect(settings, create_database=True)
ensure_raw_tables(warehouse)
result = {"rows": 0, "rejected": 0, "seconds": 0.0}
if sys.argv[2] != "-":
    load_zones(warehouse, Path(sys.argv[3]))
    checks = RowChecks(known_zone_ids(warehouse))
    started = time.perf_counter()
    loaded = load_trip_file(warehouse, Path(sys.argv[2]), sys.argv[4], checks=checks)
    result = {"rows": loaded.rows, "rejected": sum(loaded.rejected.values()), "seconds": time.perf_counter() - started}
warehouse.close()
print(json.dumps(result))
"""


def run_child(env: dict[str, str], path: Path | None) -> dict[str, float]:
    """Load `path` (or, with None, only import and connect) in a child; its result and peak RSS in MiB."""
    args = [sys.executable, "-c", CHILD, str(ROOT), str(path) if path else "-", str(DATA_DIR / "taxi_zone_lookup.csv")]
    process = subprocess.Popen([*args, MONTH], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the loader child failed (exit {process.returncode})")
    return {**json.loads(output.strip().splitlines()[-1]), "peak_rss_mib": usage.ru_maxrss / 1024}


def cleanup(env: dict[str, str], path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from mlwatch.warehouse import WarehouseSettings, connect\n"
        "w = connect(WarehouseSettings.from_env(Path(sys.argv[1])))\n"
        "w.execute('delete from raw.green_trips where source_file = ?', [sys.argv[2]]); w.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT), path.name], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--target", choices=["postgres", "duckdb"], default="postgres")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlwatch-bench-") as folder:
        env = {**os.environ, "DBT_TARGET": args.target, "DUCKDB_PATH": str(Path(folder) / "bench.duckdb")}
        env.setdefault("POSTGRES_DB", "mlwatch_bench")
        env.setdefault("POSTGRES_HOST", "127.0.0.1")
        baseline = run_child(env, None)["peak_rss_mib"]
        results = []
        for rows in args.rows:
            path = Path(folder) / f"green_tripdata_{MONTH}.parquet"
            started = time.perf_counter()
            build_month(path, rows)
            built = time.perf_counter() - started
            measured = run_child(env, path)
            if args.target == "postgres":
                cleanup(env, path)
            results.append(
                {
                    "rows": rows,
                    "file_mib": round(path.stat().st_size / 2**20, 1),
                    "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
                    "loaded_rows": measured["rows"],
                    "rejected_rows": measured["rejected"],
                    "seconds": round(measured["seconds"], 1),
                    "rows_per_second": round(measured["rows"] / measured["seconds"]),
                    "peak_rss_mib": round(measured["peak_rss_mib"]),
                    "build_seconds": round(built, 1),
                }
            )
            path.unlink()

    print(f"loader peak memory, {args.target} (a child that only imports and connects: {baseline:.0f} MiB)")
    print(f"{'rows':>12} {'file MiB':>9} {'row groups':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS MiB':>13}")
    for r in results:
        print(
            f"{r['rows']:>12,} {r['file_mib']:>9} {r['row_groups']:>10} {r['seconds']:>8} "
            f"{r['rows_per_second']:>10,} {r['peak_rss_mib']:>13,}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    report = {
        "batch_rows": 200_000,
        "import_and_connect_rss_mib": round(baseline),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "results": results,
    }
    RESULTS.write_text(json.dumps({**previous, args.target: report}, indent=2) + "\n")  # one entry per target
    print(f"→ {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
