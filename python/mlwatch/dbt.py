"""Run dbt as a subprocess with the same configuration and warehouse as the Python steps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlwatch.config import MonitoringConfig
from mlwatch.errors import DbtError
from mlwatch.warehouse import WarehouseSettings


@dataclass(frozen=True)
class DbtRun:
    args: tuple[str, ...]
    seconds: float
    output: str
    work_seconds: float | None  # by dbt's own clock (run_results.json): its nodes, without start-up and parsing

    @property
    def start_up_seconds(self) -> float | None:
        """dbt's fixed cost (interpreter, adapter imports, project parsing), paid once per invocation."""
        return None if self.work_seconds is None else max(self.seconds - self.work_seconds, 0.0)


def failure_summary(output: str, tail: int = 15) -> str:
    """dbt's error lines (they scroll past among hundreds of PASS lines), then the end of its output."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if re.search(r"\b(ERROR|FAIL|Error|Failure)\b", line) and "PASS=" not in line]
    return "\n".join([*errors[:30], "...", *lines[-tail:]])


def dbt_executable() -> str:
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else "dbt"


def dbt_command(config: MonitoringConfig, settings: WarehouseSettings, args: list[str]) -> list[str]:
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(config.project_dir),
        "--profiles-dir",
        str(config.project_dir / "profiles"),
        "--target",
        settings.target,
    ]
    if config.overrides:
        command += ["--vars", json.dumps(config.overrides)]
    return command


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


def run_dbt(
    config: MonitoringConfig,
    settings: WarehouseSettings,
    args: list[str],
    capture: bool = True,
    env: dict[str, str] | None = None,
) -> DbtRun:
    """Run one dbt command (with `env` added to its environment); raise DbtError with its output's tail if it fails."""
    started, started_at = time.perf_counter(), time.time()
    completed = subprocess.run(
        dbt_command(config, settings, args),
        cwd=config.project_dir,
        env={**os.environ, **settings.dbt_env(), **(env or {})},
        capture_output=capture,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = (completed.stdout or "") + (completed.stderr or "")
    if completed.returncode != 0:
        raise DbtError(f"dbt {' '.join(args)} failed (exit {completed.returncode}):\n{failure_summary(output)}")
    return DbtRun(tuple(args), seconds, output, work_seconds(config, started_at))
