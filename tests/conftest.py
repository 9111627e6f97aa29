"""Shared fixtures: the real TLC files, and the whole pipeline built once per warehouse per session."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlwatch.config import MonitoringConfig, load_config
from mlwatch.warehouse import Warehouse, WarehouseSettings, connect

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TAXI_DATA_DIR", PROJECT_DIR.parent / "shared" / "data")).resolve()
POSTGRES = {
    "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "port": os.environ.get("POSTGRES_PORT", "5432"),
    "user": os.environ.get("POSTGRES_USER", "postgres"),
    "password": os.environ.get("POSTGRES_PASSWORD", ""),
}


def postgres_answers() -> bool:
    import psycopg

    try:
        with psycopg.connect(**POSTGRES, dbname="postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip loudly on a laptop without Postgres; under CI a missing server is a failure."""
    if postgres_answers():
        return
    message = f"no PostgreSQL answers on {POSTGRES['host']}:{POSTGRES['port']}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires the Postgres tests to run")
    pytest.skip(f"{message}: Postgres tests SKIPPED (start one, e.g. `docker compose up -d db`)")


def require_data() -> None:
    if not (DATA_DIR / "green_tripdata_2021-01.parquet").is_file():
        pytest.fail(f"The real TLC files are not in {DATA_DIR}; set TAXI_DATA_DIR")


@dataclass
class Pipeline:
    """One isolated warehouse (a DuckDB file or a fresh Postgres database) and the env that points at it."""

    target: str
    env: dict[str, str]

    @property
    def config(self) -> MonitoringConfig:
        return load_config(PROJECT_DIR, env=self.env)

    @property
    def settings(self) -> WarehouseSettings:
        return WarehouseSettings.from_env(PROJECT_DIR, env=self.env)

    def connect(self) -> Warehouse:
        return connect(self.settings)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the CLI as a user would; fail with its output when it fails unexpectedly."""
        completed = subprocess.run(
            [sys.executable, "-m", "mlwatch", *args],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and completed.returncode != 0:
            pytest.fail(
                f"mlwatch {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
            )
        return completed

    def query(self, sql: str, params: list | None = None):
        warehouse = self.connect()
        try:
            return warehouse.query(sql, params or [])
        finally:
            warehouse.close()


def make_pipeline(target: str, folder: Path) -> Iterator[Pipeline]:
    """A Pipeline whose warehouse and dbt artifacts live in `folder` (Postgres: a throwaway database)."""
    database = f"mlwatch_test_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DBT_TARGET": target,
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "POSTGRES_HOST": POSTGRES["host"],
        "POSTGRES_PORT": POSTGRES["port"],
        "POSTGRES_USER": POSTGRES["user"],
        "POSTGRES_PASSWORD": POSTGRES["password"],
        "POSTGRES_DB": database,
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
        "TAXI_DATA_DIR": str(DATA_DIR),
        "MLWATCH_PROJECT_DIR": str(PROJECT_DIR),
    }
    env.pop("MLWATCH_REFERENCE_MONTH", None)
    env.pop("MLWATCH_PRODUCTION_MONTHS", None)
    yield Pipeline(target, env)
    if target == "postgres" and postgres_answers():
        import psycopg

        with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'drop database if exists "{database}" with (force)')


def _build(target: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """`mlwatch load && mlwatch metrics` on the default months, as the README runs them."""
    require_data()
    if target == "postgres":
        require_postgres()
    for pipeline in make_pipeline(target, tmp_path_factory.mktemp(f"built-{target}")):
        pipeline.run("load")
        pipeline.run("metrics")
        yield pipeline


@pytest.fixture(scope="session")
def built_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from _build("duckdb", tmp_path_factory)


@pytest.fixture(scope="session")
def built_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from _build("postgres", tmp_path_factory)


@pytest.fixture(params=["duckdb", "postgres"])
def built(request: pytest.FixtureRequest) -> Pipeline:
    """The built pipeline on each warehouse in turn."""
    return request.getfixturevalue(f"built_{request.param}")
