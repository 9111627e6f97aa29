"""`mlwatch`: the command line behind the Makefile (load, metrics, show, dbt)."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlwatch import load as loader
from mlwatch import runlog
from mlwatch.batches import MetricsRun
from mlwatch.config import MonitoringConfig, check_metrics_engine, load_config
from mlwatch.dbt import run_dbt
from mlwatch.errors import MlwatchError
from mlwatch.locks import step_lock
from mlwatch.warehouse import Warehouse, WarehouseSettings, connect, ensure_raw_tables

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True, soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def _step(name: str) -> Iterator[tuple[MonitoringConfig, WarehouseSettings]]:
    """Load configuration and settings, and turn known failures into one clear line and exit code 1."""
    try:
        config = load_config()
        settings = WarehouseSettings.from_env(config.project_dir)
        yield config, settings
    except MlwatchError as error:
        console.print(f"[bold red]✗ {name} failed:[/] {error}")
        raise typer.Exit(1) from None


@dataclass
class StepRun:
    rows: int = 0


@contextmanager
def _logged_step(name: str) -> Iterator[tuple[MonitoringConfig, WarehouseSettings, StepRun]]:
    """A step that writes: holds the warehouse's writer lock (python/mlwatch/locks.py; a second run is refused
    before it records anything), recorded in raw.pipeline_runs as running, then as success or failed."""
    with _step(name) as (config, settings), step_lock(settings, name):
        run_id = runlog.record_start(settings, name)
        step = StepRun()
        try:
            yield config, settings, step
        except BaseException as error:
            # The log is best effort here: the warehouse itself may be what failed, and the
            # original error is the one the user must see.
            with suppress(Exception):
                runlog.record_end(settings, run_id, step.rows, error=f"{type(error).__name__}: {error}")
            raise
        runlog.record_end(settings, run_id, step.rows)


def _import_quietly(module: str) -> None:
    with suppress(Exception):  # the step's own import, after the block, reports what failed
        importlib.import_module(module)


@contextmanager
def _importing(module: str) -> Iterator[None]:
    """Import `module` (seconds, for Evidently or scikit-learn) in a thread while the block waits on dbt's process."""
    importer = threading.Thread(target=_import_quietly, args=(module,), daemon=True)
    importer.start()
    yield
    importer.join()


@contextmanager
def _warehouse(settings: WarehouseSettings, create_database: bool = False) -> Iterator[Warehouse]:
    warehouse = connect(settings, create_database=create_database)
    try:
        yield warehouse
    finally:
        warehouse.close()


def _dbt(config: MonitoringConfig, settings: WarehouseSettings, *args: str) -> float:
    with console.status(f"dbt {' '.join(args)}"):
        run = run_dbt(config, settings, list(args))
    split = "" if run.start_up_seconds is None else f" (dbt start-up {run.start_up_seconds:.1f} s)"
    console.print(f"  dbt {' '.join(args)}: ok, {run.seconds:.1f} s{split}")
    return run.seconds


def _ticker(progress: Progress, description: str, total: int) -> Callable[[int], None]:
    task = progress.add_task(description, total=total)
    return lambda rows: progress.advance(task, rows)


@app.command("load")
def load_command(
    data_dir: Annotated[
        Path, typer.Option(envvar="TAXI_DATA_DIR", help="Folder with the TLC files; missing ones are downloaded.")
    ] = Path("data/raw"),
    base_url: Annotated[str, typer.Option(envvar="TLC_BASE_URL", help="Where to download TLC files from.")] = (
        loader.TLC_BASE_URL
    ),
) -> None:
    """Land the configured TLC months and zones, train the baseline model, and land its predictions."""
    started = time.perf_counter()
    with _logged_step("load") as (config, settings, step):
        console.print(
            f"load → {settings.describe()} (reference {config.reference_month}, "
            f"production {', '.join(config.production_months)})"
        )
        paths = {
            month: loader.ensure_file(data_dir, loader.trip_file_name(config.taxi_type, month), base_url)
            for month in config.months
        }
        zone_path = loader.ensure_file(data_dir, loader.ZONE_FILE, base_url)
        file_rows = {month: loader.check_trip_file(path) for month, path in paths.items()}  # before any write
        with _warehouse(settings, create_database=True) as warehouse:
            ensure_raw_tables(warehouse)
            zones = loader.load_zones(warehouse, zone_path)  # first: trips are checked against the zones
            console.print(f"  {zone_path.name}: {zones} zones")
            checks = loader.RowChecks(loader.known_zone_ids(warehouse), config.max_trip_hours, config.max_reject_share)
            trips = 0
            with _progress() as progress:
                for month, path in paths.items():
                    tick = _ticker(progress, f"trips {path.name}", file_rows[month])
                    loaded = loader.load_trip_file(warehouse, path, month, tick, checks)
                    trips += loaded.rows
                    step.rows += loaded.rows
                    note = (
                        f" (ignored unknown columns {list(loaded.ignored_columns)})" if loaded.ignored_columns else ""
                    )
                    if loaded.rejected:
                        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in loaded.rejected.items())
                        note += f"; {sum(loaded.rejected.values()):,} rows quarantined ({reasons})"
                    console.print(f"  {path.name}: {loaded.rows:,} trips{note}")
        with _importing("mlwatch.train"):
            _dbt(config, settings, "build", "--selector", "training_inputs")
        from mlwatch import train as trainer  # scikit-learn takes seconds to import; only this step needs it

        with _warehouse(settings) as warehouse:
            train, validation = trainer.fetch_training_frames(warehouse, config)
            trained = trainer.fit(train, validation, config)
            model_path = trainer.save(trained, config.project_dir / "models" / "trained")
            trainer.register(warehouse, trained.metadata)
            scored = trainer.score(warehouse, trained, config)
            step.rows += scored
        meta = trained.metadata
        console.print(
            f"  model {meta.model_version} → {model_path.relative_to(config.project_dir)}: "
            f"train MAE {meta.train_mae:.4f} on {meta.train_rows:,} rows, "
            f"validation MAE {meta.validation_mae:.4f} on {meta.validation_rows:,} rows; "
            f"{scored:,} predictions"
        )
    console.print(
        f"[green]✓ load[/]: {trips:,} trips, {zones} zones, model {meta.model_version}, "
        f"{scored:,} predictions, {time.perf_counter() - started:.1f} s"
    )


ENGINE_MODULES = {"evidently": "mlwatch.metrics", "warehouse": "mlwatch.warehouse_engine"}


def _compute_metrics(
    engine: str, config: MonitoringConfig, settings: WarehouseSettings, full_refresh: bool
) -> MetricsRun:
    """Run one engine on the pending days; the warehouse engine opens its own connections around dbt."""
    with _progress() as progress:
        task = progress.add_task("daily batches", total=None)

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_day(day: dt.date) -> None:
            progress.update(task, advance=1, description=f"daily batches ({day})")

        if engine == "warehouse":
            from mlwatch import warehouse_engine

            return warehouse_engine.compute_metrics(config, settings, full_refresh, on_start, on_day)
        from mlwatch.metrics import compute_metrics  # Evidently takes seconds to import; only `metrics` needs it

        with _warehouse(settings) as warehouse:
            ensure_raw_tables(warehouse)
            return compute_metrics(warehouse, config, full_refresh, on_start, on_day)


@app.command("metrics")
def metrics_command(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Recompute every day, not only new ones.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(help="evidently or warehouse (SQL); default: the metrics_engine var of dbt_project.yml."),
    ] = None,
) -> None:
    """Compute Evidently metrics for every daily batch not yet computed, then build the marts."""
    started = time.perf_counter()
    with _logged_step("metrics") as (config, settings, step):
        engine = check_metrics_engine(engine or config.metrics_engine)
        console.print(f"metrics ({engine} engine) → {settings.describe()}")
        with _importing(ENGINE_MODULES[engine]):  # both engines import Evidently
            _dbt(config, settings, "build", "--selector", "metric_inputs")
        run = _compute_metrics(engine, config, settings, full_refresh)
        step.rows = run.rows_written
        console.print(
            f"  {engine}: {run.days_computed} day(s) for {run.model_versions} model version(s), "
            f"{run.rows_written:,} metric rows, {run.seconds:.2f} s"
            + (f" (dbt start-up {run.dbt_start_up_seconds:.2f} s)" if run.dbt_start_up_seconds else "")
        )
        _dbt(config, settings, "build", "--selector", "serving")
    console.print(f"[green]✓ metrics[/]: {run.days_computed} day(s) computed, {time.perf_counter() - started:.1f} s")


@app.command("show")
def show_command(limit: Annotated[int, typer.Option(help="Days to show (newest last).")] = 31) -> None:
    """Print the daily metrics from the marts."""
    with _step("show") as (_, settings), _warehouse(settings) as warehouse:
        frame = warehouse.query(
            "select batch_date, model_version, input_valid_trips, prediction_drift_score, "
            "drifted_columns_count, drifted_columns_share, missing_values_share, mae, rmse "
            "from marts.daily_model_monitoring order by batch_date desc, model_version limit ?",
            [limit],
        )
    table = Table(title=f"daily_model_monitoring ({settings.target})")
    headers = ["date", "model", "trips", "pred. drift", "drifted", "share", "missing", "MAE", "RMSE"]
    for header in headers:
        table.add_column(header, justify="left" if header in ("date", "model") else "right")
    for row in frame.iloc[::-1].itertuples(index=False):
        table.add_row(
            str(row.batch_date)[:10],
            row.model_version,
            f"{row.input_valid_trips:,}",
            *(_fmt(v, 3) for v in (row.prediction_drift_score,)),
            _fmt(row.drifted_columns_count, 0),
            _fmt(row.drifted_columns_share, 2),
            _fmt(row.missing_values_share, 4),
            _fmt(row.mae, 2),
            _fmt(row.rmse, 2),
        )
    Console().print(table)


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


@app.command("dashboard")
def dashboard_command(
    output: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("reports/dashboard.html"),
) -> None:
    """Render the Grafana dashboard's panels from the marts into one self-contained HTML file."""
    from mlwatch import dashboard  # plotly takes a second to import; only this command needs it

    with _step("dashboard") as (config, settings), _warehouse(settings) as warehouse:
        page = dashboard.build(dashboard.load_dashboard(config.project_dir), warehouse.query, settings.describe())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    console.print(f"[green]✓ dashboard[/]: {settings.describe()} → {output}")
    typer.echo(output.resolve())


@app.command("grant-readonly")
def grant_readonly_command() -> None:
    """Create or update the read-only Postgres role (MLWATCH_READONLY_USER) that can only SELECT the marts."""
    from mlwatch.serving import ReadonlyRole, grant_readonly

    role = ReadonlyRole.from_env()
    with _step("grant-readonly") as (config, settings):
        grant_readonly(settings, role, config.project_dir)
    console.print(f"[green]✓ grant-readonly[/]: {role.name} can read the marts schema of {settings.describe()}")


@app.command("dbt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def dbt_command(ctx: typer.Context) -> None:
    """Run any dbt command on the configured target, e.g. `mlwatch dbt docs generate`."""
    # dbt may write (build, run, seed) and, on DuckDB, opens the file for writing whatever it does: it waits
    # for the writer lock like the steps do, rather than fail inside dbt or interleave with a running step.
    with _step("dbt") as (config, settings), step_lock(settings, "dbt"):
        run = run_dbt(config, settings, list(ctx.args), capture=False)
    console.print(f"dbt {' '.join(ctx.args)}: {run.seconds:.1f} s")


@app.command("report")
def report_command(
    date: Annotated[str, typer.Option("--date", help="The production day to report, YYYY-MM-DD.")],
    output_dir: Annotated[Path, typer.Option(help="Where to write the HTML files.")] = Path("reports"),
) -> None:
    """Write Evidently's HTML report and test results of one production day against the reference."""
    from mlwatch import report  # it imports Evidently (seconds) only once the date is known to be good

    with _step("report") as (config, settings):
        day = report.parse_day(date, config)
        with _warehouse(settings) as warehouse, console.status(f"evidently report {day}"):
            paths = report.write_reports(warehouse, config, day, output_dir)
    console.print(f"[green]✓ report[/]: {day} → {output_dir}")
    for path in paths:
        typer.echo(path.resolve())


def main() -> None:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    app()


if __name__ == "__main__":
    main()
