"""`mlwatch load`: land the TLC months and zones, train the baseline model, and land its predictions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlwatch import load as loader
from mlwatch.config import MonitoringConfig
from mlwatch.errors import ConfigError, LoadError, MlwatchError
from mlwatch.relations import TRAINING_INPUTS
from mlwatch.steps import Reporter, Written, build
from mlwatch.warehouse import WarehouseSettings, connected, ensure_raw_tables


@dataclass(frozen=True)
class Loaded:
    trips: int
    zones: int
    model_version: str
    predictions: int


def _land_files(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    data_dir: Path,
    base_url: str,
    reporter: Reporter,
    written: Written,
) -> tuple[int, int]:
    """Every configured month's trips and the zones, each file atomically; (trips, zones) landed."""
    paths = {
        month: loader.ensure_file(data_dir, loader.trip_file_name(config.taxi_type, month), base_url)
        for month in config.months
    }
    zone_path = loader.ensure_file(data_dir, loader.ZONE_FILE, base_url)
    file_rows = {month: loader.check_trip_file(path) for month, path in paths.items()}  # before any write
    if file_rows[config.reference_month] < config.training_rows:
        raise LoadError(
            f"{paths[config.reference_month]}: the reference month holds {file_rows[config.reference_month]:,} rows, "
            f"fewer than training_rows = {config.training_rows:,} (dbt_project.yml vars); refused before anything "
            "was written"
        )
    with connected(settings, create_database=True) as warehouse:
        ensure_raw_tables(warehouse)
        zones = loader.load_zones(warehouse, zone_path)  # first: trips are checked against the zones
        reporter.say(f"  {zone_path.name}: {zones} zones")
        checks = loader.RowChecks(loader.known_zone_ids(warehouse), config.max_trip_hours, config.max_reject_share)
        land = loader.load_trip_file
        if settings.target == "spark":
            from mlwatch import spark_load  # PySpark: only the Spark target imports it

            land = spark_load.load_trip_file
        trips = 0
        for month, path in paths.items():
            with reporter.progress(f"trips {path.name}", file_rows[month]) as ticker:
                loaded = land(warehouse, path, month, ticker.advance, checks)
            trips += loaded.rows
            written.rows += loaded.rows
            note = f" (ignored unknown columns {list(loaded.ignored_columns)})" if loaded.ignored_columns else ""
            if loaded.rejected:
                reasons = ", ".join(f"{reason}: {count:,}" for reason, count in loaded.rejected.items())
                note += f"; {sum(loaded.rejected.values()):,} rows quarantined ({reasons})"
            if loaded.outside_month:
                note += (
                    f"; {loaded.outside_month:,} picked up outside {month}, in a daily batch only if their month "
                    "is a production month"
                )
            reporter.say(f"  {path.name}: {loaded.rows:,} trips{note}")
    return trips, zones


def check_ready(config: MonitoringConfig) -> None:
    """`mlwatch load` lands the taxi example; a model's own tables have loaders of their own."""
    if config.monitored_tables is not None:
        raise ConfigError(
            "this configuration (MLWATCH_CONFIG) monitors a model's own tables, which `mlwatch load` does not fill: "
            "land its files with `mlwatch load-predictions` and `mlwatch load-labels`"
        )


def run(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    reporter: Reporter,
    written: Written,
    data_dir: Path,
    base_url: str = loader.TLC_BASE_URL,
) -> Loaded:
    """Land the files, build the training inputs with dbt, train, register and score the model."""
    reporter.say(
        f"load → {settings.describe()} (reference {config.reference_month}, "
        f"production {', '.join(config.production_months)})"
    )
    trips, zones = _land_files(config, settings, data_dir, base_url, reporter, written)
    try:
        build(config, settings, reporter, TRAINING_INPUTS)
        from mlwatch import train as trainer  # scikit-learn takes seconds to import; only this step needs it

        with connected(settings) as warehouse:
            train, validation = trainer.fetch_training_frames(warehouse, config)
            trained = trainer.fit(train, validation, config)
            model_path = trainer.save(trained, config.project_dir / "models" / "trained")
            trainer.register(warehouse, trained)
            scored = trainer.score(warehouse, trained, config)
            written.rows += scored
    except MlwatchError as error:
        # The files have landed, no model was trained on them: say so, and what the next run does.
        raise type(error)(
            f"{error}; the trips are landed but no model was trained on them, so `mlwatch metrics` is refused "
            "until `mlwatch load` succeeds"
        ) from error
    meta = trained.metadata
    reporter.say(
        f"  model {meta.model_version} → {model_path.relative_to(config.project_dir)}: "
        f"train MAE {meta.train_mae:.4f} on {meta.train_rows:,} rows, "
        f"validation MAE {meta.validation_mae:.4f} on {meta.validation_rows:,} rows; "
        f"{scored:,} predictions"
    )
    return Loaded(trips, zones, meta.model_version, scored)
