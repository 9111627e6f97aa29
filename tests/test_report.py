"""`mlwatch report` on the built pipeline: a day's Evidently report and tests, and one clear line for bad dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import DATA_DIR, SPARK_REPORT_DAY, Pipeline, spark_report_dir
from course import course
from sklearn.metrics import mean_absolute_error

pytestmark = pytest.mark.integration
DAY = dt.date(2021, 2, 15)


@pytest.fixture(scope="module")
def notebook():
    return course(DATA_DIR)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def reported(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Pipeline, Path, str]:
    """The pipeline, the folder asked for, and what `mlwatch report --date DAY` printed there (Spark's build ran
    the command, see conftest._build)."""
    if request.param == "spark":
        pipeline = request.getfixturevalue("built_spark")
        assert str(DAY) == SPARK_REPORT_DAY
        return pipeline, spark_report_dir(pipeline), pipeline.outputs["report"]
    pipeline = request.getfixturevalue("built_duckdb")
    output = tmp_path / "reports"
    return pipeline, output, pipeline.run("report", "--date", str(DAY), "--output-dir", str(output)).stdout


def test_report_writes_the_days_report_and_test_results(reported: tuple[Pipeline, Path, str], notebook) -> None:
    pipeline, output, printed = reported
    paths = [Path(line) for line in printed.splitlines() if line.endswith(".html")]
    assert paths == [output.resolve() / f"report-{DAY}.html", output.resolve() / f"tests-{DAY}.html"]

    rows = notebook.day(DAY)
    labelled = rows[rows.passes_target]
    mae = mean_absolute_error(labelled.duration_min, labelled.prediction)
    for path in paths:
        page = path.read_text(encoding="utf-8")
        assert page.lstrip().lower().startswith("<!doctype html>")
        assert f"<title>mlwatch: {DAY} against the 2021-01 reference" in page
        assert f"{len(rows):,} rows, {len(labelled):,} with a label for performance" in page
        # Self-contained: Evidently's scripts are inline, nothing is loaded from elsewhere.
        assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=", page)
        for column in pipeline.config.drift_columns:
            assert f"Value Drift for column {column}" in page
        # The regression preset saw only rows with a label in range, as the course measures performance.
        assert f"Mean Absolute Error: Actual value {mae:.3f}" in page


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2021-13-01", "--date '2021-13-01' is not a date: month must be in 1..12"),
        ("2021-03-15", "--date 2021-03-15 is outside the production months (2021-02)"),
        ("not-a-date", "--date 'not-a-date' is not a date in YYYY-MM-DD form"),
    ],
)
def test_a_bad_date_fails_with_one_clear_line(built_duckdb: Pipeline, tmp_path, date: str, message: str) -> None:
    output = tmp_path / "reports"
    run = built_duckdb.run("report", "--date", date, "--output-dir", str(output), check=False)
    assert run.returncode == 1
    assert re.fullmatch(
        rf"✗ report failed: {re.escape(message)} \(details: \S+mlwatch-errors\.log\)", run.stderr.strip()
    )
    assert not output.exists()


def test_a_production_day_without_trips_fails_with_one_clear_line(built_duckdb: Pipeline, tmp_path) -> None:
    # March is configured but was never loaded, so its days have no trips.
    pipeline = dataclasses.replace(
        built_duckdb, env={**built_duckdb.env, "MLWATCH_PRODUCTION_MONTHS": "2021-02,2021-03"}
    )
    output = tmp_path / "reports"
    run = pipeline.run("report", "--date", "2021-03-15", "--output-dir", str(output), check=False)
    assert run.returncode == 1
    assert re.fullmatch(
        r"✗ report failed: No trip on 2021-03-15 passes the input rules \(model \w+\): nothing to report"
        r" \(details: \S+mlwatch-errors\.log\)",
        run.stderr.strip(),
    )
    assert not output.exists()
