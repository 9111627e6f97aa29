"""The warehouse engine (SQL) against the Evidently engine, with Evidently as the oracle.

The session's built pipeline ran the Evidently engine; a copy of its warehouse is recomputed with
`mlwatch metrics --engine warehouse --full-refresh`. Both must write the same rows of raw.batch_metrics:
every metric, on every production day, to 1e-6, with the same test names, thresholds and flags. Then
the seed forces other stat tests (PSI, K-S, ...), and the engine is compared with Evidently run
directly with the same configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import PROJECT_DIR, Pipeline, cloned

from mlwatch import dashboard as static
from mlwatch.config import MonitoringConfig
from mlwatch.engines import p_values
from mlwatch.engines import warehouse as warehouse_engine

pytestmark = [pytest.mark.integration]

KEYS = ["batch_date", "model_version", "metric_name", "column_name"]
TOLERANCE = 1e-6
# Each forced test exercises a path the defaults never take on this data: PSI and Jensen-Shannon on
# Sturges histograms (numerical columns), PSI and chi-square on category counts, the exact K-S p-value.
FORCED_TESTS = {
    "fare_amount": ("psi", None),
    "total_amount": ("jensenshannon", 0.05),
    "trip_distance": ("ks", 0.01),
    "pickup_location_id": ("psi", 0.2),
    "dropoff_location_id": ("chisquare", None),
}


def test_p_values_match_closed_forms() -> None:
    # Two samples of two: D = 1 only when one sample lies wholly below the other, 2 of the C(4, 2) = 6 orders.
    assert p_values.ks_p_value(1.0, 2, 2) == pytest.approx(1 / 3)
    # Four against four: D <= 1/4 keeps the order's lattice path within one step of the diagonal, which
    # 2^4 of the C(8, 4) = 70 paths do, so P(D >= 1/2) = 1 - 16/70; and every path reaches D = 1/4.
    assert p_values.ks_p_value(0.5, 4, 4) == pytest.approx(27 / 35)
    assert p_values.ks_p_value(0.25, 4, 4) == pytest.approx(1.0)
    # Two degrees of freedom: the chi-square survival function is exp(-x / 2).
    assert p_values.chisquare_p_value(2 * math.log(20), 2) == pytest.approx(0.05)
    # 1.959963984540054 is the standard normal's 97.5% quantile; the test is two-sided.
    assert p_values.z_p_value(-1.959963984540054) == pytest.approx(0.05)
    assert p_values.z_p_value(0.0) == 1.0


@dataclasses.dataclass
class Engines:
    evidently: Pipeline
    warehouse: Pipeline
    output: str  # what `mlwatch metrics --engine warehouse` printed


@pytest.fixture(scope="module")
def recomputed_duckdb(built_duckdb: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A copy of the DuckDB pipeline recomputed by the warehouse engine (the marts Spark's must equal)."""
    with cloned(built_duckdb, tmp_path_factory.mktemp("warehouse-engine-duckdb")) as warehouse:
        ran = warehouse.run("metrics", "--engine", "warehouse", "--full-refresh")
        warehouse.outputs["metrics"] = ran.stdout + ran.stderr
        yield warehouse


@pytest.fixture(
    scope="module",
    params=[
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=pytest.mark.spark),
    ],
)
def engines(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    """The session's pipeline (Evidently engine) and a copy of it recomputed by the warehouse engine. Spark's
    pipeline runs the warehouse engine by default: the oracle is then the same files' Evidently run on DuckDB."""
    if request.param == "duckdb":
        warehouse = request.getfixturevalue("recomputed_duckdb")
        yield Engines(request.getfixturevalue("built_duckdb"), warehouse, warehouse.outputs["metrics"])
        return
    if request.param == "spark":
        spark = request.getfixturevalue("built_spark")
        yield Engines(request.getfixturevalue("built_duckdb"), spark, spark.outputs["metrics"])
        return
    evidently = request.getfixturevalue(f"built_{request.param}")
    with cloned(evidently, tmp_path_factory.mktemp(f"warehouse-engine-{request.param}")) as warehouse:
        ran = warehouse.run("metrics", "--engine", "warehouse", "--full-refresh")
        yield Engines(evidently, warehouse, ran.stdout + ran.stderr)


def engine_metrics(pipeline: Pipeline) -> pd.DataFrame:
    frame = pipeline.query("select * from raw.batch_metrics")
    frame["batch_date"] = pd.to_datetime(frame["batch_date"]).dt.date
    for column in ("metric_value", "threshold", "calibrated_threshold"):
        frame[column] = frame[column].astype(float)
    return frame


def compare(expected: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Both engines' rows side by side; fails on a key one engine wrote and the other did not."""
    both = expected.merge(actual, on=KEYS, how="outer", suffixes=("_evidently", "_warehouse"), indicator=True)
    unmatched = both[both["_merge"] != "both"]
    assert unmatched.empty, f"keys written by one engine only:\n{unmatched[[*KEYS, '_merge']].head(20)}"
    return both


def nulls_as_none(series: pd.Series) -> list[object]:
    """The drivers return missing flags and names as None, NaN or pd.NA; compare them as one thing."""
    return [None if pd.isna(value) else value for value in series]


def assert_same_values(both: pd.DataFrame) -> None:
    evidently, warehouse = both["metric_value_evidently"], both["metric_value_warehouse"]
    difference = (evidently - warehouse).abs().where(evidently.notna() | warehouse.notna(), 0)
    worst = difference.groupby(both["metric_name"]).max()
    assert (worst <= TOLERANCE).all(), f"largest difference per metric (NaN: missing on one side):\n{worst}"
    # Evidently run directly judges no calibrated thresholds: compare the columns both sides have.
    for column in [c for c in ("stat_test", "drift_detected", "calibrated_drift_detected") if f"{c}_evidently" in both]:
        pairs = zip(nulls_as_none(both[f"{column}_evidently"]), nulls_as_none(both[f"{column}_warehouse"]), strict=True)
        differing = both[[left != right for left, right in pairs]]
        assert differing.empty, f"{column} differs:\n{differing[[*KEYS, f'{column}_evidently', f'{column}_warehouse']]}"
    for column in [c for c in ("threshold", "calibrated_threshold") if f"{c}_evidently" in both]:
        differing = (both[f"{column}_evidently"].fillna(-1) - both[f"{column}_warehouse"].fillna(-1)).abs()
        assert (differing <= TOLERANCE).all(), both.loc[differing > TOLERANCE, [*KEYS, f"{column}_evidently"]]


def test_warehouse_engine_writes_what_evidently_writes(engines: Engines) -> None:
    evidently = engine_metrics(engines.evidently)
    warehouse = engine_metrics(engines.warehouse)
    both = compare(evidently, warehouse)
    assert_same_values(both)

    february = {dt.date(2021, 2, 1) + dt.timedelta(days=offset) for offset in range(28)}
    drift = warehouse[warehouse["metric_name"] == "drift_score"]
    assert set(drift["batch_date"]) == february
    assert set(drift["column_name"]) == set(engines.warehouse.config.drift_columns)
    assert set(warehouse["engine"]) == {"warehouse"}
    assert set(warehouse["evidently_version"]) == set(evidently["evidently_version"])


def test_the_engine_line_tells_dbt_start_up_from_computation(engines: Engines) -> None:
    [line] = [line for line in engines.output.splitlines() if line.strip().startswith("warehouse: 28 day(s)")]
    found = re.search(r"([\d.]+) s \(dbt start-up ([\d.]+) s\)$", line.strip())
    assert found, line
    total, start_up = float(found.group(1)), float(found.group(2))
    assert 0 < start_up < total


def test_marts_read_the_warehouse_engine_like_evidently(engines: Engines) -> None:
    sql = (
        "select batch_date, prediction_drift_score, drifted_columns_share, missing_values_share, dataset_drift "
        "from marts.daily_model_monitoring order by batch_date"
    )
    evidently = engines.evidently.query(sql)
    warehouse = engines.warehouse.query(sql)
    for frame in (evidently, warehouse):  # DuckDB's driver gives dates as datetime64, Spark's as date objects
        frame["batch_date"] = pd.to_datetime(frame["batch_date"])
    assert len(warehouse) == 28 and warehouse["prediction_drift_score"].notna().all()
    pd.testing.assert_frame_equal(evidently, warehouse, check_exact=False, atol=TOLERANCE, check_dtype=False)


@pytest.fixture
def forced(engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """A copy of the warehouse-engine pipeline whose seed table names other stat tests and thresholds."""
    if engines.warehouse.target == "spark":
        # The session's Spark warehouse is shared (a copy would be a new metastore and JVM): the forced tests run
        # the same models' SQL, held to Evidently on DuckDB and Postgres.
        pytest.skip("forced stat tests: DuckDB and Postgres only (the Spark warehouse is not copied)")
    with cloned(engines.warehouse, tmp_path) as pipeline:
        # dbt runs in this process's environment; keep its artifacts in the test's folder.
        for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
            monkeypatch.setenv(name, pipeline.env[name])
        warehouse = pipeline.connect()
        try:
            for column, (test, threshold) in FORCED_TESTS.items():
                warehouse.execute(
                    "update seeds.monitored_columns set stat_test = ?, threshold = ? where column_name = ?",
                    [test, threshold, column],
                )
        finally:
            warehouse.close()
        yield pipeline


def forced_config(config: MonitoringConfig) -> MonitoringConfig:
    columns = tuple(
        dataclasses.replace(column, stat_test=FORCED_TESTS[column.name][0], threshold=FORCED_TESTS[column.name][1])
        if column.name in FORCED_TESTS
        else column
        for column in config.columns
    )
    return dataclasses.replace(config, columns=columns)


def side(pipeline: Pipeline, config: MonitoringConfig, where: str) -> pd.DataFrame:
    """One side of the comparison as the Evidently engine reads it."""
    columns = ", ".join(config.monitored_columns)
    frame = pipeline.query(
        f"select batch_date, {columns} from intermediate.int_trips_scored "
        f"where passes_input_rules and {where} order by batch_date, trip_id"
    )
    for column in config.monitored_columns:
        frame[column] = pd.to_numeric(frame[column])
    frame["batch_date"] = pd.to_datetime(frame["batch_date"]).dt.date
    return frame


# Evidently's chi-square divides by the expected count 0 of a zone the reference lacks: its statistic is infinite.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in divide:RuntimeWarning")
def test_seed_stat_tests_match_evidently_run_directly(forced: Pipeline) -> None:
    from mlwatch.engines import evidently as metrics

    config = forced_config(forced.config)
    warehouse_engine.compute_metrics(config, forced.settings, full_refresh=True)
    warehouse = engine_metrics(forced)
    warehouse = warehouse[warehouse["metric_name"].isin(["drift_score", "drifted_columns_count", "dataset_drift"])]

    reference = side(forced, config, "split = 'reference'")
    production = side(forced, config, "split = 'production'")
    [version] = warehouse["model_version"].unique()
    days = sorted(production["batch_date"].unique())[::7]
    expected = pd.DataFrame(
        [
            {"batch_date": day, "model_version": version, **value.__dict__}
            for day in days
            for value in metrics.evaluate_batch(production[production["batch_date"] == day], reference, config)
            if value.metric_name in ("drift_score", "drifted_columns_count", "dataset_drift")
        ]
    )
    both = compare(expected, warehouse[warehouse["batch_date"].isin(days)])
    assert_same_values(both)
    drift = both[both["metric_name"] == "drift_score"]
    reported = dict(zip(drift["column_name"], drift["stat_test_warehouse"], strict=True))
    assert reported["trip_distance"] == "K-S p_value" and reported["fare_amount"] == "PSI"

    # Those two p-values per day came from raw.drift_p_values; landing them again replaces every row of the
    # run's days, a test no longer in the seed included, and leaves other days alone.
    february = [dt.date(2021, 2, 1) + dt.timedelta(days=offset) for offset in range(28)]
    expected_keys = {
        (day, version, column, test)
        for day in february
        for column, test in (("trip_distance", "ks"), ("dropoff_location_id", "chisquare"))
    }
    keys = "select batch_date, model_version, column_name, stat_test_key from raw.drift_p_values"
    warehouse_connection = forced.connect()
    try:
        assert set(warehouse_connection.rows(keys)) == expected_keys
        outside = (dt.date(2021, 3, 1), version, "passenger_count", "z")
        for day in (february[0], outside[0]):
            warehouse_connection.execute(
                "insert into raw.drift_p_values (batch_date, model_version, column_name, stat_test_key, p_value) "
                "values (?, ?, 'passenger_count', 'z', 0.5)",
                [day, version],
            )
        assert p_values.land_p_values(warehouse_connection) == len(expected_keys)
        landed = warehouse_connection.rows(keys)
    finally:
        warehouse_connection.close()
    assert len(landed) == len(expected_keys) + 1 and set(landed) == expected_keys | {outside}


# Columns that say when something ran, not what it computed.
RUN_TIMES = {
    "computed_at",
    "loaded_at",
    "predicted_at",
    "trained_at",
    "started_at",
    "finished_at",
    "last_run_started_at",
}


def as_text(value: object) -> str | None:
    """A key value as text, whatever type each driver gives it (dates as datetime64 or date, flags as numpy bools)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, dt.date | pd.Timestamp):
        return pd.Timestamp(value).isoformat()
    return str(value)


def assert_same_rows(duck: pd.DataFrame, spark: pd.DataFrame, what: str) -> None:
    """The same columns and rows in any order (run times left out), numbers to 1e-9."""
    assert list(spark.columns) == list(duck.columns), what
    assert len(spark) == len(duck), what
    columns = [column for column in duck.columns if column not in RUN_TIMES]
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(duck[c]) and duck[c].dtype != bool]
    keys = [column for column in columns if column not in numeric]
    frames = []
    for frame in (duck, spark):
        frame = frame[columns].copy()
        for column in keys:
            frame[column] = [as_text(value) for value in frame[column]]
        frames.append(frame.sort_values(keys, na_position="first").reset_index(drop=True))
    pd.testing.assert_frame_equal(frames[0][keys], frames[1][keys], obj=what)
    for column in numeric:
        expected, actual = frames[0][column].astype(float), frames[1][column].astype(float)
        assert ((expected - actual).abs().fillna(0) <= 1e-9).all() and (expected.isna() == actual.isna()).all(), (
            f"{what}.{column}: largest difference {(expected - actual).abs().max()}"
        )


@pytest.mark.spark
def test_every_spark_mart_equals_duckdbs(recomputed_duckdb: Pipeline, built_spark: Pipeline) -> None:
    """The same files, model and engine on both warehouses: every mart's rows equal, numbers to 1e-9."""
    # pipeline_health counts each warehouse's own runs (the DuckDB copy ran one more)
    marts = sorted(
        path.stem for path in (PROJECT_DIR / "models" / "marts").glob("*.sql") if path.stem != "pipeline_health"
    )
    for mart in marts:
        duck, spark = (pipeline.query(f"select * from marts.{mart}") for pipeline in (recomputed_duckdb, built_spark))
        assert_same_rows(duck, spark, mart)


@pytest.mark.spark
def test_dbt_unit_tests_pass_on_spark_and_a_dbt_run_forgets_the_built_inputs(built_spark: Pipeline) -> None:
    output = built_spark.outputs["unit tests"]
    assert "ERROR=0" in output and "PASS=" in output, output
    # `mlwatch metrics` kept its inputs' fingerprint; the dbt run that followed (not one of mlwatch's own) forgot it.
    assert "--selector metric_inputs: ok" in built_spark.outputs["metrics"]
    assert built_spark.query("select count(*) as n from raw.metric_inputs_builds").n[0] == 0


@pytest.mark.spark
def test_every_dashboard_panel_reads_on_spark_what_it_reads_on_duckdb(
    recomputed_duckdb: Pipeline, built_spark: Pipeline
) -> None:
    """`mlwatch dashboard` ran in Spark's build (see conftest._build); each panel's query, as the static dashboard
    sends it, returns on Spark the rows it returns on DuckDB, numbers to 1e-9 (the run log's panels aside)."""
    assert "✓ dashboard" in built_spark.outputs["dashboard"]
    dashboard = static.load_dashboard(PROJECT_DIR)
    duck, spark = recomputed_duckdb.connect(), built_spark.connect()
    try:
        # the session keeps reading double quotes as identifiers: no other Spark test quotes a string so
        duck_query, spark_query = static.panel_query(duck), static.panel_query(spark)
        time_range = static.data_time_range(duck_query)
        assert static.data_time_range(spark_query) == time_range
        variables = static.resolve_variables(dashboard, time_range, duck_query)
        assert static.resolve_variables(dashboard, time_range, spark_query) == variables
        compared = 0
        for panel in static.panels(dashboard):
            sql = static.render_sql(static.target(panel)["rawSql"], time_range, variables)
            if "marts.pipeline_health" in sql:  # each warehouse's own runs
                continue
            assert_same_rows(duck_query(sql), spark_query(sql), panel["title"])
            compared += 1
    finally:
        duck.close()
        spark.close()
    assert compared == len(static.panels(dashboard)) - 3
