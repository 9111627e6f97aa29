"""Month benchmark: the 28 days of 2021-02, the full drift / missing / row metric set, three ways.

- baseline: the course's loop (bench/baseline_course_loop.py), one Evidently Report per day from the parquet;
- `mlwatch metrics --engine evidently --full-refresh`: Evidently in Python, reading the warehouse;
- `mlwatch metrics --engine warehouse --full-refresh`: the same metrics in SQL (one dbt run for the month);

on DuckDB and on Postgres, each repeated (median, min, max) in the same run, with ratios to the baseline and
the peak RSS of each process tree. `mlwatch metrics` also rebuilds its inputs and the marts with dbt around
the engine; the engine's own time is the figure the command prints. dbt's fixed start-up (its run time
minus the time dbt itself reports for the models) is measured on its own.

    .venv/bin/python bench/month.py [--runs 3] [--targets duckdb postgres]

Prints a table and writes bench/results/month.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import VENV_BIN, drop_database, measure, mlwatch, number_in, pipeline_env, save, spread, table

ENGINES = ("evidently", "warehouse")
DBT_MODELS_SECONDS = r"Finished running .* in [^(]*\(([\d.]+)s\)"


def engine_runs(env: dict[str, str], engine: str, runs: int) -> dict[str, Any]:
    wall, own, memory, rows = [], [], [], 0
    for _ in range(runs):
        measured = measure(mlwatch("metrics", "--engine", engine, "--full-refresh"), env)
        wall.append(measured.seconds)
        own.append(number_in(measured.output, rf"{engine}: \d+ day\(s\).*?, ([\d.]+) s"))
        memory.append(measured.peak_rss_mib)
        rows = int(number_in(measured.output, r"([\d,]+) metric rows"))
    return {"command": spread(wall), "engine": spread(own), "peak_rss_mib": max(memory), "metric_rows": rows}


def dbt_start_up(env: dict[str, str], runs: int) -> dict[str, Any]:
    """The warehouse engine's dbt run on its own: wall time, the models' time by dbt's clock, the difference."""
    command = [
        str(VENV_BIN / "dbt"),
        "run",
        "--select",
        "tag:warehouse_engine",
        "--project-dir",
        env["MLWATCH_PROJECT_DIR"],
        "--profiles-dir",
        str(Path(env["MLWATCH_PROJECT_DIR"]) / "profiles"),
        "--target",
        env["DBT_TARGET"],
    ]
    wall, models = [], []
    for _ in range(runs):
        measured = measure(command, env)
        wall.append(measured.seconds)
        models.append(number_in(measured.output, DBT_MODELS_SECONDS))
    return {
        "dbt_run": spread(wall),
        "models": spread(models),
        "start_up": spread([total - inner for total, inner in zip(wall, models, strict=True)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", nargs="+", default=["duckdb", "postgres"], choices=["duckdb", "postgres"])
    args = parser.parse_args()

    course_loop = [sys.executable, str(Path(__file__).with_name("baseline_course_loop.py"))]
    baseline = [measure(course_loop, dict(os.environ)) for _ in range(args.runs)]
    results: dict[str, Any] = {
        "baseline": {
            "command": spread([run.seconds for run in baseline]),
            "loop": spread([json.loads(run.output.strip().splitlines()[-1])["seconds"] for run in baseline]),
            "peak_rss_mib": max(run.peak_rss_mib for run in baseline),
        },
        "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="mlwatch-bench-month-") as folder:
        for target in args.targets:
            database = "mlwatch_bench_month"
            env = pipeline_env(target, Path(folder) / target, database)
            if target == "postgres":
                drop_database(database)
            measure(mlwatch("load"), env)
            measure(mlwatch("metrics", "--engine", "warehouse"), env)  # warm-up: builds inputs, marts, profiles
            results["targets"][target] = {
                **{engine: engine_runs(env, engine, args.runs) for engine in ENGINES},
                "dbt": dbt_start_up(env, args.runs),
            }
            if target == "postgres":
                drop_database(database)
    path = save("month", {"runs": args.runs, **results})
    print(render(results))
    print(f"\n→ {path}")


def render(results: dict[str, Any]) -> str:
    # Whole processes compare with the baseline's; an engine's own time (imports and dbt builds around it
    # excluded) with the baseline's loop, which also excludes its imports.
    base = results["baseline"]["command"]["median"]
    base_loop = results["baseline"]["loop"]["median"]

    def cell(figures: dict[str, float]) -> str:
        return f"{figures['median']:.1f} ({figures['min']:.1f}-{figures['max']:.1f})"

    rows: list[list[Any]] = [
        [
            "-",
            "baseline: course loop (parquet)",
            cell(results["baseline"]["command"]),
            "1.0x",
            f"loop {cell(results['baseline']['loop'])} (1.0x)",
            f"{results['baseline']['peak_rss_mib']:.0f}",
        ],
    ]
    notes = []
    for target, figures in results["targets"].items():
        for engine in ENGINES:
            run = figures[engine]
            rows.append(
                [
                    target,
                    f"mlwatch metrics --engine {engine}",
                    cell(run["command"]),
                    f"{base / run['command']['median']:.1f}x",
                    f"{cell(run['engine'])} ({base_loop / run['engine']['median']:.1f}x)",
                    f"{run['peak_rss_mib']:.0f}",
                ]
            )
        dbt = figures["dbt"]
        notes.append(
            f"{target}: dbt run of the engine models {cell(dbt['dbt_run'])} s, of which the models "
            f"{cell(dbt['models'])} s and dbt's fixed start-up {cell(dbt['start_up'])} s"
        )
    headers = [
        "warehouse",
        "what (28 days)",
        "whole command s",
        "vs baseline",
        "engine only s (vs baseline loop)",
        "peak RSS MiB",
    ]
    return table(headers, rows) + "\n" + "\n".join(notes)


if __name__ == "__main__":
    main()
