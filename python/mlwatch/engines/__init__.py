"""The metrics step's two peer engines, one interface: `evidently` (Evidently in pandas) and `warehouse` (SQL in dbt).

Each engine computes every (model version, batch date) not yet in raw.batch_metrics (all of them with a full
refresh) and hands its rows to mlwatch.batches, which judges and writes them alike for both.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Protocol, cast

from mlwatch.batches import MetricsRun
from mlwatch.config import MonitoringConfig, check_metrics_engine
from mlwatch.warehouse import WarehouseSettings

# Imported by name, when chosen: both engines import Evidently or dbt's output parsing, which take seconds.
ENGINE_MODULES = {"evidently": "mlwatch.engines.evidently", "warehouse": "mlwatch.engines.warehouse"}


class Engine(Protocol):
    def compute_metrics(
        self,
        config: MonitoringConfig,
        settings: WarehouseSettings,
        full_refresh: bool = False,
        on_start: Callable[[int], None] | None = None,
        on_day: Callable[[dt.date], None] | None = None,
    ) -> MetricsRun: ...


def engine_module(name: str) -> str:
    return ENGINE_MODULES[check_metrics_engine(name)]


def load_engine(name: str) -> Engine:
    return cast(Engine, importlib.import_module(engine_module(name)))
