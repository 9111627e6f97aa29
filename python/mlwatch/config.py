"""The monitoring configuration: dbt_project.yml `vars` plus the seed monitored_columns.csv.

dbt reads the same files, so Python and SQL cannot disagree on months, rules or columns. MLWATCH_CONFIG names a
YAML file of vars that replace the project's (a model other than the taxi example, e.g.
examples/car_price/mlwatch.yml); environment variables override the months for one run. Both are passed on to
dbt as --vars.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlwatch.errors import ConfigError
from mlwatch.relations import MONITORED_ROWS, TRIPS_SCORED

# Trip columns that are not numbers (models/staging/stg_tlc__green_trips.sql): they cannot be monitored.
NOT_NUMERIC_TRIP_COLUMNS = (
    "source_file",
    "source_month",
    "pickup_datetime",
    "dropoff_datetime",
    "store_and_fwd_flag",
    "loaded_at",
)
ROLES = ("numerical_feature", "categorical_feature", "target", "prediction")
METRICS_ENGINES = ("evidently", "warehouse")
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Names that reach SQL (column, rule, metric names) or file names (taxi_type) must be plain identifiers.
IDENTIFIER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class MonitoredColumn:
    name: str
    role: str
    stat_test: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    column: str
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True


@dataclass(frozen=True)
class Period:
    """[start, end), as the vars reference_period and production_period give it."""

    start: dt.datetime
    end: dt.datetime

    def __str__(self) -> str:
        return f"{self.start} to {self.end}"

    def has_day(self, day: dt.date) -> bool:
        midnight = dt.datetime.combine(day, dt.time())
        return self.start < midnight + dt.timedelta(days=1) and midnight < self.end


@dataclass(frozen=True)
class MonitoredTables:
    """A model's own predictions and labels tables in schema raw (docs/contract.md); the taxi example has none."""

    predictions: str
    labels: str
    reference: Period
    production: Period
    # the version of predictions whose file has no model_version column
    model_version: str | None = None


@dataclass(frozen=True)
class MonitoringConfig:
    project_dir: Path
    taxi_type: str
    reference_month: str
    production_months: tuple[str, ...]
    training_rows: int
    timestamp_column: str
    target_column: str
    prediction_column: str
    drift_share: float
    input_rules: tuple[Rule, ...]
    target_rules: tuple[Rule, ...]
    columns: tuple[MonitoredColumn, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    metrics_engine: str = "evidently"
    # The loader quarantines impossible rows (python/mlwatch/load.py) and refuses a file with more of them.
    max_reject_share: float = 0.01
    max_trip_hours: float = 24.0
    # (metric name, quantile) of each numerical column's daily health
    health_quantiles: tuple[tuple[str, float], ...] = ()
    monitored_tables: MonitoredTables | None = None
    id_column: str = "trip_id"
    # where the seeds are, relative to the project (the var seed_dir)
    seed_dir: Path = Path("seeds")

    @property
    def months(self) -> tuple[str, ...]:
        return (self.reference_month, *self.production_months)

    def columns_with_role(self, *roles: str) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    @property
    def numerical_features(self) -> list[str]:
        return self.columns_with_role("numerical_feature")

    @property
    def categorical_features(self) -> list[str]:
        return self.columns_with_role("categorical_feature")

    @property
    def features(self) -> list[str]:
        """Model inputs in the seed's order (numerical first, as the course trains them)."""
        return self.numerical_features + self.categorical_features

    @property
    def drift_columns(self) -> list[str]:
        """Columns whose drift counts towards the dataset-drift share: the features and the prediction."""
        return [*self.features, self.prediction_column]

    @property
    def monitored_columns(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def rows_relation(self) -> str:
        """The input contract's rows (macros/monitored_model.sql, monitored_rows): the taxi example's scored trips,
        or a model's own predictions with their labels."""
        return TRIPS_SCORED if self.monitored_tables is None else MONITORED_ROWS

    def is_production_day(self, day: dt.date) -> bool:
        if self.monitored_tables is None:
            return f"{day:%Y-%m}" in self.production_months
        return self.monitored_tables.production.has_day(day)

    @property
    def production_label(self) -> str:
        if self.monitored_tables is None:
            return f"the production months ({', '.join(self.production_months)})"
        return f"the production period ({self.monitored_tables.production})"

    @property
    def reference_label(self) -> str:
        if self.monitored_tables is None:
            return f"the {self.reference_month} reference"
        return f"the reference period ({self.monitored_tables.reference})"

    def column(self, name: str) -> MonitoredColumn:
        return next(c for c in self.columns if c.name == name)


def find_project_dir(start: Path | None = None) -> Path:
    """The dbt project root: $MLWATCH_PROJECT_DIR, or the nearest folder above `start` with dbt_project.yml."""
    if env := os.environ.get("MLWATCH_PROJECT_DIR"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    raise ConfigError(f"No dbt_project.yml in {here} or above; run from the project folder or set MLWATCH_PROJECT_DIR")


def _check_month(value: str, what: str) -> str:
    value = str(value).strip()
    if not MONTH_PATTERN.match(value):
        raise ConfigError(f"{what} {value!r} is not a month in YYYY-MM form")
    return value


def _rule(raw: dict[str, Any], kind: str) -> Rule:
    try:
        rule = Rule(
            name=str(raw["name"]),
            column=str(raw["column"]),
            min=None if raw.get("min") is None else float(raw["min"]),
            max=None if raw.get("max") is None else float(raw["max"]),
            min_inclusive=bool(raw.get("min_inclusive", True)),
            max_inclusive=bool(raw.get("max_inclusive", True)),
        )
    except KeyError as missing:
        raise ConfigError(f"A {kind} rule lacks {missing}: {raw}") from None
    if rule.min is None and rule.max is None:
        raise ConfigError(f"{kind} rule {rule.name!r} sets neither min nor max")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", rule.name):
        raise ConfigError(f"{kind} rule name {rule.name!r} must be a lower-case SQL identifier")
    return rule


def _seed_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """A seed's rows with their line numbers, each value exactly as dbt will load it.

    dbt seeds values verbatim, so a stray space makes a name match nothing in SQL while Python, if it
    stripped it, would go on as if it matched: a surrounding space is refused, not trimmed."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a readable CSV seed ({error})") from error
    for name in header:
        if name != name.strip():
            raise ConfigError(f"{path}: line 1: header {name!r} has surrounding spaces; remove them")
    missing = [name for name in required if name not in header]
    if missing:
        raise ConfigError(f"{path}: line 1: required column(s) {missing} missing (the header is {header})")
    numbered = []
    for number, row in enumerate(rows, start=2):
        if None in row or any(value is None for value in row.values()):
            raise ConfigError(f"{path}: line {number}: {len(header)} fields expected, the line has another count")
        for column, value in row.items():
            if value != value.strip():
                raise ConfigError(
                    f"{path}: line {number}: {column} {value!r} has surrounding spaces, so it would match "
                    f"nothing in the warehouse; write {value.strip()!r}"
                )
        numbered.append((number, row))
    return numbered


def _seed_number(path: Path, number: int, column: str, value: str) -> float | None:
    if not value:
        return None
    try:
        parsed = float(value)
    except ValueError:
        parsed = float("nan")
    if parsed != parsed or parsed in (float("inf"), float("-inf")):
        raise ConfigError(f"{path}: line {number}: {column} {value!r} is not a finite number")
    return parsed


def _read_columns(path: Path) -> tuple[MonitoredColumn, ...]:
    columns = []
    for number, row in _seed_rows(path, ("column_name", "role")):
        role = row["role"]
        if role not in ROLES:
            raise ConfigError(f"{path}: line {number}: role {role!r} is not one of {', '.join(ROLES)}")
        if not IDENTIFIER_PATTERN.match(row["column_name"]):
            raise ConfigError(
                f"{path}: line {number}: column_name {row['column_name']!r} is not a plain lower-case identifier "
                "([a-z_][a-z0-9_]*)"
            )
        columns.append(
            MonitoredColumn(
                name=row["column_name"],
                role=role,
                stat_test=row.get("stat_test") or None,
                threshold=_seed_number(path, number, "threshold", row.get("threshold") or ""),
            )
        )
    return tuple(columns)


THRESHOLD_DIRECTIONS = ("max", "min")


def check_metric_thresholds(seed_dir: Path, metric_names: list[str]) -> None:
    """Every test of the seed metric_thresholds.csv names a metric that daily_metric_trends has, a direction
    and numeric thresholds: a name that resolves to nothing would drop the test from daily_test_results."""
    path = seed_dir / "metric_thresholds.csv"
    if not path.is_file():
        return
    for number, row in _seed_rows(path, ("metric_name",)):
        if row["metric_name"] not in metric_names:
            raise ConfigError(
                f"{path}: line {number}: metric_name {row['metric_name']!r} is not a metric of daily_metric_trends "
                f"(the trend_metrics var of dbt_project.yml and share_failing_<rule>): {metric_names}"
            )
        if "direction" in row and row["direction"] not in THRESHOLD_DIRECTIONS:
            raise ConfigError(
                f"{path}: line {number}: direction {row['direction']!r} is not one of {', '.join(THRESHOLD_DIRECTIONS)}"
            )
        for column, value in row.items():
            if column.endswith("_threshold"):
                _seed_number(path, number, column, value)


def load_config(project_dir: Path | None = None, env: dict[str, str] | None = None) -> MonitoringConfig:
    """Read and validate the configuration; MLWATCH_REFERENCE_MONTH / MLWATCH_PRODUCTION_MONTHS override the months."""
    env = dict(os.environ if env is None else env)
    project_dir = project_dir or find_project_dir()
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    variables: dict[str, Any] = dict(project.get("vars") or {})

    overrides: dict[str, Any] = {}
    if env.get("MLWATCH_CONFIG"):
        overrides.update(_config_file_vars(project_dir / env["MLWATCH_CONFIG"]))
    if env.get("MLWATCH_REFERENCE_MONTH"):
        overrides["reference_month"] = env["MLWATCH_REFERENCE_MONTH"].strip()
    if env.get("MLWATCH_PRODUCTION_MONTHS"):
        overrides["production_months"] = [m.strip() for m in env["MLWATCH_PRODUCTION_MONTHS"].split(",") if m.strip()]
    variables.update(overrides)

    reference_month = _check_month(variables["reference_month"], "reference_month")
    production_months = tuple(_check_month(m, "production month") for m in variables["production_months"])
    if not production_months:
        raise ConfigError("production_months is empty: name at least one month to monitor")
    if reference_month in production_months:
        raise ConfigError(f"reference month {reference_month} is also a production month")
    if len(set(production_months)) != len(production_months):
        raise ConfigError(f"production_months repeats a month: {list(production_months)}")

    seed_dir = project_dir / str(variables.get("seed_dir", "seeds"))
    config = MonitoringConfig(
        project_dir=project_dir,
        taxi_type=str(variables.get("taxi_type", "green")),
        reference_month=reference_month,
        production_months=production_months,
        training_rows=int(variables["training_rows"]),
        timestamp_column=str(variables["timestamp_column"]),
        target_column=str(variables["target_column"]),
        prediction_column=str(variables["prediction_column"]),
        drift_share=float(variables["drift_share"]),
        input_rules=tuple(_rule(r, "input") for r in variables.get("input_rules") or []),
        target_rules=tuple(_rule(r, "target") for r in variables.get("target_rules") or []),
        columns=_read_columns(seed_dir / "monitored_columns.csv"),
        overrides=overrides,
        metrics_engine=check_metrics_engine(str(variables.get("metrics_engine", "evidently"))),
        max_reject_share=float(variables.get("max_reject_share", 0.01)),
        max_trip_hours=float(variables.get("max_trip_hours", 24)),
        health_quantiles=_quantiles(variables.get("health_quantiles") or {}),
        monitored_tables=_monitored_tables(variables),
        id_column=str(variables.get("id_column", "trip_id")),
        seed_dir=seed_dir.relative_to(project_dir) if seed_dir.is_relative_to(project_dir) else seed_dir,
    )
    trend_metrics = [str(name) for name in variables.get("trend_metrics") or []]
    _validate_identifiers(config, trend_metrics)
    _validate_columns(config)
    rule_shares = [f"share_failing_{rule.name}" for rule in (*config.input_rules, *config.target_rules)]
    check_metric_thresholds(seed_dir, [*trend_metrics, *rule_shares])
    return config


def _config_file_vars(path: Path) -> dict[str, Any]:
    """The vars of an MLWATCH_CONFIG file, a YAML mapping."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"MLWATCH_CONFIG {path}: not a readable YAML file ({error})") from error
    if not isinstance(loaded, dict):
        raise ConfigError(f"MLWATCH_CONFIG {path}: expected a mapping of dbt vars, found {type(loaded).__name__}")
    # dates stay the strings the file wrote: dbt gets them back through --vars as JSON
    return {str(name): _plain(value) for name, value in loaded.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


PERIOD_BOUND = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")


def _period(variables: dict[str, Any], name: str) -> Period:
    raw = variables.get(name)
    if not isinstance(raw, dict) or not {"start", "end"} <= raw.keys():
        raise ConfigError(
            f"{name} {raw!r}: expected {{start: 'YYYY-MM-DD[ HH:MM:SS]', end: ...}} with monitored_tables"
        )
    bounds = []
    for key in ("start", "end"):
        text = str(raw[key])
        if not PERIOD_BOUND.match(text):
            raise ConfigError(f"{name} {key} {text!r} is not a 'YYYY-MM-DD[ HH:MM:SS]' timestamp")
        try:
            bounds.append(dt.datetime.fromisoformat(text))
        except ValueError as error:
            raise ConfigError(f"{name} {key} {text!r}: {error}") from None
    if not bounds[0] < bounds[1]:
        raise ConfigError(f"{name}: start {raw['start']} is not before end {raw['end']}")
    return Period(bounds[0], bounds[1])


def _monitored_tables(variables: dict[str, Any]) -> MonitoredTables | None:
    raw = variables.get("monitored_tables")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not {"predictions", "labels"} <= raw.keys():
        raise ConfigError(f"monitored_tables {raw!r}: expected {{predictions: <table>, labels: <table>}}")
    predictions, labels = str(raw["predictions"]), str(raw["labels"])
    for what, name in (("predictions", predictions), ("labels", labels)):
        if not IDENTIFIER_PATTERN.match(name):
            raise ConfigError(
                f"monitored_tables {what} {name!r} is not a plain lower-case identifier ([a-z_][a-z0-9_]*)"
            )
    if predictions == labels:
        raise ConfigError(f"monitored_tables: predictions and labels are both {predictions!r}")
    reference, production = _period(variables, "reference_period"), _period(variables, "production_period")
    if reference.start < production.end and production.start < reference.end:
        raise ConfigError(f"reference_period ({reference}) and production_period ({production}) overlap")
    return MonitoredTables(
        predictions=predictions,
        labels=labels,
        reference=reference,
        production=production,
        model_version=None if raw.get("model_version") is None else str(raw["model_version"]),
    )


def _quantiles(raw: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    quantiles = []
    for name, quantile in raw.items():
        if not IDENTIFIER_PATTERN.match(str(name)):
            raise ConfigError(f"health_quantiles name {name!r} is not a plain lower-case identifier ([a-z_][a-z0-9_]*)")
        if not isinstance(quantile, int | float) or not 0 <= quantile <= 1:
            raise ConfigError(f"health_quantiles {name}: {quantile!r} is not a quantile in [0, 1]")
        quantiles.append((str(name), float(quantile)))
    return tuple(quantiles)


def check_metrics_engine(engine: str) -> str:
    if engine not in METRICS_ENGINES:
        raise ConfigError(f"metrics engine {engine!r}: expected one of {', '.join(METRICS_ENGINES)}")
    return engine


def _validate_identifiers(config: MonitoringConfig, trend_metrics: list[Any]) -> None:
    """Every name the SQL or the file names are built from is a plain identifier (no quoting, no injection)."""
    names = {
        "taxi_type": [config.taxi_type],
        "timestamp_column": [config.timestamp_column],
        "target_column": [config.target_column],
        "prediction_column": [config.prediction_column],
        "id_column": [config.id_column],
        "seeds/monitored_columns.csv column_name": config.monitored_columns,
        "trend_metrics": [str(name) for name in trend_metrics],
    }
    for what, values in names.items():
        for value in values:
            if not IDENTIFIER_PATTERN.match(value):
                raise ConfigError(f"{what} {value!r} is not a plain lower-case identifier ([a-z_][a-z0-9_]*)")


def _validate_columns(config: MonitoringConfig) -> None:
    names = config.monitored_columns
    if len(set(names)) != len(names):
        raise ConfigError("seeds/monitored_columns.csv lists a column twice")
    if not config.features:
        raise ConfigError("seeds/monitored_columns.csv names no feature")
    for role, expected in (("target", config.target_column), ("prediction", config.prediction_column)):
        listed = config.columns_with_role(role)
        if listed != [expected]:
            raise ConfigError(
                f"seeds/monitored_columns.csv must list exactly one {role} column, {expected!r} "
                f"(dbt_project.yml vars), found {listed}"
            )
    if config.monitored_tables is None:
        _validate_taxi_columns(config)
    if config.training_rows <= 0:
        raise ConfigError("training_rows must be positive")
    if not 0 < config.drift_share <= 1:
        raise ConfigError("drift_share must be in (0, 1]")
    if not 0 <= config.max_reject_share <= 1:
        raise ConfigError("max_reject_share must be in [0, 1]")
    if not config.max_trip_hours > 0:
        raise ConfigError("max_trip_hours must be positive")


def _validate_taxi_columns(config: MonitoringConfig) -> None:
    """The taxi example's columns are known before any load (a model's own tables are checked file by file, as
    `mlwatch load-predictions` lands them)."""
    from mlwatch.schema import TRIP_COLUMNS  # the staging model's column names

    names = config.monitored_columns
    known = set(TRIP_COLUMNS) | {config.prediction_column}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"seeds/monitored_columns.csv names unknown column(s) {unknown}; known: {sorted(known)}")
    # The model and the drift tests take numbers: a text or time column would land, then fail at training.
    not_numbers = [n for n in names if n in NOT_NUMERIC_TRIP_COLUMNS]
    if not_numbers:
        raise ConfigError(
            f"seeds/monitored_columns.csv: column(s) {not_numbers} hold text or timestamps; monitored columns, "
            "categorical features included, must be numeric (e.g. location ids)"
        )
    for rule in (*config.input_rules, *config.target_rules):
        if rule.column not in TRIP_COLUMNS:
            raise ConfigError(f"rule {rule.name!r} checks unknown column {rule.column!r}")
    if config.timestamp_column not in TRIP_COLUMNS:
        raise ConfigError(f"timestamp_column {config.timestamp_column!r} is not a trip column")
