"""`mlwatch metrics`: build the engines' inputs, compute the pending daily batches with one engine, build the marts."""

from __future__ import annotations

from mlwatch import estimates
from mlwatch.batches import MetricsRun
from mlwatch.config import MonitoringConfig
from mlwatch.engines import engine_module, load_engine
from mlwatch.relations import METRIC_INPUTS, SERVING
from mlwatch.steps import Reporter, Written, build, importing
from mlwatch.warehouse import WarehouseSettings, connected


def run(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    reporter: Reporter,
    written: Written,
    engine: str | None = None,
    full_refresh: bool = False,
) -> MetricsRun:
    """Every daily batch not yet computed (all with `full_refresh`) by `engine` (default: the metrics_engine var)."""
    name = engine or config.metrics_engine
    module = engine_module(name)  # an unknown engine is refused before any work
    reporter.say(f"metrics ({name} engine) → {settings.describe()}")
    with importing(module):  # both engines import Evidently
        build(config, settings, reporter, METRIC_INPUTS)
    with reporter.progress("daily batches") as ticker:
        run = load_engine(name).compute_metrics(
            config,
            settings,
            full_refresh,
            on_start=ticker.total,
            on_day=lambda day: ticker.advance(description=f"daily batches ({day})"),
        )
    with reporter.waiting("performance estimates (NannyML DLE)"), connected(settings) as warehouse:
        estimated = estimates.write_estimates(warehouse, config)
    reporter.say(f"  estimated MAE (Direct Loss Estimation): {estimated} day(s)")
    written.rows = run.rows_written + estimated
    reporter.say(
        f"  {name}: {run.days_computed} day(s) for {run.model_versions} model version(s), "
        f"{run.rows_written:,} metric rows, {run.seconds:.2f} s"
        + (f" (dbt start-up {run.dbt_start_up_seconds:.2f} s)" if run.dbt_start_up_seconds else "")
    )
    build(config, settings, reporter, SERVING)
    return run
