"""Scale benchmark: a year of daily batches of 100,000 trips (36.5M rows) against a 1M-row reference.

The data are the real TLC trips resampled: `mlwatch load` lands 2021-01/02 and dbt builds the scored trips,
then the reference's input-valid rows are drawn (with replacement, deterministically) into a 1M-row
reference and the production rows into 100,000 trips for each day of 2022, written over
intermediate.int_trips_scored in a warehouse in a temp folder (never committed, deleted at the end). Then:

- the warehouse engine on the whole year (one dbt run), with its peak RSS and where the time goes;
- one new day: the engine again with one day pending (the reference profile is kept);
- the Evidently engine's per-day work on a few days, extrapolated to the year;
- the course's own loop (`baseline_course_loop.py --metrics course`: its three metrics a day in one Evidently
  Report against the reference) on the same sampled days, extrapolated likewise; each day is read from the
  warehouse, not re-read from a file as the course does, which only flatters the course;
- the same on Postgres (the generated rows are sent with COPY), if asked;
- the same on Spark (the generated rows as a parquet table), if asked, on each `--spark-masters` (default
  local[1] and local[2]: the speed-up from one core to two on the same work is how it scales with cores).

    .venv/bin/python bench/scale.py                     # DuckDB, full size
    .venv/bin/python bench/scale.py --targets duckdb postgres
    .venv/bin/python bench/scale.py --targets duckdb spark
    .venv/bin/python bench/scale.py --quick             # 31 days x 20,000 trips, 200,000 reference rows

Prints a table and writes bench/results/scale.json (or scale-quick.json; git-ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    MODEL_SECONDS,
    ROOT,
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

FIRST_DAY = "2022-01-01"
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Size:
    months: int  # of 2022, every day of which is a batch
    days: int
    trips_per_day: int
    reference_rows: int

    @property
    def production_months(self) -> str:
        return ",".join(f"2022-{month:02d}" for month in range(1, self.months + 1))


FULL = Size(months=12, days=365, trips_per_day=100_000, reference_rows=1_000_000)
QUICK = Size(months=1, days=31, trips_per_day=20_000, reference_rows=200_000)


def generate(duckdb_path: Path, size: Size) -> dict[str, float]:
    """Replace int_trips_scored by the resampled year; only the columns the engine reads are kept."""
    import duckdb

    from mlwatch.config import load_config

    columns = load_config(ROOT).monitored_columns
    picked = ", ".join(f"source.{column}" for column in columns)
    started = time.perf_counter()
    con = duckdb.connect(str(duckdb_path))
    con.execute(
        "create or replace table intermediate.scale_source as "
        f"select split, model_version, {', '.join(columns)}, "
        "row_number() over (partition by split order by trip_id) - 1 as pick "
        "from intermediate.int_trips_scored where passes_input_rules and split in ('reference', 'production')"
    )
    sizes = dict(con.execute("select split, count(*) from intermediate.scale_source group by split").fetchall())
    con.execute("drop table intermediate.int_trips_scored")
    # hash() of the row number picks a source row: a fixed pseudo-random draw with replacement
    con.execute(
        f"""
        create table intermediate.int_trips_scored as
        select
            drawn.range as trip_id, 'reference' as split, cast(null as date) as batch_date,
            source.model_version, true as passes_input_rules, {picked}
        from range({size.reference_rows}) as drawn
        inner join intermediate.scale_source as source
            on source.split = 'reference' and source.pick = hash(drawn.range) % {sizes["reference"]}
        union all
        select
            {size.reference_rows} + drawn.range as trip_id, 'production' as split,
            cast(date '{FIRST_DAY}' + cast(drawn.range // {size.trips_per_day} as integer) as date) as batch_date,
            source.model_version, true as passes_input_rules, {picked}
        from range({size.days * size.trips_per_day}) as drawn
        inner join intermediate.scale_source as source
            on source.split = 'production' and source.pick = hash(drawn.range + 1) % {sizes["production"]}
        """
    )
    rows = con.execute("select count(*) from intermediate.int_trips_scored").fetchone()[0]
    con.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def copy_to_postgres(duckdb_path: Path, env: dict[str, str]) -> dict[str, float]:
    """Send the generated rows to Postgres through the loader's COPY path, a million rows at a time."""
    import duckdb

    from mlwatch.warehouse import WarehouseSettings, connect

    started = time.perf_counter()
    source = duckdb.connect(str(duckdb_path), read_only=True)
    described = source.execute("describe intermediate.int_trips_scored").fetchall()
    reader = source.execute("select * from intermediate.int_trips_scored").to_arrow_reader(CHUNK_ROWS)
    types = {"BIGINT": "bigint", "DOUBLE": "double precision", "VARCHAR": "text", "DATE": "date", "BOOLEAN": "boolean"}
    warehouse = connect(WarehouseSettings.from_env(ROOT, env))
    warehouse.execute("drop table if exists intermediate.int_trips_scored cascade")
    warehouse.execute(
        "create table intermediate.int_trips_scored ("
        + ", ".join(f"{name} {types[kind]}" for name, kind, *_ in described)
        + ")"
    )
    rows = 0
    for batch in reader:
        warehouse.append("intermediate.int_trips_scored", batch)
        rows += batch.num_rows
    warehouse.execute("analyze intermediate.int_trips_scored")
    warehouse.close()
    source.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def copy_to_spark(duckdb_path: Path, env: dict[str, str], folder: Path) -> dict[str, float]:
    """The generated rows as a parquet table in Spark (DuckDB writes the file, Spark's reader takes it)."""
    import duckdb

    started = time.perf_counter()
    parquet = folder / "int_trips_scored.parquet"
    source = duckdb.connect(str(duckdb_path), read_only=True)
    source.execute(f"copy intermediate.int_trips_scored to '{parquet}' (format parquet)")
    rows = source.execute("select count(*) from intermediate.int_trips_scored").fetchone()[0]
    source.close()
    measure([sys.executable, __file__, "--child", "spark-table", "--parquet", str(parquet)], env)
    return {"rows": rows, "seconds": time.perf_counter() - started}


def child(what: str, days: int, parquet: str | None = None) -> None:
    """Run in a child process (its peak RSS is measured): the warehouse engine, or Evidently on `days` days."""
    from mlwatch.config import load_config
    from mlwatch.warehouse import WarehouseSettings, connect

    config = load_config(ROOT)
    settings = WarehouseSettings.from_env(ROOT)
    started = time.perf_counter()
    if what == "spark-table":
        warehouse = connect(settings)
        warehouse.execute("drop table if exists intermediate.int_trips_scored")
        warehouse.execute(
            f"create table intermediate.int_trips_scored using parquet as select * from parquet.`{parquet}`"
        )
        return
    if what in ("year", "new-day"):
        from mlwatch.engines import warehouse as warehouse_engine

        handler = logging.StreamHandler(sys.stdout)
        logging.getLogger(warehouse_engine.__name__).addHandler(handler)
        logging.getLogger(warehouse_engine.__name__).setLevel(logging.DEBUG)
        # The year is a full refresh (reference profile included); a new day finds the rest computed.
        run = warehouse_engine.compute_metrics(config, settings, full_refresh=what == "year")
        figures = {"days": run.days_computed, "rows": run.rows_written, "seconds": run.seconds}
        print(json.dumps({**figures, "dbt_start_up_seconds": run.dbt_start_up_seconds}))
        return
    if what == "course":
        from baseline_course_loop import DEFINITION, course_report
        from evidently import Dataset

        # the course's report names the zones as the TLC files do
        course_names = {"pickup_location_id": "PULocationID", "dropoff_location_id": "DOLocationID"}

        def evaluate(current: Any, reference: Any) -> None:
            course_report().run(
                Dataset.from_pandas(current.rename(columns=course_names), data_definition=DEFINITION),
                Dataset.from_pandas(reference.rename(columns=course_names), data_definition=DEFINITION),
            )
    else:
        from mlwatch.engines import evidently as metrics

        def evaluate(current: Any, reference: Any) -> None:
            metrics.evaluate_batch(current, reference, config)

    warehouse = connect(settings)
    columns = ", ".join(config.monitored_columns)
    select = f"select batch_date, {columns} from intermediate.int_trips_scored where passes_input_rules and "
    reference = warehouse.query(select + "split = 'reference'")
    if what == "course":
        reference = reference.drop(columns="batch_date")
    read_reference = time.perf_counter() - started
    per_day = []
    for offset in range(days):
        day_started = time.perf_counter()
        current = warehouse.query(select + f"batch_date = date '{FIRST_DAY}' + {offset * 7}")
        evaluate(current.drop(columns="batch_date") if what == "course" else current, reference)
        per_day.append(time.perf_counter() - day_started)
    warehouse.close()
    print(json.dumps({"read_reference": read_reference, "per_day": per_day, "reference_rows": len(reference)}))


def run_child(env: dict[str, str], what: str, days: int = 0) -> tuple[dict[str, Any], str]:
    """The child's own figures, with its wall time (imports included) and peak RSS; and its output."""
    measured = measure([sys.executable, __file__, "--child", what, "--sample-days", str(days)], env)
    figures = json.loads(measured.output.strip().splitlines()[-1])
    return {**figures, "process_seconds": measured.seconds, "peak_rss_mib": measured.peak_rss_mib}, measured.output


def engine_run(env: dict[str, str], what: str) -> dict[str, Any]:
    figures, output = run_child(env, what)
    return {
        **figures,
        "dbt_seconds": number_in(output, r"dbt run of the engine models for \d+ day\(s\): ([\d.]+) s"),
        "p_value_seconds": number_in(output, r"p-value scores: \d+, ([\d.]+) s"),
        "write_seconds": number_in(output, r"calibrated verdicts and writes: \d+ rows, ([\d.]+) s"),
        "model_seconds": {name: float(seconds) for name, seconds in MODEL_SECONDS.findall(output)},
    }


def spreads(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of the runs as median, min and max; peak memory as the largest; per-model times of the median run."""
    median_run = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    figures = ["seconds", "process_seconds", "dbt_seconds", "dbt_start_up_seconds", "p_value_seconds", "write_seconds"]
    return {
        **{name: spread([run[name] for run in runs]) for name in figures},
        "days": median_run["days"],
        "rows": median_run["rows"],
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "model_seconds": median_run["model_seconds"],
    }


def engine_figures(env: dict[str, str], runs: int) -> dict[str, Any]:
    years = [engine_run(env, "year") for _ in range(runs)]
    last_day = f"date '{FIRST_DAY}' + {years[0]['days'] - 1}"
    new_days = []
    for _ in range(runs):
        delete_rows(env, "raw.batch_metrics", f"batch_date = {last_day}")
        new_days.append(engine_run(env, "new-day"))
    return {"year": spreads(years), "one_new_day": spreads(new_days)}


def prepare(env: dict[str, str]) -> None:
    measure(mlwatch("load"), env)
    measure(mlwatch("dbt", "build", "--selector", "metric_inputs"), env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="31 days x 20,000 trips against 200,000 rows")
    parser.add_argument("--targets", nargs="+", default=["duckdb"], choices=["duckdb", "postgres", "spark"])
    parser.add_argument("--spark-masters", nargs="+", default=["local[1]", "local[2]"], help="Spark masters to run")
    parser.add_argument("--sample-days", type=int, default=3, help="days the Evidently engine runs on")
    parser.add_argument("--runs", type=int, default=3, help="runs of the engine on the year and on one new day")
    parser.add_argument(
        "--child", choices=["year", "new-day", "evidently", "course", "spark-table"], help=argparse.SUPPRESS
    )
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.sample_days, args.parquet)
        return

    size = QUICK if args.quick else FULL
    year_env = {"MLWATCH_PRODUCTION_MONTHS": size.production_months}
    results: dict[str, Any] = {
        "size": {**size.__dict__, "production_months": size.production_months},
        "rows": size.days * size.trips_per_day + size.reference_rows,
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory(prefix="mlwatch-bench-scale-") as folder:
        duckdb_env = pipeline_env("duckdb", Path(folder) / "duckdb", "-")
        prepare(duckdb_env)
        results["generate"] = generate(Path(duckdb_env["DUCKDB_PATH"]), size)
        duckdb_env.update(year_env)
        measure(mlwatch("dbt", "run", "--select", "int_batch_dates_spined"), duckdb_env)
        if "duckdb" in args.targets:
            evidently, _ = run_child(duckdb_env, "evidently", args.sample_days)
            course, _ = run_child(duckdb_env, "course", args.sample_days)
            results["duckdb"] = {
                **engine_figures(duckdb_env, args.runs),
                "evidently_sample": evidently,
                "course_sample": course,
            }
        if "postgres" in args.targets:
            database = "mlwatch_bench_scale"
            drop_database(database)
            postgres_env = pipeline_env("postgres", Path(folder) / "postgres", database)
            prepare(postgres_env)
            copied = copy_to_postgres(Path(duckdb_env["DUCKDB_PATH"]), postgres_env)
            postgres_env.update(year_env)
            measure(mlwatch("dbt", "run", "--select", "int_batch_dates_spined"), postgres_env)
            results["postgres"] = {"copy": copied, **engine_figures(postgres_env, args.runs)}
            drop_database(database)
        if "spark" in args.targets:
            spark_env = pipeline_env(
                "spark", Path(folder) / "spark", "-", SPARK_WAREHOUSE_DIR=str(Path(folder) / "spark")
            )
            prepare(spark_env)
            copied = copy_to_spark(Path(duckdb_env["DUCKDB_PATH"]), spark_env, Path(folder))
            spark_env.update(year_env)
            measure(mlwatch("dbt", "run", "--select", "int_batch_dates_spined"), spark_env)
            for master in args.spark_masters:
                results[f"spark {master}"] = {
                    "copy": copied,
                    **engine_figures({**spark_env, "SPARK_MASTER": master}, args.runs),
                }
    path = save("scale-quick" if args.quick else "scale", results)
    print(render(results))
    print(f"\n→ {path}")


def render(results: dict[str, Any]) -> str:
    size = results["size"]

    def cell(figures: dict[str, float]) -> str:
        return f"{figures['median']:.1f} ({figures['min']:.1f}-{figures['max']:.1f})"

    rows: list[list[Any]] = []
    for target in [name for name in results if name in ("duckdb", "postgres") or name.startswith("spark ")]:
        figures = results[target]
        for what, run in (("every day", figures["year"]), ("one new day", figures["one_new_day"])):
            # a replayed run (mlwatch.replay) prints no per-model times
            slowest = max(run["model_seconds"].items(), key=lambda item: item[1], default=None)
            models = f"slowest model {slowest[0]} {slowest[1]:.1f} s" if slowest else "replayed"
            rows.append(
                [
                    target,
                    f"warehouse engine, {what} ({run['days']} days)",
                    cell(run["process_seconds"]),
                    cell(run["seconds"]),
                    f"{run['peak_rss_mib']:.0f}",
                    f"dbt {cell(run['dbt_seconds'])} s, of which start-up {cell(run['dbt_start_up_seconds'])} s "
                    f"({models}); p-values {run['p_value_seconds']['median']:.1f}"
                    f" s; calibration and writes {run['write_seconds']['median']:.1f} s",
                ]
            )
        if "copy" in figures:
            rows.append(
                [
                    target,
                    f"{'parquet table' if target.startswith('spark') else 'COPY'} of the {figures['copy']['rows']:,} "
                    "generated rows",
                    "-",
                    f"{figures['copy']['seconds']:.1f}",
                    "-",
                    "",
                ]
            )
        for key, label in (("evidently_sample", "Evidently engine"), ("course_sample", "course loop, 3 metrics")):
            if key not in figures:
                continue
            sample = figures[key]
            per_day = sum(sample["per_day"]) / len(sample["per_day"])
            extrapolated = sample["read_reference"] + per_day * size["days"]
            ratio = extrapolated / figures["year"]["seconds"]["median"]
            where = f"{per_day:.2f} s a day ({len(sample['per_day'])} days), reference {sample['read_reference']:.1f} s"
            rows.append(
                [
                    target,
                    f"{label}, {size['days']} days (extrapolated)",
                    "-",
                    f"{extrapolated:.0f}",
                    f"{sample['peak_rss_mib']:.0f}",
                    f"{where}; {ratio:.0f}x the warehouse engine's year",
                ]
            )
    header = (
        f"{size['days']} days x {size['trips_per_day']:,} trips against {size['reference_rows']:,} reference rows "
        f"({results['rows']:,} rows; generated in {results['generate']['seconds']:.0f} s); "
        f"median (min-max) of {results['runs']} run(s)\n"
    )
    headers = ["warehouse", "what", "process s", "engine s", "peak RSS MiB", "where the time goes (medians)"]
    return header + table(headers, rows) + model_ratios(results) + spark_scaling(results)


def model_ratios(results: dict[str, Any]) -> str:
    """The year's engine models one by one (dbt's clock, the median run's) on each warehouse against DuckDB."""
    others = [name for name in results if name == "postgres" or name.startswith("spark ")]
    if "duckdb" not in results or not others:
        return ""
    duckdb = results["duckdb"]["year"]["model_seconds"]
    rows = [
        [name, f"{seconds:.1f}"]
        + [
            cell
            for other in others
            for cell in (
                f"{results[other]['year']['model_seconds'].get(name, float('nan')):.1f}",
                f"{results[other]['year']['model_seconds'].get(name, float('nan')) / seconds:.1f}x" if seconds else "-",
            )
        ]
        for name, seconds in duckdb.items()
    ]
    headers = ["engine model (year)", "duckdb s", *[f"{o} {c}" for o in others for c in ("s", "/ duckdb")]]
    return "\n\n" + table(headers, rows)


def spark_scaling(results: dict[str, Any]) -> str:
    """The speed-up from the first Spark master to each other on the year, and the year's cost projected to ten."""
    masters = [name for name in results if name.startswith("spark ")]
    if not masters:
        return ""
    days = results["size"]["days"]
    base = results[masters[0]]["year"]["seconds"]["median"]
    lines = ["", ""]
    for name in masters:
        seconds = results[name]["year"]["seconds"]["median"]
        lines.append(
            f"{name}: {seconds:.0f} s for {days} days, speed-up {base / seconds:.2f}x over {masters[0]}; "
            f"projection (not measured) for 10 years at the same per-day cost: {seconds / days * 3650 / 3600:.1f} h"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
