"""Month benchmark: the 28 days of 2021-02, the full drift / missing / row metric set, four ways.

- baseline: the course's loop (bench/baseline_course_loop.py), one Evidently Report per day from the parquet,
  with the full metric set; and once more with the course's metric kinds only (drift, missing values, rows);
- `mlwatch metrics --engine evidently --full-refresh`: Evidently in Python, reading the warehouse;
- `mlwatch metrics --engine warehouse --full-refresh`: the same metrics in SQL (one dbt run for the month);
- `mlwatch metrics --engine warehouse` after deleting the days' rows: the same, with the reference profile
  kept materialized (it is computed once per model version);

and, as a user compares them, whole commands alternating in rounds: the course's own script (its three metrics
a day, `baseline_course_loop.py --metrics course`, one process: imports, training, reading) against
`mlwatch metrics --full-refresh` with each engine on each warehouse; quiet, then again while another
CPU-bound process runs (`--whole-only` measures only these);

on DuckDB and on Postgres, each repeated (median, min, max) in the same run, with ratios to the baseline and
the peak RSS of each process tree. `mlwatch metrics` also rebuilds its inputs and the marts with dbt around
the engine; the engine's own time is the figure the command prints, with the dbt start-up inside it (dbt's
wall time minus the time dbt itself reports for its models, from run_results.json). The engine's computation
is its time without that start-up: what the target of 20x the baseline loop is about. A dbt run of the
engine's models alone measures the start-up once more, on its own.

With `--pipeline`, only the README's commands from an empty warehouse, each step a process, on each
warehouse in turn round by round (Spark included): `mlwatch load`, `mlwatch metrics --engine warehouse`,
`mlwatch show`.

    .venv/bin/python bench/month.py [--runs 3] [--targets duckdb postgres] [--whole-only]
    .venv/bin/python bench/month.py --pipeline [--runs 3] [--targets duckdb postgres spark]

Prints a table and writes bench/results/month.json (month-whole.json, month-pipeline.json; git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchlib import (
    MODEL_SECONDS,
    VENV_BIN,
    delete_rows,
    drop_database,
    measure,
    mlwatch,
    number_in,
    pipeline_env,
    save,
    spread,
    table,
)

# (label, engine, how the 28 days become pending): a full refresh recomputes everything, the warehouse
# engine's reference profile included; "days only" deletes the days' metric rows first, so the engine finds
# its reference profile materialized, as every run after a model version's first does.
VARIANTS = (
    ("evidently", "evidently", "full refresh"),
    ("warehouse", "warehouse", "full refresh"),
    ("warehouse-days", "warehouse", "days only"),
)
# The baseline does the engines' work (the full metric set); the lighter one shows what the health metrics cost.
# result key: (the loop's --metrics, the table's label)
BASELINES = {
    "baseline": ("full", "baseline: course loop, full metric set"),
    "baseline_drift_only": ("drift", "baseline: drift, missing, rows"),
}
DBT_MODELS_SECONDS = r"Finished running .* in [^(]*\(([\d.]+)s\)"
# The parts of `mlwatch metrics`, from the lines it prints; the rest of its wall time is imports, checks and exit.
METRICS_PARTS = {
    "inputs (dbt build)": r"dbt build --selector metric_inputs: (?:ok, ([\d.]+) s|skipped)",
    "engine": r"(?m)^\s+(?:warehouse|evidently): .* metric rows, ([\d.]+) s",
    "estimates (DLE) after the engine": r"Direct Loss Estimation\): \d+ day\(s\), ([\d.]+) s",
    "marts (dbt build)": r"dbt build --selector serving: ok, ([\d.]+) s",
}


def engine_runs(env: dict[str, str], engine: str, how: str, runs: int) -> dict[str, Any]:
    wall, own, start_up, memory, rows = [], [], [], [], 0
    for _ in range(runs):
        if how == "days only":
            delete_rows(env, "raw.batch_metrics")
        refresh = ["--full-refresh"] if how == "full refresh" else []
        measured = measure(mlwatch("metrics", "--engine", engine, *refresh), env)
        wall.append(measured.seconds)
        line = next(line for line in measured.output.splitlines() if line.strip().startswith(f"{engine}: "))
        own.append(number_in(line, r"rows, ([\d.]+) s"))
        start_up.append(number_in(line, r"dbt start-up ([\d.]+) s") if "dbt start-up" in line else 0.0)
        memory.append(measured.peak_rss_mib)
        rows = int(number_in(line, r"([\d,]+) metric rows"))
    return {
        "command": spread(wall),
        "engine": spread(own),
        "dbt_start_up": spread(start_up),
        # What the engine computes once dbt is up: SQL, p-values, calibrated verdicts, writes.
        "computation": spread([total - fixed for total, fixed in zip(own, start_up, strict=True)]),
        "peak_rss_mib": max(memory),
        "metric_rows": rows,
    }


def engine_models(envs: dict[str, dict[str, str]], runs: int) -> dict[str, dict[str, Any]]:
    """The warehouse engine's dbt run on its own, each warehouse in turn round by round: wall time, the models'
    time by dbt's clock, the difference (dbt's start-up), and each model's own seconds."""
    wall: dict[str, list[float]] = {target: [] for target in envs}
    models: dict[str, list[float]] = {target: [] for target in envs}
    per_model: dict[str, dict[str, list[float]]] = {target: {} for target in envs}
    for _ in range(runs):
        for target, env in envs.items():
            command = [
                str(VENV_BIN / "dbt"),
                "run",
                "--selector",
                "warehouse_engine",
                "--project-dir",
                env["MLWATCH_PROJECT_DIR"],
                "--profiles-dir",
                str(Path(env["MLWATCH_PROJECT_DIR"]) / "profiles"),
                "--target",
                env["DBT_TARGET"],
            ]
            measured = measure(command, env)
            wall[target].append(measured.seconds)
            models[target].append(number_in(measured.output, DBT_MODELS_SECONDS))
            for name, seconds in MODEL_SECONDS.findall(measured.output):
                per_model[target].setdefault(name, []).append(float(seconds))
    return {
        target: {
            "dbt_run": spread(wall[target]),
            "models": spread(models[target]),
            "start_up": spread([total - inner for total, inner in zip(wall[target], models[target], strict=True)]),
            "model_seconds": {name: spread(values) for name, values in per_model[target].items()},
        }
        for target in envs
    }


def course_loop(metric_set: str, runs: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).with_name("baseline_course_loop.py")), "--metrics", metric_set]
    measured = [measure(command, dict(os.environ)) for _ in range(runs)]
    return {
        "command": spread([run.seconds for run in measured]),
        "loop": spread([json.loads(run.output.strip().splitlines()[-1])["seconds"] for run in measured]),
        "peak_rss_mib": max(run.peak_rss_mib for run in measured),
    }


@contextlib.contextmanager
def cpu_bound(busy: bool) -> Iterator[None]:
    """Another CPU-bound process beside the measured ones (a busy machine: CI, a notebook), if `busy`."""
    if not busy:
        yield
        return
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


INPUTS_REBUILT = ", inputs rebuilt"
NOT_REPLAYED = ", dbt not replayed"
NEW_DAY = ", one new day"
# The warehouse engine's whole commands besides the plain full refresh: the first run after a load (inputs
# rebuilt), dbt run every time (mlwatch.replay off), and a day computed that was not yet (the 28th, 27th, ...: its
# metric rows and estimates deleted; the reference profile stored), without --full-refresh.
WAREHOUSE_VARIANTS = ("", NOT_REPLAYED, INPUTS_REBUILT, NEW_DAY)


def whole_commands(envs: dict[str, dict[str, str]], runs: int, busy: bool) -> dict[str, Any]:
    """Whole processes, alternating round by round so that the machine's drift falls on all alike: the course's
    script, then `mlwatch metrics --full-refresh` with each engine on each warehouse; the warehouse engine once more
    with its variants (WAREHOUSE_VARIANTS). The first round of each records the dbt runs the next ones replay."""
    course = [sys.executable, str(Path(__file__).with_name("baseline_course_loop.py")), "--metrics", "course"]
    commands = {"course": (course, dict(os.environ))}
    for target, env in envs.items():
        for variant in WAREHOUSE_VARIANTS:
            refresh = [] if variant == NEW_DAY else ["--full-refresh"]
            replay = {"MLWATCH_DBT_REPLAY": "off"} if variant == NOT_REPLAYED else {}
            commands[f"{target} warehouse{variant}"] = (
                mlwatch("metrics", "--engine", "warehouse", *refresh),
                {**env, **replay},
            )
        commands[f"{target} evidently"] = (mlwatch("metrics", "--engine", "evidently", "--full-refresh"), env)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    parts: dict[str, dict[str, list[float]]] = {name: {part: [] for part in METRICS_PARTS} for name in commands}
    with cpu_bound(busy):
        for round_number in range(runs):
            for name, (command, env) in commands.items():
                if name.endswith(INPUTS_REBUILT):
                    delete_rows(env, "raw.metric_inputs_builds")
                if name.endswith(NEW_DAY):
                    day = f"date '2021-02-{28 - round_number:02d}'"
                    for table in ("raw.batch_metrics", "raw.performance_estimates"):
                        delete_rows(env, table, f"batch_date = {day}")
                measured = measure(command, env)
                seconds[name].append(measured.seconds)
                if name != "course":
                    for part, pattern in METRICS_PARTS.items():
                        parts[name][part].append(number_in(measured.output, pattern))
    return {
        name: {**spread(values), "parts": {part: spread(runs) for part, runs in parts[name].items() if runs}}
        for name, values in seconds.items()
    }


# The README's commands, in order; `metrics` with the engine every warehouse shares.
PIPELINE_STEPS = {"load": ("load",), "metrics": ("metrics", "--engine", "warehouse"), "show": ("show",)}


def pipeline(targets: list[str], runs: int, folder: Path) -> dict[str, Any]:
    """Each step from an empty warehouse, each warehouse in turn round by round: seconds and peak memory."""
    seconds: dict[str, dict[str, list[float]]] = {t: {step: [] for step in [*PIPELINE_STEPS, "whole"]} for t in targets}
    memory: dict[str, float] = dict.fromkeys(targets, 0.0)
    database = "mlwatch_bench_pipeline"
    for run in range(runs):
        for target in targets:
            env = pipeline_env(
                target, folder / f"{target}-{run}", database, SPARK_WAREHOUSE_DIR=str(folder / f"{target}-{run}")
            )
            if target == "postgres":
                drop_database(database)
            steps = {step: measure(mlwatch(*command), env) for step, command in PIPELINE_STEPS.items()}
            for step, measured in steps.items():
                seconds[target][step].append(measured.seconds)
                memory[target] = max(memory[target], measured.peak_rss_mib)
            seconds[target]["whole"].append(sum(measured.seconds for measured in steps.values()))
    if "postgres" in targets:
        drop_database(database)
    return {
        target: {"seconds": {step: spread(values) for step, values in steps.items()}, "peak_rss_mib": memory[target]}
        for target, steps in seconds.items()
    }


def render_pipeline(figures: dict[str, Any]) -> str:
    rows = [
        [
            target,
            *(
                f"{run['median']:.1f} ({run['min']:.1f}-{run['max']:.1f})"
                for run in (target_figures["seconds"][step] for step in [*PIPELINE_STEPS, "whole"])
            ),
            f"{target_figures['peak_rss_mib']:.0f}",
        ]
        for target, target_figures in figures.items()
    ]
    headers = ["warehouse (2021-01 reference, 2021-02)", *(f"{step} s" for step in PIPELINE_STEPS), "all s", "peak MiB"]
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", nargs="+", choices=["duckdb", "postgres", "spark"])
    parser.add_argument("--whole-only", action="store_true", help="only the whole commands against the course's")
    parser.add_argument("--pipeline", action="store_true", help="only load, metrics and show from an empty warehouse")
    args = parser.parse_args()
    if args.pipeline:
        with tempfile.TemporaryDirectory(prefix="mlwatch-bench-pipeline-") as folder:
            figures = pipeline(args.targets or ["duckdb", "postgres", "spark"], args.runs, Path(folder))
        path = save("month-pipeline", {"runs": args.runs, "pipeline": figures})
        print(render_pipeline(figures) + f"\n\n→ {path}")
        return
    args.targets = args.targets or ["duckdb", "postgres"]
    if "spark" in args.targets:
        parser.error("Spark is measured with --pipeline (the engine comparisons run the Evidently engine too)")

    results: dict[str, Any] = {
        **({} if args.whole_only else {name: course_loop(ms, args.runs) for name, (ms, _) in BASELINES.items()}),
        "targets": {},
    }
    database = "mlwatch_bench_month"
    with tempfile.TemporaryDirectory(prefix="mlwatch-bench-month-") as folder:
        envs = {target: pipeline_env(target, Path(folder) / target, database) for target in args.targets}
        for target, env in envs.items():
            if target == "postgres":
                drop_database(database)
            measure(mlwatch("load"), env)
            measure(mlwatch("metrics", "--engine", "warehouse"), env)  # warm-up: builds inputs, marts, profiles
            if not args.whole_only:
                results["targets"][target] = {
                    label: engine_runs(env, engine, how, args.runs) for label, engine, how in VARIANTS
                }
        if not args.whole_only:
            for target, figures in engine_models(envs, args.runs).items():
                results["targets"][target]["dbt"] = figures
        results["whole"] = {"quiet": whole_commands(envs, args.runs, busy=False)}
        results["whole"]["busy"] = whole_commands(envs, args.runs, busy=True)
        if "postgres" in envs:
            drop_database(database)
    path = save("month-whole" if args.whole_only else "month", {"runs": args.runs, **results})
    if not args.whole_only:
        print(render(results))
    print(render_whole(results["whole"]))
    print(render_parts(results["whole"]))
    if not args.whole_only:
        print(render_models(results["targets"]))
    print(f"\n→ {path}")


def render_whole(whole: dict[str, dict[str, dict[str, float]]]) -> str:
    """Each whole command beside the course's script, quiet and with another CPU-bound process running."""
    rows = []
    for name in whole["quiet"]:
        cells: list[Any] = [name if name != "course" else "course script (3 metrics a day)"]
        for condition in ("quiet", "busy"):
            figures, course = whole[condition][name], whole[condition]["course"]["median"]
            cells += [
                f"{figures['median']:.2f} ({figures['min']:.2f}-{figures['max']:.2f})",
                f"{course / figures['median']:.2f}x",
            ]
        rows.append(cells)
    headers = ["whole command (28 days)", "quiet s", "course / it", "another CPU-bound process s", "course / it"]
    return table(headers, rows)


def render_parts(whole: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Where each quiet `mlwatch metrics` spends its time (medians), the rest being imports, checks and exit."""
    rows = []
    for name, figures in whole["quiet"].items():
        if not figures["parts"]:
            continue
        medians = [figures["parts"][part]["median"] for part in METRICS_PARTS]
        rows.append(
            [
                name,
                f"{figures['median']:.2f}",
                *(f"{m:.2f}" for m in medians),
                f"{figures['median'] - sum(medians):.2f}",
            ]
        )
    headers = ["mlwatch metrics --full-refresh (quiet)", "whole s", *(f"{part} s" for part in METRICS_PARTS), "rest s"]
    return table(headers, rows)


def render_models(targets: dict[str, Any]) -> str:
    """Each engine model's seconds on each warehouse (dbt's own clock), and each warehouse's against DuckDB's."""
    if "duckdb" not in targets:
        return ""
    duckdb = targets["duckdb"]["dbt"]["model_seconds"]
    rows = []
    for name, figures in duckdb.items():
        cells: list[Any] = [name, f"{figures['median']:.2f} ({figures['min']:.2f}-{figures['max']:.2f})"]
        for target in [target for target in targets if target != "duckdb"]:
            other = targets[target]["dbt"]["model_seconds"][name]
            cells += [
                f"{other['median']:.2f} ({other['min']:.2f}-{other['max']:.2f})",
                f"{other['median'] / figures['median']:.1f}x" if figures["median"] else "-",
            ]
        rows.append(cells)
    others = [target for target in targets if target != "duckdb"]
    headers = ["engine model (28 days)", "duckdb s", *[f"{t} {c}" for t in others for c in ("s", "/ duckdb")]]
    return table(headers, rows)


def render(results: dict[str, Any]) -> str:
    # Whole processes compare with the baseline's; an engine's computation (imports, dbt builds around it and
    # dbt's start-up excluded) with the baseline's loop, which also excludes its imports.
    base = results["baseline"]["command"]["median"]
    base_loop = results["baseline"]["loop"]["median"]

    def cell(figures: dict[str, float]) -> str:
        return f"{figures['median']:.2f} ({figures['min']:.2f}-{figures['max']:.2f})"

    rows: list[list[Any]] = [
        [
            "-",
            label,
            cell(results[name]["command"]),
            f"{base / results[name]['command']['median']:.1f}x",
            "-",
            "-",
            cell(results[name]["loop"]),
            f"{base_loop / results[name]['loop']['median']:.1f}x",
            f"{results[name]['peak_rss_mib']:.0f}",
        ]
        for name, (_, label) in BASELINES.items()
    ]
    notes = []
    for target, figures in results["targets"].items():
        for label, engine, how in VARIANTS:
            run = figures[label]
            rows.append(
                [
                    target,
                    f"--engine {engine}, {how}",
                    cell(run["command"]),
                    f"{base / run['command']['median']:.1f}x",
                    cell(run["engine"]),
                    cell(run["dbt_start_up"]),
                    cell(run["computation"]),
                    f"{base_loop / run['computation']['median']:.1f}x",
                    f"{run['peak_rss_mib']:.0f}",
                ]
            )
        dbt = figures["dbt"]
        lighter_loop = results["baseline_drift_only"]["loop"]["median"]
        notes.append(
            f"{target}: against the drift-only baseline loop, the warehouse engine's computation is "
            f"{lighter_loop / figures['warehouse-days']['computation']['median']:.1f}x (days only), "
            f"{lighter_loop / figures['warehouse']['computation']['median']:.1f}x (full refresh)"
        )
        notes.append(
            f"{target}: dbt run of the engine models alone {cell(dbt['dbt_run'])} s, of which the models "
            f"{cell(dbt['models'])} s and dbt's fixed start-up {cell(dbt['start_up'])} s"
        )
    headers = [
        "warehouse",
        "what (28 days)",
        "whole command s",
        "vs baseline",
        "engine s",
        "of which dbt start-up s",
        "computation s",
        "vs baseline loop",
        "peak RSS MiB",
    ]
    return table(headers, rows) + "\n" + "\n".join(notes)


if __name__ == "__main__":
    main()
