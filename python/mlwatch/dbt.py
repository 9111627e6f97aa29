"""Run dbt with the same configuration and warehouse as the Python steps: in-process, parsed once per process."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlwatch.built_inputs import STEP_BUILD_VARIABLE
from mlwatch.config import MonitoringConfig
from mlwatch.errors import DbtError
from mlwatch.replay import Plan, Recording, recording, replay, steady
from mlwatch.warehouse import WarehouseSettings

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest
    from dbt_common.events.base_types import EventMsg

# The manifest dbt parsed in this process, by everything the parse read (project, profile target, vars,
# the profile's environment): a step's later invocations reuse it instead of starting dbt again.
_MANIFESTS: dict[tuple[str, ...], Manifest] = {}
log = logging.getLogger(__name__)
# Node statuses of an invocation worth replaying: a warning, an error or a skip is dbt's to report every time.
CLEAN_STATUSES = ("success", "pass", "no-op")


@dataclass(frozen=True)
class DbtRun:
    args: tuple[str, ...]
    seconds: float
    output: str
    work_seconds: float | None  # by dbt's own clock (its run results): its nodes, without start-up and parsing
    replayed: bool = False  # dbt's recorded SQL run without dbt (mlwatch.replay)

    @property
    def start_up_seconds(self) -> float | None:
        """dbt's fixed cost (imports, adapter set-up, project parsing), paid once per process."""
        return None if self.work_seconds is None else max(self.seconds - self.work_seconds, 0.0)


def failure_summary(output: str, tail: int = 15) -> str:
    """dbt's error lines (they scroll past among hundreds of PASS lines), then the end of its output."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if re.search(r"\b(ERROR|FAIL|Error|Failure)\b", line) and "PASS=" not in line]
    return "\n".join([*errors[:30], "...", *lines[-tail:]])


def dbt_executable() -> str:
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else "dbt"


def dbt_options(config: MonitoringConfig, settings: WarehouseSettings) -> list[str]:
    options = [
        "--project-dir",
        str(config.project_dir),
        "--profiles-dir",
        str(config.project_dir / "profiles"),
        "--target",
        settings.target,
    ]
    if config.overrides:
        options += ["--vars", json.dumps(config.overrides)]
    return options


def dbt_command(config: MonitoringConfig, settings: WarehouseSettings, args: list[str]) -> list[str]:
    return [dbt_executable(), *args, *dbt_options(config, settings)]


def work_seconds(config: MonitoringConfig, since: float) -> float | None:
    """The elapsed time dbt recorded for its nodes, if this invocation wrote run_results.json (`ls` does not)."""
    target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    path = (target if target.is_absolute() else config.project_dir / target) / "run_results.json"
    try:
        if path.stat().st_mtime < since:
            return None
        return float(json.loads(path.read_text())["elapsed_time"])
    except (OSError, ValueError, KeyError):
        return None


@contextlib.contextmanager
def _environment(project_dir: Path, env: dict[str, str]) -> Iterator[None]:
    """What dbt's subprocess got: `env` added to the environment (dbt reads env_var() when it parses and
    compiles), the project as working directory. The steps run dbt from one thread, so changing both is safe."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with contextlib.chdir(project_dir):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prepare_warehouse(settings: WarehouseSettings) -> None:
    """Start this process's SparkSession with mlwatch's checks (Java) and settings before dbt-spark asks for one:
    dbt-spark's `getOrCreate()` then returns it, and mlwatch's own Spark work shares its JVM and metastore."""
    if settings.target == "spark":
        from mlwatch.spark import session

        session(settings.spark_dir, settings.spark_master)


def _release_warehouse(settings: WarehouseSettings) -> None:
    """Close dbt's DuckDB database: mlwatch's next connection, or another process, may need the file.

    dbt closes its connections' cursors after each invocation but dbt-duckdb keeps the database itself open for
    the process (keep_open); Postgres connections are closed by dbt itself."""
    if settings.target != "duckdb":
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _invoke(
    config: MonitoringConfig, settings: WarehouseSettings, args: list[str], env: dict[str, str], plan: Plan | None
) -> tuple[int, str, float | None]:
    """One dbt command in this process: (exit code as dbt's CLI gives it, its info-level output, its nodes' time),
    recorded as the `plan` to replay next time if it ran cleanly."""
    from dbt.cli.main import dbtRunner  # seconds to import: only the steps that run dbt pay it

    lines: list[str] = []

    def keep(event: EventMsg) -> None:
        info: Any = event.info  # a protobuf message, untyped
        if info.level in ("info", "warn", "error") and info.msg:
            lines.append(str(info.msg))

    # The output goes to `lines`, not stdout; logs/dbt.log is written as by dbt's CLI. No manifest.json or
    # run_results.json: writing them took 0.4 s per invocation, and the steps read the results from dbt's return
    # value (`mlwatch dbt ...`, a subprocess, writes them as dbt does).
    options = [
        *dbt_options(config, settings),
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
        "--no-use-colors",
        "--no-write-json",
    ]
    key = (str(config.project_dir), *options, *sorted(f"{k}={v}" for k, v in settings.dbt_env().items()))
    result: Any = None
    recorded: Recording | None = None
    try:
        _prepare_warehouse(settings)
        with _environment(config.project_dir, settings.dbt_env()):
            if key not in _MANIFESTS:
                # Parsed without the invocation's own variables (the engine's batch dates, read when models
                # compile), so dbt's partial parsing holds from one process to the next.
                parsed = dbtRunner(callbacks=[keep]).invoke(["parse", *options])
                if not parsed.success:
                    return (2 if parsed.exception else 1), _with_exception(lines, parsed.exception), None
                _MANIFESTS[key] = cast("Manifest", parsed.result)
            with (
                _environment(config.project_dir, env),
                recording() if plan else contextlib.nullcontext() as recorded,
            ):
                result = dbtRunner(manifest=_MANIFESTS[key], callbacks=[keep]).invoke([*args, *options])
    finally:
        _release_warehouse(settings)
    if plan and recorded:
        statuses = [node.status for node in getattr(result.result, "results", [])]
        if not (result.success and recorded.replayable and all(s in CLEAN_STATUSES for s in statuses)):
            plan.forget()
        elif steady(settings, recorded.events):  # after dbt has let go of the DuckDB file
            plan.keep(recorded.events)
    elapsed = getattr(result.result, "elapsed_time", None)
    code = 0 if result.success else 2 if result.exception else 1
    return code, _with_exception(lines, result.exception), None if elapsed is None else float(elapsed)


def _with_exception(lines: list[str], exception: BaseException | None) -> str:
    return "\n".join([*lines, *([f"Error: {exception}"] if exception else [])])


def run_dbt(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    args: list[str],
    capture: bool = True,
    env: dict[str, str] | None = None,
) -> DbtRun:
    """Run one dbt command (with `env` added to its environment); raise DbtError with its output's tail if it fails.

    Captured, it runs in this process with the manifest parsed by the process's first invocation, or as the SQL
    dbt ran for the same invocation last time where that still holds (mlwatch.replay); otherwise (`mlwatch dbt`,
    whose output the user watches) as a subprocess.
    """
    started, started_at = time.perf_counter(), time.time()
    if capture:
        step_env = {**(env or {}), STEP_BUILD_VARIABLE: "1"}
        plan = Plan.of(config, settings, args, step_env)
        recorded = plan.recorded() if plan else None
        if recorded is not None:
            stopped = replay(settings, recorded)
            if stopped is None:
                seconds = time.perf_counter() - started
                return DbtRun(tuple(args), seconds, "", seconds, replayed=True)
            log.info("dbt %s: its recorded SQL no longer applies (%s); dbt runs it", " ".join(args), stopped)
        code, output, nodes_seconds = _invoke(config, settings, args, step_env, plan)
    else:
        completed = subprocess.run(
            dbt_command(config, settings, args),
            cwd=config.project_dir,
            env={**os.environ, **settings.dbt_env(), **(env or {})},
            text=True,
            check=False,
        )
        code, output, nodes_seconds = completed.returncode, "", work_seconds(config, started_at)
    seconds = time.perf_counter() - started
    if code != 0:
        raise DbtError(f"dbt {' '.join(args)} failed (exit {code}):\n{failure_summary(output)}")
    return DbtRun(tuple(args), seconds, output, nodes_seconds)
