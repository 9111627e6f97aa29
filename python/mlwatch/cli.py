"""`mlwatch`: the command line behind the Makefile, a thin layer over the steps (mlwatch.steps) and readers."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlwatch import table_load
from mlwatch.config import MonitoringConfig, load_config
from mlwatch.dbt import run_dbt
from mlwatch.errors import MlwatchError
from mlwatch.load import TLC_BASE_URL
from mlwatch.locks import step_lock
from mlwatch.relations import DAILY_MODEL_MONITORING, PRODUCTION_FILE_DEFECTS
from mlwatch.steps import Ticker, days_without_valid_trips, recorded_step, require
from mlwatch.steps import load as load_step
from mlwatch.steps import metrics as metrics_step
from mlwatch.warehouse import WarehouseSettings, connected

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True, soft_wrap=True)


class _Bar:
    """A rich progress task as a steps.Ticker."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if description is None:
            self._progress.advance(self._task, steps)
        else:
            self._progress.update(self._task, advance=steps, description=description)


class RichReporter:
    """steps.Reporter on the terminal: lines and progress bars on stderr, stdout left for results."""

    def say(self, text: str) -> None:
        console.print(text)

    def waiting(self, text: str) -> AbstractContextManager[object]:
        return console.status(text)

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Ticker]:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a log or a pipe gets the step's lines, not a bar's blank lines
        ) as progress:
            yield _Bar(progress, progress.add_task(description, total=total))


def _error_log() -> Path:
    """Where a failure's full detail goes: next to dbt's logs (DBT_LOG_PATH, default logs/)."""
    folder = Path(os.environ.get("DBT_LOG_PATH") or Path(os.environ.get("MLWATCH_PROJECT_DIR", ".")) / "logs")
    return folder.resolve() / "mlwatch-errors.log"


def _explain(error: Exception) -> str:
    """One line for a failure: an MlwatchError's own message, or what a warehouse driver's error means."""
    if isinstance(error, MlwatchError):
        return str(error)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    kind = type(error).__name__
    if kind in ("CatalogException", "UndefinedTable"):
        return f"{first}: the warehouse lacks a table; run `mlwatch load` then `mlwatch metrics`"
    module = type(error).__module__
    if module.startswith("psycopg") and kind in ("OperationalError", "AdminShutdown", "ConnectionTimeout"):
        return (
            f"the connection to Postgres was lost ({kind}: {first}); every write is one transaction, so no "
            "partial write was kept: run the command again once the server answers"
        )
    return f"unexpected {kind}: {first} (a bug: please report it with the log)"


@contextmanager
def _step(name: str) -> Iterator[tuple[MonitoringConfig, WarehouseSettings]]:
    """Load configuration and settings, and turn every failure into one line and exit code 1, its detail
    (the traceback) appended to the error log that the line names."""
    try:
        config = load_config()
        settings = WarehouseSettings.from_env(config.project_dir)
        yield config, settings
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:  # the CLI's boundary: every failure becomes one line and a log
        log = _error_log()
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} mlwatch {name}\n")
                handle.write("".join(traceback.format_exception(error)))
            where = f" (details: {log})"
        except OSError:
            where = ""
        console.print(f"[bold red]✗ {name} failed:[/] {_explain(error)}{where}", highlight=False)
        raise typer.Exit(1) from None


@app.command("load")
def load_command(
    data_dir: Annotated[
        Path, typer.Option(envvar="TAXI_DATA_DIR", help="Folder with the TLC files; missing ones are downloaded.")
    ] = Path("data/raw"),
    base_url: Annotated[str, typer.Option(envvar="TLC_BASE_URL", help="Where to download TLC files from.")] = (
        TLC_BASE_URL
    ),
) -> None:
    """Land the configured TLC months and zones, train the baseline model, and land its predictions."""
    started = time.perf_counter()
    with _step("load") as (config, settings):
        load_step.check_ready(config)  # before the lock and the run log
        with recorded_step(settings, "load") as written:
            loaded = load_step.run(config, settings, RichReporter(), written, data_dir, base_url)
    console.print(
        f"[green]✓ load[/]: {loaded.trips:,} trips, {loaded.zones} zones, model {loaded.model_version}, "
        f"{loaded.predictions:,} predictions, {time.perf_counter() - started:.1f} s"
    )


def _land_tables(name: str, files: list[Path], land: table_load.Lander) -> None:
    started = time.perf_counter()
    with _step(name) as (config, settings):
        table_load.monitored_tables(config)  # before the lock and the run log: the taxi example has no such tables
        with recorded_step(settings, "load") as written, connected(settings, create_database=True) as warehouse:
            for path in files:
                landed = land(warehouse, config, path)
                written.rows += landed.predictions + landed.labels
                console.print(f"  {path.name}: {landed.predictions:,} predictions, {landed.labels:,} labels")
    console.print(f"[green]✓ {name}[/]: {len(files)} file(s), {time.perf_counter() - started:.1f} s")


@app.command("load-predictions")
def load_predictions_command(
    files: Annotated[list[Path], typer.Argument(help="CSV or parquet files of predictions, in order.")],
) -> None:
    """Land a model's predictions (and any labels they hold) in the tables MLWATCH_CONFIG names, file by file."""
    _land_tables("load-predictions", files, table_load.load_predictions)


@app.command("load-labels")
def load_labels_command(
    files: Annotated[list[Path], typer.Argument(help="CSV or parquet files of labels (id and label), in order.")],
) -> None:
    """Land labels that arrived after their predictions; the next `mlwatch metrics` measures those days."""
    _land_tables("load-labels", files, table_load.load_labels)


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
    with _step("metrics") as (config, settings):

        def ready() -> None:
            metrics_step.check_ready(config, settings, engine)

        # Checked before the lock, so that a refused step leaves nothing behind (not even a lock file), but for
        # a DuckDB file or a Spark metastore: opening either could fail the run that holds the lock, so they are
        # checked under the lock.
        if settings.target == "postgres" or (settings.target == "duckdb" and not settings.duckdb_path.is_file()):
            ready()
        with recorded_step(settings, "metrics", ready=ready) as written:
            run = metrics_step.run(config, settings, RichReporter(), written, engine, full_refresh)
    console.print(f"[green]✓ metrics[/]: {run.days_computed} day(s) computed, {time.perf_counter() - started:.1f} s")


@app.command("evaluate-alarms")
def evaluate_alarms_command(
    output_dir: Annotated[Path, typer.Option(help="Where to write the table (CSV, Markdown) and the plot.")] = Path(
        "reports/alarms"
    ),
) -> None:
    """Score alarm rules against harmful days (MAE >= harm_mae_ratio x the reference's); see docs/alarms.md."""
    from mlwatch.steps import evaluate_alarms  # matplotlib and pandas: only this command needs them

    with _step("evaluate-alarms") as (config, settings), connected(settings) as warehouse:
        result = evaluate_alarms.run(config, warehouse, RichReporter(), output_dir)
    whole = result.table[result.table["period"] == "whole"]
    table = Table(title="alarm rules over the whole period (thresholds fitted on the first half)")
    for header in ("rule", "threshold", "precision", "recall", "alarms/30 d", "false/30 d", "lead days"):
        table.add_column(header)
    for _, row in whole.iterrows():
        figures = [("threshold", 2), ("precision", 2), ("recall", 2), ("alarms_per_30_days", 1)]
        figures += [("false_alarms_per_30_days", 1), ("mean_lead_days", 1)]
        table.add_row(row["rule"], *(_fmt(row[name], digits) for name, digits in figures))
    Console(width=max(Console().width, 120)).print(table)
    console.print(f"[green]✓ evaluate-alarms[/]: {', '.join(str(p) for p in result.files)}")


@app.command("show")
def show_command(limit: Annotated[int, typer.Option(help="Days to show (newest last).")] = 31) -> None:
    """Print the daily metrics from the marts."""
    with _step("show") as (config, settings):
        require(settings, {DAILY_MODEL_MONITORING: "mlwatch metrics"})
        with connected(settings) as warehouse:
            frame = warehouse.query(
                "select batch_date, model_version, input_valid_trips, prediction_drift_score, "
                "drifted_columns_count, drifted_columns_share, missing_values_share, mae, rmse "
                f"from {DAILY_MODEL_MONITORING} order by batch_date desc, model_version limit ?",
                [limit],
            )
            # the TLC files' defects: the taxi example's own mart
            unbatched = (
                warehouse.rows(
                    f"select source_month, trips_in_no_batch from {PRODUCTION_FILE_DEFECTS} "
                    "where trips_in_no_batch > 0 order by source_month"
                )
                if config.monitored_tables is None
                else []
            )
    table = Table(title=f"daily_model_monitoring ({settings.target})")
    headers = ["date", "model", "trips", "pred. drift", "drifted", "share", "missing", "MAE", "RMSE"]
    for header in headers:
        table.add_column(header, justify="left" if header in ("date", "model") else "right")
    for row in frame.iloc[::-1].itertuples(index=False):
        table.add_row(
            str(row.batch_date)[:10],
            str(row.model_version),
            f"{row.input_valid_trips:,}",
            _fmt(row.prediction_drift_score, 3),
            _fmt(row.drifted_columns_count, 0),
            _fmt(row.drifted_columns_share, 2),
            _fmt(row.missing_values_share, 4),
            _fmt(row.mae, 2),
            _fmt(row.rmse, 2),
        )
    Console(width=max(Console().width, 120)).print(table)
    for month, trips in unbatched:
        console.print(
            f"note: {trips:,} trip(s) of the {month} file were picked up outside every production month and are in "
            f"no daily batch ({PRODUCTION_FILE_DEFECTS})",
            highlight=False,
        )


def _fmt(value: object, digits: int) -> str:
    """A mart's number to `digits` places; '-' where the mart has none (null, or NaN from the driver)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


@app.command("dashboard")
def dashboard_command(
    output: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("reports/dashboard.html"),
) -> None:
    """Render the Grafana dashboard's panels from the marts into one self-contained HTML file."""
    from mlwatch import dashboard  # plotly takes a second to import; only this command needs it

    with _step("dashboard") as (config, settings):
        require(settings, {DAILY_MODEL_MONITORING: "mlwatch metrics"})
        with connected(settings) as warehouse:
            warning = days_without_valid_trips(config, warehouse)
            notices = [warning] if warning else []
            page = dashboard.build(
                dashboard.load_dashboard(config.project_dir),
                dashboard.panel_query(warehouse),
                settings.describe(),
                notices,
            )
    for notice in notices:
        console.print(f"[yellow]warning[/]: {notice}", highlight=False)
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
        others = grant_readonly(settings, role, config.project_dir)
    console.print(f"[green]✓ grant-readonly[/]: {role.name} can read the marts schema of {settings.describe()}")
    if others:
        console.print(
            f"[yellow]note[/]: {role.name} can still connect to {others} through PUBLIC's CONNECT (it can read "
            "nothing there that PUBLIC cannot); revoke it there: revoke connect on database <name> from public",
            highlight=False,
        )


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
        with connected(settings) as warehouse, console.status(f"evidently report {day}"):
            paths = report.write_reports(warehouse, config, day, output_dir)
    console.print(f"[green]✓ report[/]: {day} → {output_dir}")
    for path in paths:
        typer.echo(path.resolve())


def main() -> None:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    app()


if __name__ == "__main__":
    main()
