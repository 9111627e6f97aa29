"""dbt's own clock: what an invocation spent on its nodes, and so what its start-up cost."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import PROJECT_DIR

from mlwatch.config import load_config
from mlwatch.dbt import DbtRun, work_seconds


@pytest.fixture
def target_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    return tmp_path


def test_the_nodes_time_is_read_from_this_invocations_run_results(target_path: Path) -> None:
    config = load_config(PROJECT_DIR, env={})
    started = time.time()
    (target_path / "run_results.json").write_text(json.dumps({"elapsed_time": 1.25, "results": []}))
    assert work_seconds(config, started) == 1.25
    run = DbtRun(("run",), 5.0, "", work_seconds(config, started))
    assert run.start_up_seconds == 3.75


def test_an_older_or_missing_run_results_gives_no_split(target_path: Path) -> None:
    config = load_config(PROJECT_DIR, env={})
    assert work_seconds(config, time.time()) is None  # `dbt ls` writes none
    results = target_path / "run_results.json"
    results.write_text(json.dumps({"elapsed_time": 1.25}))
    os.utime(results, (time.time() - 60, time.time() - 60))  # left by an earlier invocation
    assert work_seconds(config, time.time() - 1) is None
    assert DbtRun(("ls",), 5.0, "", None).start_up_seconds is None
