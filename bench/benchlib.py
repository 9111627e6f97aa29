"""What the benchmarks share: isolated pipelines, child processes timed with their peak memory, results.

Every measured step runs in a child process, so its peak memory is its own: the larger of `os.wait4`'s
ru_maxrss (its largest process, children it waited for included) and the peak of its process tree's summed
RSS, sampled every 0.2 s (Spark's driver JVM is a child the Python process need not wait for, and it runs
beside Python: the sum is what the machine must hold). Postgres' server processes are not children: their
memory is not in these figures.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA_DIR = Path(os.environ.get("TAXI_DATA_DIR", ROOT.parent / "shared" / "data"))
VENV_BIN = Path(sys.executable).parent
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# dbt's line for each model it built, with the model's own seconds (DuckDB prints OK, Postgres the row count)
MODEL_SECONDS = re.compile(r"OK created sql \w+ model intermediate\.(\w+) .* in ([\d.]+)s\]")
POSTGRES = {
    "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "port": os.environ.get("POSTGRES_PORT", "5432"),
    "user": os.environ.get("POSTGRES_USER", "postgres"),
    "password": os.environ.get("POSTGRES_PASSWORD", ""),
}


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mib: float
    output: str


def pipeline_env(target: str, folder: Path, database: str, **extra: str) -> dict[str, str]:
    """A private warehouse (DuckDB file in `folder`, or Postgres database `database`) and dbt artifacts."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DBT_TARGET": target,
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "POSTGRES_HOST": POSTGRES["host"],
        "POSTGRES_PORT": POSTGRES["port"],
        "POSTGRES_USER": POSTGRES["user"],
        "POSTGRES_PASSWORD": POSTGRES["password"],
        "POSTGRES_DB": database,
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAXI_DATA_DIR": str(DATA_DIR),
        "MLWATCH_PROJECT_DIR": str(ROOT),
    }
    env.pop("MLWATCH_REFERENCE_MONTH", None)
    env.pop("MLWATCH_PRODUCTION_MONTHS", None)
    return {**env, **extra}


def delete_rows(env: dict[str, str], table: str, where: str = "true") -> None:
    """Delete rows of `table` in the pipeline of `env` before a measured run (not timed): raw.batch_metrics to make
    days pending again, raw.metric_inputs_builds to make `mlwatch metrics` build its inputs as after a load. In a
    child process: on Spark, this process would otherwise keep a JVM holding the metastore, which admits one."""
    code = (
        "import sys\n"
        "from mlwatch.warehouse import WarehouseSettings, connect\n"
        "warehouse = connect(WarehouseSettings.from_env(__import__('pathlib').Path(sys.argv[1])))\n"
        "warehouse.execute(f'delete from {sys.argv[2]} where {sys.argv[3]}')\n"
        "warehouse.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT), table, where], cwd=ROOT, env=env, check=True)


def drop_database(database: str) -> None:
    import psycopg

    with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'drop database if exists "{database}" with (force)')


def tree_rss_bytes(root: int) -> int:
    """The summed RSS of process `root` and all its descendants now (0 once they are gone)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree.update(children)
        frontier = children
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


def measure(command: Sequence[str], env: dict[str, str]) -> Measured:
    """Run `command` to completion; its wall time, its peak memory (see the module's docstring), its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak_tree = 0
    finished = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not finished.wait(0.2):
            peak_tree = max(peak_tree, tree_rss_bytes(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    finished.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {process.returncode}):\n{output[-4000:]}")
    return Measured(seconds, max(usage.ru_maxrss * 1024, peak_tree) / 2**20, output)


def mlwatch(*args: str) -> list[str]:
    return [str(VENV_BIN / "mlwatch"), *args]


def number_in(output: str, pattern: str) -> float:
    """A figure the program printed (first group of `pattern`), e.g. the engine's own `warehouse: ..., 12.3 s`."""
    found = re.search(pattern, output)
    if not found:
        raise SystemExit(f"no match for {pattern!r} in:\n{output[-2000:]}")
    # A group left out matched an alternative printed instead of the figure, such as a build skipped: 0 s.
    return float((found.group(1) or "0").replace(",", ""))


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def machine() -> dict[str, Any]:
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024**2, 1),
        "git_commit": commit.stdout.strip(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-|-".join("-" * width for width in widths))
    return "\n".join(lines)
