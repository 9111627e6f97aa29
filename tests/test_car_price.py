"""The car-price example (examples/car_price/): any model's predictions and late labels through the input contract.

NannyML's synthetic car-price regression, bundled with the nannyml wheel, is landed by `mlwatch load-predictions`
and `mlwatch load-labels` and goes through the warehouse engine's drift models; NannyML itself, run here on the
same files and daily chunks, is the oracle for every drift method both tools define the same way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROJECT_DIR, Pipeline, import_nannyml, make_pipeline, require_postgres
from scipy import stats

pytestmark = pytest.mark.integration

CONFIG = "examples/car_price/mlwatch.yml"
NANNYML_DATA = Path(importlib.util.find_spec("nannyml").submodule_search_locations[0]) / "datasets" / "data"
REFERENCE = NANNYML_DATA / "regression_synthetic_reference.csv"
ANALYSIS = NANNYML_DATA / "regression_synthetic_analysis.csv"
TARGETS = NANNYML_DATA / "regression_synthetic_analysis_targets.csv"
# examples/car_price/seeds/monitored_columns.csv: each column's test, chosen where NannyML has the same one
KS_COLUMNS = ["km_driven", "accident_count", "door_count", "y_pred"]
WASSERSTEIN_COLUMNS = ["car_age", "price_new"]
JENSEN_SHANNON_COLUMNS = ["fuel"]
CHI_SQUARE_COLUMNS = ["transmission"]


def _car_price(target: str, folder: Path) -> Iterator[Pipeline]:
    for pipeline in make_pipeline(target, folder):
        pipeline.env["MLWATCH_CONFIG"] = CONFIG
        pipeline.run("load-predictions", str(REFERENCE), str(ANALYSIS))
        yield pipeline


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def drift(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The example landed (labels of the analysis period included) and its engine's drift models built."""
    if request.param == "postgres":
        require_postgres()
    for pipeline in _car_price(request.param, tmp_path_factory.mktemp(f"car_price_{request.param}")):
        pipeline.run("load-labels", str(TARGETS))
        pipeline.run("dbt", "build", "--select", "+int_column_drift_computed", "--indirect-selection", "cautious")
        yield pipeline


@pytest.fixture(scope="module")
def nannyml_drift() -> pd.DataFrame:
    """NannyML's univariate drift of the analysis file's daily chunks against the reference file."""
    nannyml = import_nannyml()
    reference, analysis = pd.read_csv(REFERENCE), pd.read_csv(ANALYSIS)
    calculator = nannyml.UnivariateDriftCalculator(
        column_names=[*KS_COLUMNS, *WASSERSTEIN_COLUMNS, *JENSEN_SHANNON_COLUMNS],
        treat_as_categorical=JENSEN_SHANNON_COLUMNS,
        timestamp_column_name="timestamp",
        chunk_period="D",
        continuous_methods=["kolmogorov_smirnov", "wasserstein"],
        categorical_methods=["jensen_shannon"],
        # Exact K-S and Wasserstein rather than NannyML's binned estimates (its default above 10,000 reference
        # rows). NannyML 0.13 reads `calculation_method` from the top level of computation_params once the
        # method's key is present, not from under that key.
        computation_params={"kolmogorov_smirnov": {}, "wasserstein": {}, "calculation_method": "exact"},
    )
    results = calculator.fit(reference).calculate(analysis).filter(period="analysis").to_df()
    rows = []
    for _, chunk in results.iterrows():
        day = chunk[("chunk", "chunk", "start_date")].date()
        for method, columns in (
            ("kolmogorov_smirnov", KS_COLUMNS),
            ("wasserstein", WASSERSTEIN_COLUMNS),
            ("jensen_shannon", JENSEN_SHANNON_COLUMNS),
        ):
            rows += [(day, column, method, chunk[(column, method, "value")]) for column in columns]
    return pd.DataFrame(rows, columns=["batch_date", "column_name", "method", "nannyml"])


def _engine_drift(pipeline: Pipeline) -> pd.DataFrame:
    frame = pipeline.query(
        "select batch_date, column_name, stat_test, test_statistic, drift_score "
        "from intermediate.int_column_drift_computed"
    )
    frame["batch_date"] = pd.to_datetime(frame["batch_date"]).dt.date
    return frame


@pytest.mark.parametrize("drift", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_drift_scores_equal_nannyml_on_every_day(drift: Pipeline, nannyml_drift: pd.DataFrame) -> None:
    """K-S statistics, Wasserstein distances and Jensen-Shannon distances of all 24 days equal NannyML's own.

    Evidently (so mlwatch) norms the Wasserstein distance by the reference's standard deviation and takes
    Jensen-Shannon in natural logarithms; NannyML reports the raw distance and takes base 2."""
    engine = _engine_drift(drift)
    reference = pd.read_csv(REFERENCE)
    compared = nannyml_drift.merge(engine, on=["batch_date", "column_name"], how="left", validate="one_to_one")
    assert len(compared) == 24 * 7 and compared["stat_test"].notna().all()
    methods = compared["method"]
    ks = compared["test_statistic"].where(methods == "kolmogorov_smirnov")
    reference_std = {name: max(np.std(reference[name].to_numpy()), 0.001) for name in WASSERSTEIN_COLUMNS}
    wasserstein = (compared["drift_score"] * compared["column_name"].map(reference_std)).where(methods == "wasserstein")
    jensen_shannon = (compared["drift_score"] / np.sqrt(np.log(2))).where(methods == "jensen_shannon")
    mlwatch = ks.fillna(wasserstein).fillna(jensen_shannon)
    np.testing.assert_allclose(mlwatch.to_numpy(float), compared["nannyml"].to_numpy(float), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("drift", ["duckdb"], indirect=True)
def test_chi_square_is_evidentlys_not_nannymls(drift: Pipeline) -> None:
    """NannyML's chi2 is scipy's chi2_contingency on a table of both samples; Evidently's (and mlwatch's) is
    scipy's chisquare of the day's counts against the reference's shares. Not one definition: scipy is the oracle."""
    engine = _engine_drift(drift).set_index(["batch_date", "column_name"])
    reference, analysis = pd.read_csv(REFERENCE), pd.read_csv(ANALYSIS)
    analysis["batch_date"] = pd.to_datetime(analysis["timestamp"]).dt.date
    for column in CHI_SQUARE_COLUMNS:
        shares = reference[column].value_counts(normalize=True)
        for day, batch in analysis.groupby("batch_date"):
            counts = batch[column].value_counts().reindex(shares.index, fill_value=0)
            expected = stats.chisquare(counts.to_numpy(), shares.to_numpy() * len(batch)).statistic
            assert engine.loc[(day, column), "test_statistic"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("drift", ["duckdb"], indirect=True)
def test_the_contract_splits_the_example_by_its_periods(drift: Pipeline) -> None:
    """The reference file is the reference period and the analysis file the production period, batched by day;
    the analysis rows are performance rows once their late labels have landed."""
    sides = drift.query(
        "select split, count(*) as rows, count(distinct batch_date) as days, "
        "sum(case when is_performance_row then 1 else 0 end) as labelled "
        "from intermediate.int_predictions_labelled group by split order by split"
    )
    analysis_days = pd.to_datetime(pd.read_csv(ANALYSIS)["timestamp"]).dt.date.nunique()
    assert sides.to_dict("records") == [
        {"split": "production", "rows": 60_000, "days": analysis_days, "labelled": 60_000},
        {"split": "reference", "rows": 60_000, "days": 0, "labelled": 60_000},
    ]


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The example's two prediction files landed on DuckDB, no labels of the analysis period yet."""
    yield from _car_price("duckdb", tmp_path_factory.mktemp("car_price_landed"))


def _counts(pipeline: Pipeline) -> dict[str, int]:
    return {
        table: int(pipeline.query(f"select count(*) as n from raw.{table}")["n"].iloc[0])
        for table in ("car_price_predictions", "car_price_labels")
    }


def test_before_the_late_labels_land_only_the_reference_has_performance_rows(landed: Pipeline) -> None:
    """Runs first on `landed` (file order): the analysis period's labels are not loaded yet."""
    landed.run("dbt", "build", "--select", "+int_predictions_labelled", "--indirect-selection", "cautious")
    labelled = landed.query(
        "select split, sum(case when is_performance_row then 1 else 0 end) as labelled "
        "from intermediate.int_predictions_labelled group by split order by split"
    )
    assert labelled.to_dict("records") == [
        {"split": "production", "labelled": 0},
        {"split": "reference", "labelled": 60_000},
    ]


def test_files_land_once_and_a_late_label_replaces_the_earlier_one(landed: Pipeline, tmp_path: Path) -> None:
    assert _counts(landed) == {"car_price_predictions": 120_000, "car_price_labels": 60_000}
    landed.run("load-predictions", str(ANALYSIS))
    assert _counts(landed) == {"car_price_predictions": 120_000, "car_price_labels": 60_000}
    targets = pd.read_csv(TARGETS).head(10)
    targets.loc[0, "y_true"] = -1.0
    corrected = tmp_path / "corrected_targets.parquet"
    targets.to_parquet(corrected)
    landed.run("load-labels", str(corrected))
    assert _counts(landed) == {"car_price_predictions": 120_000, "car_price_labels": 60_010}
    first = int(targets.loc[0, "id"])
    assert landed.query("select y_true from raw.car_price_labels where id = ?", [first])["y_true"].tolist() == [-1.0]
    landed.run("load-labels", str(corrected))
    assert _counts(landed) == {"car_price_predictions": 120_000, "car_price_labels": 60_010}


def _spoil(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    spoiled = frame.head(1_000).copy()
    if case == "missing column":
        return spoiled.drop(columns=["km_driven"])
    if case == "repeated ids":
        spoiled.loc[[5, 6, 7], "id"] = spoiled.loc[0, "id"]
    elif case == "missing ids":
        spoiled["id"] = spoiled["id"].astype("Int64")
        spoiled.loc[[3, 4], "id"] = pd.NA
    elif case == "not a number":
        spoiled["km_driven"] = spoiled["km_driven"].astype(object)
        spoiled.loc[[1, 2, 3, 4, 5], "km_driven"] = "unknown"
    elif case == "missing timestamps":
        spoiled.loc[[8, 9], "timestamp"] = None
    return spoiled


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing column", "column(s) ['km_driven'] missing (1,000 rows"),
        ("repeated ids", "column id: 3 rows repeat an id"),
        ("missing ids", "column id: 2 of 1,000 rows have no id"),
        ("not a number", "column km_driven: 5 of 1,000 rows are not numbers (the first: 'unknown')"),
        ("missing timestamps", "column timestamp: 2 of 1,000 rows have no timestamp"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_file_column_and_rows(
    landed: Pipeline, tmp_path: Path, case: str, message: str
) -> None:
    before = _counts(landed)
    bad = tmp_path / "bad_predictions.csv"
    _spoil(pd.read_csv(ANALYSIS), case).to_csv(bad, index=False)
    failed = landed.run("load-predictions", str(bad), check=False)
    assert failed.returncode == 1
    assert f"{bad}: {message}" in " ".join(failed.stderr.split())
    assert _counts(landed) == before


def test_the_taxi_loader_refuses_a_models_own_tables(landed: Pipeline) -> None:
    """Refused before the run log: no run is recorded."""
    runs = "select count(*) as n from raw.pipeline_runs"
    before = landed.query(runs)["n"].tolist()
    failed = landed.run("load", check=False)
    assert failed.returncode == 1
    assert "monitors a model's own tables, which `mlwatch load` does not fill" in " ".join(failed.stderr.split())
    assert landed.query(runs)["n"].tolist() == before


def test_the_taxi_configuration_has_no_tables_to_land(landed: Pipeline) -> None:
    landed.env.pop("MLWATCH_CONFIG")
    try:
        failed = landed.run("load-labels", str(TARGETS), check=False)
    finally:
        landed.env["MLWATCH_CONFIG"] = CONFIG
    assert failed.returncode == 1
    assert "set MLWATCH_CONFIG to a configuration with monitored_tables" in " ".join(failed.stderr.split())


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def metrics(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """`mlwatch metrics` on the example before its late labels land."""
    if request.param == "postgres":
        require_postgres()
    for pipeline in _car_price(request.param, tmp_path_factory.mktemp(f"car_price_metrics_{request.param}")):
        pipeline.run("metrics", "--engine", "warehouse")
        yield pipeline


def test_metrics_computes_every_day_of_the_production_period(metrics: Pipeline) -> None:
    """Each of the 24 days has its drift; the K-S p-values of a day are scipy's ks_2samp of the same rows."""
    days = metrics.query(
        "select count(distinct batch_date) as days, count(distinct model_version) as versions from raw.batch_metrics"
    )
    assert days.to_dict("records") == [{"days": 24, "versions": 1}]
    reference, analysis = pd.read_csv(REFERENCE), pd.read_csv(ANALYSIS)
    analysis["batch_date"] = pd.to_datetime(analysis["timestamp"]).dt.date
    day, batch = next(iter(analysis.groupby("batch_date")))
    scores = metrics.query(
        "select column_name, metric_value from raw.batch_metrics where batch_date = ? and metric_name = 'drift_score'",
        [day],
    ).set_index("column_name")["metric_value"]
    for column in KS_COLUMNS:
        assert scores[column] == pytest.approx(stats.ks_2samp(reference[column], batch[column]).pvalue, rel=1e-12)


def test_label_free_estimates_equal_nannymls_dle(metrics: Pipeline) -> None:
    """Before the labels land, each day's MAE is estimated: NannyML's own DLE, run here on the same files, gives the
    same estimates and bands (text features fuel and transmission as NannyML encodes them)."""
    reference, analysis = pd.read_csv(REFERENCE), pd.read_csv(ANALYSIS)
    features = metrics.config.features
    nml = import_nannyml()
    estimator = nml.DLE(
        feature_column_names=features, y_pred="y_pred", y_true="y_true", timestamp_column_name="timestamp",
        chunk_period="D", metrics=["mae"], hyperparameters={"verbose": -1},
    )  # fmt: skip
    theirs = estimator.fit(reference).estimate(analysis).filter(period="analysis").to_df()
    ours = metrics.query(
        "select batch_date, estimated_rows, estimated_mae, estimated_mae_lower, estimated_mae_upper "
        "from raw.performance_estimates order by batch_date"
    )
    assert (
        ours["estimated_rows"].tolist()
        == (theirs[("chunk", "end_index")] - theirs[("chunk", "start_index")] + 1).tolist()
    )
    for column, name in [("value", "estimated_mae"), ("lower_confidence_boundary", "estimated_mae_lower"),
                         ("upper_confidence_boundary", "estimated_mae_upper")]:  # fmt: skip
        assert ours[name].to_numpy(float) == pytest.approx(theirs[("mae", column)].to_numpy(float), rel=1e-9), name


def test_both_engines_write_the_same_metrics_before_the_labels_land(tmp_path: Path) -> None:
    """The warehouse engine and the Evidently engine on the same rows: every metric row alike (a day without any
    label has no target column for either: its labels are the target's missing count, not missing inputs)."""
    keys = ["batch_date", "model_version", "metric_name", "column_name"]
    for pipeline in _car_price("duckdb", tmp_path):
        written = {}
        for engine in ("warehouse", "evidently"):
            pipeline.run("metrics", "--engine", engine, "--full-refresh")
            frame = pipeline.query("select * from raw.batch_metrics").sort_values(keys, ignore_index=True)
            written[engine] = frame
        warehouse, evidently = written["warehouse"], written["evidently"]
        assert warehouse[keys].equals(evidently[keys]) and warehouse["batch_date"].nunique() == 24
        np.testing.assert_allclose(
            warehouse["metric_value"].to_numpy(float), evidently["metric_value"].to_numpy(float), rtol=1e-9
        )
        assert warehouse["drift_detected"].equals(evidently["drift_detected"])
        missing = warehouse.query("metric_name == 'missing_count' and column_name == 'y_true'")["metric_value"]
        assert missing.sum() == 60_000


def test_late_labels_turn_estimated_days_into_measured_ones_without_recomputing_drift(metrics: Pipeline) -> None:
    """Before the labels land every day has its estimate and no MAE; after `load-labels`, the next `metrics` fills
    each day's MAE (pandas' mean absolute error of the same rows) and its segments', and leaves the drift as it was."""
    query = (
        "select batch_date, performance_trips, mae, estimated_mae, fuel_mae_disparity, missing_values_share "
        "from marts.daily_model_monitoring order by batch_date"
    )
    before = metrics.query(query)
    assert len(before) == 24 and before["estimated_mae"].notna().all()
    # labels not landed yet are not missing inputs: the files hold no missing value
    assert (before["missing_values_share"] == 0).all()
    assert (before["performance_trips"] == 0).all() and before["mae"].isna().all()
    computed = metrics.query("select batch_date, max(computed_at) as at from raw.batch_metrics group by batch_date")

    metrics.run("load-labels", str(TARGETS))
    metrics.run("metrics", "--engine", "warehouse")

    after = metrics.query(query)
    analysis = pd.read_csv(ANALYSIS).merge(pd.read_csv(TARGETS), on="id")
    analysis["batch_date"] = pd.to_datetime(analysis["timestamp"]).dt.date
    analysis["error"] = (analysis["y_pred"] - analysis["y_true"]).abs()
    expected = analysis.groupby("batch_date")["error"].agg(["size", "mean"])
    assert after["performance_trips"].tolist() == expected["size"].tolist()
    np.testing.assert_allclose(after["mae"].to_numpy(float), expected["mean"].to_numpy(), rtol=1e-12)
    by_fuel = analysis.groupby(["batch_date", "fuel"])["error"].agg(["size", "mean"])
    min_trips = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["min_segment_trips"]
    by_fuel = by_fuel[by_fuel["size"] >= min_trips]["mean"].groupby("batch_date")
    np.testing.assert_allclose(after["fuel_mae_disparity"].to_numpy(float), (by_fuel.max() / by_fuel.min()).to_numpy())
    assert after["estimated_mae"].tolist() == before["estimated_mae"].tolist()
    again = metrics.query("select batch_date, max(computed_at) as at from raw.batch_metrics group by batch_date")
    assert again.sort_values("batch_date").equals(computed.sort_values("batch_date"))


def test_a_days_report_compares_it_with_the_reference_period(metrics: Pipeline, tmp_path: Path) -> None:
    metrics.run("report", "--date", "2017-03-01", "--output-dir", str(tmp_path))
    page = (tmp_path / "report-2017-03-01.html").read_text()
    day = pd.read_csv(ANALYSIS).pipe(lambda frame: frame[frame["timestamp"].str.startswith("2017-03-01")])
    assert "2017-03-01 against the reference period (2017-01-24 00:00:00 to 2017-02-16 16:00:00)" in page
    assert f"{len(day):,} rows" in page
    refused = metrics.run("report", "--date", "2017-02-01", "--output-dir", str(tmp_path), check=False)
    assert "--date 2017-02-01 is outside the production period" in " ".join(refused.stderr.split())
