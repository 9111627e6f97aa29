"""The pipeline's writing steps as functions, with what they share: lock, run log, dbt builds, a Reporter.

Every step (`load`, `metrics`, `evaluate-alarms`) holds the writer lock, is recorded in the run log, builds what
it reads with dbt by selector, and tells the user what it does through a Reporter.

The CLI is a thin layer over these functions: it reads the configuration, hands them a Reporter that draws with
rich, and turns an MlwatchError into one line and exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from mlwatch import runlog
from mlwatch.config import MonitoringConfig
from mlwatch.dbt import DbtRun, run_dbt
from mlwatch.errors import WarehouseError
from mlwatch.locks import step_lock
from mlwatch.relations import DAILY_MODEL_MONITORING
from mlwatch.warehouse import RAW_SCHEMA, Warehouse, WarehouseSettings, connect, connected


class Ticker(Protocol):
    """A progress bar: its total once known, then one advance per unit of work."""

    def total(self, total: int) -> None: ...

    def advance(self, steps: int = 1, description: str | None = None) -> None: ...


class Reporter(Protocol):
    """What a step shows while it works."""

    def say(self, text: str) -> None: ...

    def waiting(self, text: str) -> AbstractContextManager[object]: ...

    def progress(self, description: str, total: int | None = None) -> AbstractContextManager[Ticker]: ...


@dataclass
class Written:
    """The rows a step has written so far: the run log records them even when the step fails part-way."""

    rows: int = 0


@contextmanager
def recorded_step(settings: WarehouseSettings, name: str, ready: Callable[[], None] | None = None) -> Iterator[Written]:
    """A step that writes: holds the warehouse's writer lock (mlwatch.locks: a second run is refused before it
    records anything), checks that it is `ready` (under the lock, since the check reads the warehouse another
    run may hold open), then is recorded in raw.pipeline_runs as running, then as success or failed."""
    with step_lock(settings, name):
        if ready:
            ready()
        run_id = runlog.record_start(settings, name)
        written = Written()
        try:
            yield written
        except BaseException as error:
            # The log is best effort here: the warehouse itself may be what failed, and the
            # original error is the one the user must see.
            with suppress(Exception):
                runlog.record_end(settings, run_id, written.rows, error=f"{type(error).__name__}: {error}")
            raise
        runlog.record_end(settings, run_id, written.rows)


def require(settings: WarehouseSettings, relations: dict[str, str]) -> None:
    """Refuse a command whose input is missing or empty, before it records or writes anything, naming what is
    missing and the command that makes it. `relations`: schema.table -> that command."""
    missing = f"{settings.describe()} does not exist yet: run `mlwatch load` first"
    if settings.target == "duckdb" and not settings.duckdb_path.is_file():
        raise WarehouseError(missing)
    try:
        warehouse = connect(settings)
    except WarehouseError as error:
        if "does not exist" in str(error):
            raise WarehouseError(missing) from error
        raise
    with closing(warehouse):
        for relation, command in relations.items():
            schema, table = relation.split(".")
            exists = bool(warehouse.table_columns(schema, table))
            if (
                not exists
                or not warehouse.rows(f"select count(*) from (select 1 from {relation} limit 1) as one")[0][0]
            ):
                state = "is empty" if exists else "does not exist"
                raise WarehouseError(f"{relation} {state} in {settings.describe()}: run `{command}` first")


def require_last_load_complete(settings: WarehouseSettings) -> None:
    """Refuse to compute metrics on trips that the last load landed but did not finish with (no model trained
    or scored on them): it would fail deep in dbt, or compute metrics against a stale model."""
    with connected(settings) as warehouse:
        last = warehouse.rows(
            f"select status, started_at, error from {RAW_SCHEMA}.pipeline_runs "
            "where step = 'load' and (status = 'success' or rows_written > 0) order by started_at desc limit 1"
        )
    if last and last[0][0] != "success":
        status, started, error = last[0]
        raise WarehouseError(
            f"the last `mlwatch load` (started {started:%Y-%m-%d %H:%M:%S} UTC) landed trips and then failed "
            f"({(error or status).splitlines()[0]}); fix that and run `mlwatch load` again before `mlwatch metrics`"
        )


def days_without_valid_trips(config: MonitoringConfig, warehouse: Warehouse) -> str | None:
    """A warning when production days hold trips of which none passes the input rules. Such a day fails
    volume_vs_reference but has no drift, quality or performance figure, and panels without data must not be
    mistaken for a healthy model; the rule that fails most is named, since it is usually a broken column."""
    empty_day = "trips > 0 and input_valid_trips = 0"
    shares = "".join(f", avg(case when {empty_day} then share_failing_{rule.name} end)" for rule in config.input_rules)
    days, empty_days, trips, *failing = warehouse.rows(
        f"select count(distinct batch_date), count(distinct case when {empty_day} then batch_date end), "
        f"sum(case when {empty_day} then trips else 0 end){shares} from {DAILY_MODEL_MONITORING}"
    )[0]
    if not empty_days:
        return None
    worst = max(zip(failing, config.input_rules, strict=True), key=lambda pair: pair[0] or 0, default=None)
    cause = f"; {worst[1].name} fails on {worst[0]:.0%} of their trips" if worst and worst[0] is not None else ""
    return (
        f"on {empty_days} of {days} production day(s), none of their {trips:,} trips passes the input rules "
        f"(vars.input_rules in dbt_project.yml{cause}): those days fail volume_vs_reference and have no drift, "
        f"quality or performance figures ({DAILY_MODEL_MONITORING}.share_failing_<rule> per day)"
    )


def build(config: MonitoringConfig, settings: WarehouseSettings, reporter: Reporter, selector: str) -> DbtRun:
    """`dbt build` of a selector in selectors.yml, reported with dbt's start-up apart.

    Without the unit tests, as dbt advises for production runs: their inputs are fixed, so they check the project's
    logic, which `dbt build` in CI and the test suite do, not the day's data."""
    label = f"dbt build --selector {selector}"
    with reporter.waiting(label):
        run = run_dbt(config, settings, ["build", "--selector", selector, "--exclude-resource-type", "unit_test"])
    if run.replayed:
        split = " (dbt's SQL of the last such build, replayed without starting dbt)"
    else:
        split = "" if run.start_up_seconds is None else f" (dbt start-up {run.start_up_seconds:.1f} s)"
    reporter.say(f"  {label}: ok, {run.seconds:.1f} s{split}")
    return run
