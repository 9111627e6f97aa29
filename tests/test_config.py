"""Configuration is read from dbt_project.yml and the seed, and refused before anything runs when wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import PROJECT_DIR

from mlwatch.config import load_config
from mlwatch.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path)
    shutil.copytree(PROJECT_DIR / "seeds", tmp_path / "seeds")
    return tmp_path


def test_defaults_are_the_course_setup(project: Path) -> None:
    config = load_config(project, env={})
    assert config.reference_month == "2021-01"
    assert config.production_months == ("2021-02",)
    assert config.training_rows == 30000
    assert config.features == [
        "passenger_count",
        "trip_distance",
        "fare_amount",
        "total_amount",
        "pickup_location_id",
        "dropoff_location_id",
    ]
    assert config.drift_columns == [*config.features, "prediction"]
    assert [r.name for r in config.input_rules] == ["passenger_count_in_range"]
    assert config.input_rules[0].min_inclusive is False
    assert config.overrides == {}
    assert config.health_quantiles == (("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))


def test_months_can_be_overridden_from_the_environment(project: Path) -> None:
    env = {"MLWATCH_REFERENCE_MONTH": "2022-01", "MLWATCH_PRODUCTION_MONTHS": "2022-02, 2022-03"}
    config = load_config(project, env=env)
    assert config.months == ("2022-01", "2022-02", "2022-03")
    assert config.overrides == {"reference_month": "2022-01", "production_months": ["2022-02", "2022-03"]}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLWATCH_REFERENCE_MONTH": "2021-13"}, "not a month in YYYY-MM form"),
        ({"MLWATCH_PRODUCTION_MONTHS": "Feb 2021"}, "not a month in YYYY-MM form"),
        ({"MLWATCH_PRODUCTION_MONTHS": "2021-01"}, "also a production month"),
        ({"MLWATCH_PRODUCTION_MONTHS": "2021-02,2021-02"}, "repeats a month"),
    ],
)
def test_bad_months_are_refused(project: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(project, env=env)


def test_an_unknown_monitored_column_is_refused(project: Path) -> None:
    seed = project / "seeds" / "monitored_columns.csv"
    seed.write_text(seed.read_text() + "tip_percent,numerical_feature,,\n")
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['tip_percent'\]"):
        load_config(project, env={})


def test_target_must_agree_with_the_vars(project: Path) -> None:
    seed = project / "seeds" / "monitored_columns.csv"
    seed.write_text(seed.read_text().replace("duration_min,target", "duration_min,numerical_feature"))
    with pytest.raises(ConfigError, match="exactly one target column"):
        load_config(project, env={})


def test_a_rule_on_an_unknown_column_is_refused(project: Path) -> None:
    dbt_project = project / "dbt_project.yml"
    dbt_project.write_text(dbt_project.read_text().replace("column: passenger_count", "column: passengers"))
    with pytest.raises(ConfigError, match="unknown column 'passengers'"):
        load_config(project, env={})


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ("{p05: 0.05, p-95: 0.95}", "health_quantiles name 'p-95' is not a plain lower-case identifier"),
        ("{p05: 0.05, p150: 1.5}", r"health_quantiles p150: 1.5 is not a quantile in \[0, 1\]"),
        ("{p05: 0.05, median: half}", "health_quantiles median: 'half' is not a quantile"),
    ],
)
def test_bad_health_quantiles_are_refused(project: Path, quantiles: str, message: str) -> None:
    dbt_project = project / "dbt_project.yml"
    default = "health_quantiles: {p05: 0.05, p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95}"
    assert default in dbt_project.read_text()
    dbt_project.write_text(dbt_project.read_text().replace(default, f"health_quantiles: {quantiles}"))
    with pytest.raises(ConfigError, match=message):
        load_config(project, env={})


def test_the_warehouse_engines_stat_tests_are_the_macros() -> None:
    """steps.metrics checks seeds against WAREHOUSE_STAT_TESTS: it must list what the SQL implements."""
    import re

    from mlwatch.steps.metrics import WAREHOUSE_STAT_TESTS

    macro = (PROJECT_DIR / "macros" / "warehouse_engine.sql").read_text()
    body = macro[macro.index("macro engine_stat_tests()") : macro.index("endmacro")]
    found = {
        name: tuple(kinds.replace("'", "").replace(" ", "").split(","))
        for name, kinds in re.findall(r"'(\w+)': \{[^}]*'kinds': \[([^\]]*)\]", body, flags=re.S)
    }
    assert found == WAREHOUSE_STAT_TESTS


def test_a_configuration_file_replaces_the_vars_and_reaches_dbt(project: Path) -> None:
    shutil.copytree(PROJECT_DIR / "examples", project / "examples")
    config = load_config(project, env={"MLWATCH_CONFIG": "examples/car_price/mlwatch.yml"})
    assert config.monitored_tables is not None and config.monitored_tables.predictions == "car_price_predictions"
    assert (config.id_column, config.timestamp_column, config.target_column) == ("id", "timestamp", "y_true")
    assert config.seed_dir == Path("examples/car_price/seeds")
    assert config.categorical_features == ["fuel", "transmission"]
    assert config.input_rules == ()
    # dbt gets every var of the file, the periods as the strings the file wrote
    assert config.overrides["reference_period"] == {"start": "2017-01-24", "end": "2017-02-16 16:00:00"}
    assert config.overrides["seed_dir"] == "examples/car_price/seeds"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "expected a mapping of dbt vars, found list"),
        ("monitored_tables: {predictions: p}\n", "expected {predictions: <table>, labels: <table>}"),
        ("monitored_tables: {predictions: p, labels: p}\n", "predictions and labels are both 'p'"),
        ("monitored_tables: {predictions: 'p; drop', labels: l}\n", "is not a plain lower-case identifier"),
        ("id_column: Id\n", "id_column 'Id' is not a plain lower-case identifier"),
    ],
)
def test_a_bad_configuration_file_is_refused(project: Path, text: str, message: str) -> None:
    (project / "mine.yml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(project, env={"MLWATCH_CONFIG": "mine.yml"})


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        ("reference_period: {start: '2017-01-24'}\n", "reference_period {'start': '2017-01-24'}: expected"),
        ("production_period: {start: 2017-03-01, end: '2017-02-01'}\n", "start 2017-03-01 is not before end"),
        ("production_period: {start: '2017-02-10', end: '2017-03-01'}\n", "overlap"),
        ("production_period: {start: '2017-02-31', end: '2017-03-01'}\n", "production_period start '2017-02-31'"),
    ],
)
def test_monitored_tables_need_two_periods_that_do_not_overlap(project: Path, periods: str, message: str) -> None:
    shutil.copytree(PROJECT_DIR / "examples", project / "examples")
    example = (project / "examples/car_price/mlwatch.yml").read_text()
    (project / "mine.yml").write_text(example + periods)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(project, env={"MLWATCH_CONFIG": "mine.yml"})
