"""`mlwatch metrics`: build the engines' inputs, compute the pending daily batches with one engine, build the marts."""

from __future__ import annotations

import time

from mlwatch import built_inputs, estimates
from mlwatch.batches import DRIFT_SIDES, MetricsRun, plan_days
from mlwatch.config import MonitoringConfig
from mlwatch.engines import engine_module, load_engine
from mlwatch.errors import ConfigError
from mlwatch.relations import METRIC_INPUTS, SERVING
from mlwatch.steps import (
    Reporter,
    Written,
    build,
    days_without_valid_trips,
    require,
    require_last_load_complete,
)
from mlwatch.warehouse import WarehouseSettings, connected

# The stat tests the warehouse engine implements and the column kinds each takes: the keys of
# engine_stat_tests() in macros/warehouse_engine.sql (tests/test_reliability.py compares the two).
WAREHOUSE_STAT_TESTS: dict[str, tuple[str, ...]] = {
    "wasserstein": ("numerical",),
    "jensenshannon": ("numerical", "categorical"),
    "psi": ("numerical", "categorical"),
    "ks": ("numerical",),
    "chisquare": ("categorical",),
    "z": ("categorical",),
}


def check_stat_tests(config: MonitoringConfig, engine: str) -> None:
    """Every stat_test of seeds/monitored_columns.csv is one the engine computes for the column's kind,
    checked before any work: both engines refuse the same seed alike, in one line."""
    known = {names[0] for names in DRIFT_SIDES}
    for column in config.columns:
        test = column.stat_test
        if test is None:
            continue
        kind = "categorical" if column.role == "categorical_feature" else "numerical"
        if test not in known:
            raise ConfigError(
                f"seeds/monitored_columns.csv: column {column.name}: stat_test {test!r} is not a drift test mlwatch "
                f"knows (Evidently's registered names: {sorted(known)})"
            )
        if engine == "warehouse" and kind not in WAREHOUSE_STAT_TESTS.get(test, ()):
            supported = sorted(name for name, kinds in WAREHOUSE_STAT_TESTS.items() if kind in kinds)
            raise ConfigError(
                f"seeds/monitored_columns.csv: column {column.name}: the warehouse engine has no {test!r} test for "
                f"{kind} columns; use one of {supported}, or the evidently engine"
            )


def default_engine(config: MonitoringConfig, settings: WarehouseSettings) -> str:
    """The metrics_engine var, but on Spark the warehouse engine: the Evidently engine reads every batch into
    pandas on the driver, which suits a month, not the data a team runs Spark for (`--engine evidently` still can)."""
    return "warehouse" if settings.target == "spark" else config.metrics_engine


def check_ready(config: MonitoringConfig, settings: WarehouseSettings, engine: str | None = None) -> None:
    """Everything `run` needs, checked before the step takes the lock or records a run."""
    name = engine or default_engine(config, settings)
    engine_module(name)
    check_stat_tests(config, name)
    require(settings, {"raw.pipeline_runs": "mlwatch load"})
    require_last_load_complete(settings)
    if config.monitored_tables is None:
        taxi_tables = ("green_trips", "taxi_zones", "model_versions", "predictions")
        loaded = {f"raw.{table}": "mlwatch load" for table in taxi_tables}
    else:
        tables = (config.monitored_tables.predictions, config.monitored_tables.labels)
        loaded = {f"raw.{table}": "mlwatch load-predictions" for table in tables}
    require(settings, loaded)


def build_inputs(config: MonitoringConfig, settings: WarehouseSettings, reporter: Reporter) -> None:
    """The metric inputs, unless they stand as built from the same loads, project files and vars."""
    with connected(settings) as warehouse:
        current = built_inputs.fingerprint(config, warehouse)
        if built_inputs.unchanged(warehouse, config, current):
            reporter.say(
                f"  dbt build --selector {METRIC_INPUTS}: skipped, its models stand as built from the "
                "same loads, project files and vars (`mlwatch dbt build` rebuilds them)"
            )
            return
        built_inputs.forget(warehouse)
    build(config, settings, reporter, METRIC_INPUTS)
    with connected(settings) as warehouse:
        built_inputs.remember(warehouse, current)


def run(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    reporter: Reporter,
    written: Written,
    engine: str | None = None,
    full_refresh: bool = False,
) -> MetricsRun:
    """Every daily batch not yet computed (all with `full_refresh`) by `engine` (default: the metrics_engine var)."""
    name = engine or default_engine(config, settings)
    engine_module(name)  # an unknown engine is refused before any work
    check_stat_tests(config, name)
    reporter.say(f"metrics ({name} engine) → {settings.describe()}")
    # dbt's parsing is Python, like an import: importing the engine in a thread meanwhile saves nothing on
    # two cores, and a run without new days does not import it at all (Evidently: seconds).
    build_inputs(config, settings, reporter)
    with connected(settings) as warehouse:
        plan = plan_days(warehouse, config, full_refresh=False)
        estimating = estimates.start(warehouse, config, full_refresh)
    with estimating:
        if full_refresh or any(plan.values()):
            with reporter.progress("daily batches") as ticker:
                run = load_engine(name).compute_metrics(
                    config,
                    settings,
                    full_refresh,
                    on_start=ticker.total,
                    on_day=lambda day: ticker.advance(description=f"daily batches ({day})"),
                )
        else:
            run = MetricsRun(len(plan), 0, 0, 0.0)
        started = time.perf_counter()
        with reporter.waiting("performance estimates (NannyML DLE)"), connected(settings) as warehouse:
            estimated = estimating.finish(warehouse)
    beside = " more, fitted beside the drift" if estimating.in_background else ""
    reporter.say(
        f"  estimated MAE (Direct Loss Estimation): {estimated} day(s), {time.perf_counter() - started:.1f} s{beside}"
    )
    written.rows = run.rows_written + estimated
    reporter.say(
        f"  {name}: {run.days_computed} day(s) for {run.model_versions} model version(s), "
        f"{run.rows_written:,} metric rows, {run.seconds:.2f} s"
        + (f" (dbt start-up {run.dbt_start_up_seconds:.2f} s)" if run.dbt_start_up_seconds else "")
    )
    build(config, settings, reporter, SERVING)
    with connected(settings) as warehouse:
        warning = days_without_valid_trips(config, warehouse)
    if warning:
        reporter.say(f"  warning: {warning}")
    return run
