"""Property tests (hypothesis) of the loader and the configuration readers: for any generated input, either the
step succeeds with values equal to a pandas oracle, or it fails in one line and leaves the warehouse unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DATA_DIR, PROJECT_DIR, make_pipeline, require_data, require_postgres
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwatch.config import load_config
from mlwatch.errors import ConfigError, LoadError
from mlwatch.load import RowChecks, known_zone_ids, load_trip_file, load_zones
from mlwatch.schema import GREEN_TRIP_SCHEMA, TRIP_COLUMNS
from mlwatch.warehouse import Warehouse, connect, ensure_raw_tables

pytestmark = pytest.mark.integration

MONTH, FILE = "2021-02", "green_tripdata_2021-02.parquet"
LOADED_AT = dt.datetime(2026, 1, 1)  # the loader's clock is now; generated pickups stay well before it
MAX_TRIP_HOURS, MAX_REJECT_SHARE = 24.0, 0.4
BASE = dt.datetime(2021, 2, 1)


# Mostly plausible values (the simplest draw, which hypothesis prefers), some of every kind of defect.
def _mostly(valid: st.SearchStrategy, *odd: st.SearchStrategy) -> st.SearchStrategy:
    return st.integers(0, 19).flatmap(lambda draw: valid if draw < 18 else st.one_of(*odd))


pickups = _mostly(st.integers(-86_400, 30 * 86_400).map(lambda s: BASE + dt.timedelta(seconds=s)), st.none())
durations = _mostly(
    st.integers(0, 7_200).map(lambda s: dt.timedelta(seconds=s)),
    st.none(),
    st.integers(-3_600, -1).map(lambda s: dt.timedelta(seconds=s)),
    st.integers(24 * 3_600 - 1, 24 * 3_600 + 1).map(lambda s: dt.timedelta(seconds=s)),
)
zones = _mostly(st.integers(1, 265), st.none(), st.sampled_from([0, 266, 999]))
fares = _mostly(st.floats(-100, 500, allow_nan=False), st.none(), st.sampled_from([math.inf, -math.inf, math.nan]))
trips = st.lists(st.tuples(pickups, durations, zones, zones, fares), min_size=1, max_size=60)


def _write(rows: list[tuple], path: Path) -> None:
    """A TLC-shaped file of the generated rows (the other columns: fixed plausible values)."""
    generated = {
        "lpep_pickup_datetime": [p for p, *_ in rows],
        "lpep_dropoff_datetime": [None if p is None or d is None else p + d for p, d, *_ in rows],
        "pulocationid": [pu for _, _, pu, _, _ in rows],
        "dolocationid": [do for *_, do, _ in rows],
        "fare_amount": [f for *_, f in rows],
    }
    fillers = {pa.string(): "N", pa.int64(): 1, pa.float64(): 1.5}
    columns = {
        field.name: pa.array(generated.get(field.name, [fillers.get(field.type)] * len(rows)), field.type)
        for field in GREEN_TRIP_SCHEMA
    }
    pq.write_table(pa.table(columns), path)


def _oracle(rows: list[tuple], zone_ids: set[int]) -> list[str | None]:
    """Each row's reject reason by the rules docs/reliability.md documents, in plain Python (None: kept)."""

    def reason(
        pickup: dt.datetime | None, duration: dt.timedelta | None, pu: int | None, do: int | None, fare: float | None
    ) -> str | None:
        if pickup is None or duration is None:
            return "missing_pickup_or_dropoff"
        if duration < dt.timedelta(0):
            return "dropoff_before_pickup"
        if duration > dt.timedelta(hours=MAX_TRIP_HOURS):
            return "longer_than_max_trip_hours"
        if pickup > LOADED_AT:
            return "pickup_in_future"
        if pu is not None and pu not in zone_ids:
            return "unknown_pickup_location"
        if do is not None and do not in zone_ids:
            return "unknown_dropoff_location"
        if fare is not None and not math.isfinite(fare):
            return "non_finite_number"
        return None

    return [reason(*row) for row in rows]


def _raw_state(warehouse: Warehouse) -> list[tuple]:
    rows = warehouse.rows(
        "select source_row_number, fare_amount, 'kept' from raw.green_trips union all "
        "select source_row_number, fare_amount, reject_reason from raw.rejected_trips order by 1, 3"
    )
    # A quarantined NaN fare comes back as a new float object each time, and NaN != NaN: compare its text.
    return [tuple("NaN" if value != value else value for value in row) for row in rows]


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    require_data()
    if request.param == "postgres":
        require_postgres()
    for pipeline in make_pipeline(request.param, tmp_path_factory.mktemp(f"properties-{request.param}")):
        connection = connect(pipeline.settings, create_database=True)
        ensure_raw_tables(connection)
        load_zones(connection, DATA_DIR / "taxi_zone_lookup.csv")
        yield connection
        connection.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=trips)
def test_a_generated_file_loads_as_the_oracle_says_or_fails_in_one_line_changing_nothing(
    warehouse: Warehouse, rows: list[tuple]
) -> None:
    zone_ids = known_zone_ids(warehouse)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FILE
        _write(rows, path)
        expected = pd.Series(_oracle(rows, set(zone_ids.to_pylist())), dtype=object)
        before = _raw_state(warehouse)
        checks = RowChecks(zone_ids, MAX_TRIP_HOURS, MAX_REJECT_SHARE)
        try:
            # the loader stamps rows with its own clock: pickups are generated years before it
            loaded = load_trip_file(warehouse, path, MONTH, checks=checks)
        except LoadError as error:
            assert "\n" not in str(error) and FILE in str(error)
            assert expected.notna().mean() > MAX_REJECT_SHARE  # refused only past the documented share
            assert _raw_state(warehouse) == before
            return
    assert expected.notna().mean() <= MAX_REJECT_SHARE
    assert loaded.rows == int(expected.isna().sum())
    assert loaded.rejected == {k: int(v) for k, v in expected.dropna().value_counts().items()}
    kept = [row[4] for row, why in zip(rows, expected, strict=True) if why is None and row[4] is not None]
    [(landed, total)] = warehouse.rows("select count(*), sum(fare_amount) from raw.green_trips")
    assert landed == int(expected.isna().sum())
    # the warehouse sums in its own order: equal to the exact sum up to rounding (near 0 when fares cancel)
    assert (total is None and not kept) or float(total) == pytest.approx(math.fsum(kept), rel=1e-9, abs=1e-6)


# --- the configuration readers ---------------------------------------------------------------------------------

KNOWN = [c for c in TRIP_COLUMNS if c in ("passenger_count", "trip_distance", "fare_amount", "total_amount")]
names = st.one_of(
    st.sampled_from(KNOWN),
    st.sampled_from(KNOWN).map(lambda n: n + " "),
    st.sampled_from(KNOWN).map(lambda n: " " + n),
    st.text(st.sampled_from("abc_ ;X1"), min_size=1, max_size=8),
)
thresholds = st.one_of(st.just(""), st.floats(0, 1).map(str), st.text(st.sampled_from("0.1x e-"), max_size=5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.tuples(names, thresholds), max_size=3), metric=st.sampled_from(["mae", "mae ", "maee", "r2"]))
def test_a_generated_seed_either_resolves_every_name_or_fails_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, extra: list[tuple[str, str]], metric: str
) -> None:
    project = tmp_path_factory.mktemp("seed-project")
    shutil.copy(PROJECT_DIR / "dbt_project.yml", project)
    shutil.copytree(PROJECT_DIR / "seeds", project / "seeds", dirs_exist_ok=True)
    columns = project / "seeds" / "monitored_columns.csv"
    text = columns.read_text()
    for name in KNOWN:  # drop the default rows of the names the draw may add again
        text = "\n".join(line for line in text.splitlines() if not line.startswith(name + ",")) + "\n"
    columns.write_text(text + "".join(f'"{n}",numerical_feature,,{t}\n' for n, t in extra))
    thresholds_seed = project / "seeds" / "metric_thresholds.csv"
    thresholds_seed.write_text(thresholds_seed.read_text() + f"extra_test,{metric},max,1,2,generated\n")
    try:
        config = load_config(project, env={})
    except ConfigError as error:
        assert "\n" not in str(error)
        return
    # accepted: every name is exactly one the warehouse has, every threshold a number
    known = set(TRIP_COLUMNS) | {"prediction"}
    assert all(column.name in known for column in config.columns)
    assert all(column.threshold is None or math.isfinite(column.threshold) for column in config.columns)
    assert metric in ("mae", "r2")
    assert [n for n, _ in extra] == [n.strip() for n, _ in extra]
