"""The pipeline's writing steps (`load`, `metrics`) as functions, and what every step shares: the writer lock,
the run log, dbt builds by selector, and a Reporter through which a step tells the user what it does.

The CLI is a thin layer over these functions: it reads the configuration, hands them a Reporter that draws with
rich, and turns an MlwatchError into one line and exit code 1.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from mlwatch import runlog
from mlwatch.config import MonitoringConfig
from mlwatch.dbt import DbtRun, run_dbt
from mlwatch.locks import step_lock
from mlwatch.warehouse import WarehouseSettings


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
def recorded_step(settings: WarehouseSettings, name: str) -> Iterator[Written]:
    """A step that writes: holds the warehouse's writer lock (mlwatch.locks: a second run is refused before it
    records anything), recorded in raw.pipeline_runs as running, then as success or failed."""
    with step_lock(settings, name):
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


def build(config: MonitoringConfig, settings: WarehouseSettings, reporter: Reporter, selector: str) -> DbtRun:
    """`dbt build` of a selector in selectors.yml, reported with dbt's start-up apart."""
    args = ["build", "--selector", selector]
    with reporter.waiting(f"dbt {' '.join(args)}"):
        run = run_dbt(config, settings, args)
    split = "" if run.start_up_seconds is None else f" (dbt start-up {run.start_up_seconds:.1f} s)"
    reporter.say(f"  dbt {' '.join(args)}: ok, {run.seconds:.1f} s{split}")
    return run


def _import_quietly(module: str) -> None:
    with suppress(Exception):  # the step's own import, after the block, reports what failed
        importlib.import_module(module)


@contextmanager
def importing(module: str) -> Iterator[None]:
    """Import `module` (seconds, for Evidently or scikit-learn) in a thread while the block runs dbt, whose waits on
    the warehouse (the drivers release the GIL) leave the import room."""
    importer = threading.Thread(target=_import_quietly, args=(module,), daemon=True)
    importer.start()
    yield
    importer.join()
