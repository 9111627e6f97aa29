"""Shared fixtures: the real TLC files, and the whole pipeline built once per warehouse per session."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

import pytest

from mlwatch.config import MonitoringConfig, load_config
from mlwatch.warehouse import Warehouse, WarehouseSettings, connect

# test_reliability.py's dirty pipelines, whose fixtures `builds` starts with the session's other builds.
pytest_plugins = ["dirty"]

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TAXI_DATA_DIR", PROJECT_DIR.parent / "shared" / "data")).resolve()
POSTGRES = {
    "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "port": os.environ.get("POSTGRES_PORT", "5432"),
    "user": os.environ.get("POSTGRES_USER", "postgres"),
    "password": os.environ.get("POSTGRES_PASSWORD", ""),
}


# --- Markers --------------------------------------------------------------------------------------------------
# The Makefile selects tests by marker (`make test-fast`: no Postgres, no browser, one DuckDB build), so a missing
# marker silently breaks a selection. What a test needs is derived where collection can see it (its fixtures and
# their params, below) and checked again where it happens (require_postgres, the pipeline build, Chromium starting),
# which also catches fixtures that ask for others by name at run time. A missing marker fails, naming the one to
# add, rather than being added for the test: -m selects before anything runs, so a marker learnt at run time would
# come too late, and one in the source can be read.

POSTGRES_FIXTURES = {"built_postgres"}
SPARK_FIXTURES = {"built_spark"}
BUILD_FIXTURES = {"built", "built_duckdb", "built_postgres", "built_spark"}
BROWSERS = {"chromium", "chromium-browser", "chrome", "google-chrome"}
ADD = {
    "postgres": '@pytest.mark.postgres, or on a fixture\'s param: pytest.param("postgres", marks=pytest.mark.postgres)',
    "integration": "@pytest.mark.integration (or the module's pytestmark)",
    "browser": "@pytest.mark.browser",
    "spark": '@pytest.mark.spark, or on a fixture\'s param: pytest.param("spark", marks=pytest.mark.spark)',
}


class Markers:
    def __init__(self) -> None:
        self.item: pytest.Item | None = None  # the test being set up, run or torn down
        # A session that deselected every Postgres test must not touch Postgres at all, not even a shared fixture's
        # side build of the other warehouse (test_reliability's DirtyBuilds): postgres_answers() says no then.
        self.postgres_selected = True

    def require(self, marker: str, because: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # not the test's own doing: a background build (see Builds.get) or a helper thread
        if self.item is not None and self.item.get_closest_marker(marker) is None:
            pytest.fail(f"{self.item.nodeid} {because} but is not marked {marker}: add {ADD[marker]}", pytrace=False)


_markers = Markers()


def _missing_markers(item: pytest.Item) -> list[str]:
    """What collection can see: the fixtures a test requests, and a parametrised case named postgres or spark."""
    fixtures = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    needs = {}
    if fixtures & POSTGRES_FIXTURES or any(isinstance(value, str) and value == "postgres" for value in params.values()):
        needs["postgres"] = "uses Postgres"
    if fixtures & SPARK_FIXTURES or any(isinstance(value, str) and value == "spark" for value in params.values()):
        needs["spark"] = "uses Spark"
    if fixtures & BUILD_FIXTURES:
        needs["integration"] = "builds the pipeline on the real files"
    problems = [
        f"{item.nodeid} {why} but is not marked {marker}: add {ADD[marker]}"
        for marker, why in needs.items()
        if item.get_closest_marker(marker) is None
    ]
    if item.get_closest_marker("smoke"):
        problems += [
            f"{item.nodeid} is marked smoke and {marker}, but make test-fast runs no {marker} test"
            for marker in ("postgres", "browser", "spark")
            if item.get_closest_marker(marker)
        ]
    return problems


def _audit(event: str, args: tuple) -> None:
    """Chromium started from a test not marked browser fails that test, however the test starts it."""
    if event != "subprocess.Popen" or _markers.item is None:
        return
    argv = args[1]
    program = argv if isinstance(argv, str | bytes | os.PathLike) else next(iter(argv), "")
    if Path(os.fsdecode(program).split()[0] if program else "").name in BROWSERS:
        _markers.require("browser", "starts a browser")


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_audit)


@pytest.hookimpl(tryfirst=True)  # before -m deselects: a test missing its marker must not slip out of sight
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    problems = [problem for item in items for problem in _missing_markers(item)]
    if problems:
        raise pytest.UsageError("markers out of date (see tests/conftest.py):\n  " + "\n  ".join(problems))
    # The tests that build nothing first, in their files' order: they run while the session's builds (started
    # before the first test, see `builds`) take the other core, instead of after them on one core.
    items.sort(key=lambda item: any(item.get_closest_marker(name) for name in ("integration", "spark")))


def pytest_collection_finish(session: pytest.Session) -> None:
    _markers.postgres_selected = any(item.get_closest_marker("postgres") for item in session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _markers.item = item
    try:
        return (yield)
    finally:
        _markers.item = None


def postgres_answers() -> bool:
    """Whether a Postgres server answers, and this session may use it."""
    if not _markers.postgres_selected:
        return False
    import psycopg

    try:
        with psycopg.connect(**POSTGRES, dbname="postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip loudly on a laptop without Postgres; under CI a missing server is a failure."""
    _markers.require("postgres", "uses Postgres (require_postgres)")
    if postgres_answers():
        return
    message = f"no PostgreSQL answers on {POSTGRES['host']}:{POSTGRES['port']}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires the Postgres tests to run")
    pytest.skip(f"{message}: Postgres tests SKIPPED (start one, e.g. `docker compose up -d db`)")


def require_spark() -> None:
    """Skip loudly without Java 17+ (PySpark's JVM); under CI a missing Java is a failure."""
    from mlwatch.spark import MIN_JAVA, java_major_version

    _markers.require("spark", "uses Spark (require_spark)")
    major = java_major_version()
    if major is not None and major >= MIN_JAVA:
        return
    message = f"Spark needs Java {MIN_JAVA}+ ({'none found' if major is None else f'Java {major} found'})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires the Spark tests to run")
    pytest.skip(f"{message}: Spark tests SKIPPED")


def require_data() -> None:
    if not (DATA_DIR / "green_tripdata_2021-01.parquet").is_file():
        pytest.fail(f"The real TLC files are not in {DATA_DIR}; set TAXI_DATA_DIR")


@dataclass
class Pipeline:
    """One isolated warehouse (a DuckDB file or a fresh Postgres database) and the env that points at it."""

    target: str
    env: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)  # what each step of the build printed

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
        "SPARK_WAREHOUSE_DIR": str(folder / "spark"),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
        "TAXI_DATA_DIR": str(DATA_DIR),
        "MLWATCH_PROJECT_DIR": str(PROJECT_DIR),
    }
    env.pop("MLWATCH_REFERENCE_MONTH", None)
    env.pop("MLWATCH_PRODUCTION_MONTHS", None)
    env.pop("MLWATCH_CONFIG", None)
    yield Pipeline(target, env)
    if target == "postgres" and postgres_answers():
        import psycopg

        with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'drop database if exists "{database}" with (force)')


@contextmanager
def cloned(source: Pipeline, folder: Path) -> Iterator[Pipeline]:
    """A copy of `source`'s warehouse (DuckDB file, or a Postgres database made from it as a template)."""
    env = {**source.env, "DBT_TARGET_PATH": str(folder / "target"), "DBT_LOG_PATH": str(folder / "logs")}
    if source.target == "duckdb":
        env["DUCKDB_PATH"] = str(shutil.copy(source.env["DUCKDB_PATH"], folder / "warehouse.duckdb"))
        yield Pipeline(source.target, env)
        return
    import psycopg

    env["POSTGRES_DB"] = f"mlwatch_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'create database "{env["POSTGRES_DB"]}" template "{source.env["POSTGRES_DB"]}"')
    try:
        yield Pipeline(source.target, env)
    finally:
        with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'drop database if exists "{env["POSTGRES_DB"]}" with (force)')


# The day whose report Spark's build writes, into spark_report_dir.
SPARK_REPORT_DAY = "2021-02-15"


def spark_report_dir(pipeline: Pipeline) -> Path:
    return Path(pipeline.env["DBT_TARGET_PATH"]).parent / "reports"


def _build(target: str, folder: Path) -> Iterator[Pipeline]:
    """`mlwatch load && mlwatch metrics` on the default months, as the README runs them. On Spark, also `mlwatch
    report` and `mlwatch dashboard`: Derby admits one process to a Spark warehouse, and once a test has read it
    from the test process no command can open it, so the build runs every command the Spark tests look at."""
    require_data()
    if target == "postgres":
        require_postgres()
    if target == "spark":
        require_spark()
    for pipeline in make_pipeline(target, folder):
        steps: dict[str, tuple[str, ...]] = {"load": ("load",), "metrics": ("metrics",)}
        if target == "spark":
            steps["report"] = ("report", "--date", SPARK_REPORT_DAY, "--output-dir", str(spark_report_dir(pipeline)))
            steps["dashboard"] = ("dashboard", "--output", str(folder / "dashboard.html"))
            # The steps leave dbt's unit tests out (their inputs are fixed); test_dbt_build_passes_every_model_and_test
            # runs them on DuckDB and Postgres.
            steps["unit tests"] = ("dbt", "test", "--select", "test_type:unit")
        for step, args in steps.items():
            ran = pipeline.run(*args)
            pipeline.outputs[step] = ran.stdout + ran.stderr
        yield pipeline


Built = TypeVar("Built")


class InThreads(Generic[Built]):
    """Builds, each a generator run to its first yield in a thread (the steps are subprocesses, so the threads
    overlap), then run to its end (its clean-up) when the session closes."""

    def __init__(self) -> None:
        self.builds: dict[str, Iterator[Built]] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.results: dict[str, Built | BaseException] = {}

    def start(self, name: str, build: Iterator[Built]) -> None:
        self.builds[name] = build
        self.threads[name] = threading.Thread(target=self._build, args=[name], daemon=True)
        self.threads[name].start()

    def _build(self, name: str) -> None:
        try:
            self.results[name] = next(self.builds[name])
        except BaseException as error:  # pytest.skip and pytest.fail too: raised again in each test that asks
            self.results[name] = error

    def get(self, name: str) -> Built:
        self.threads[name].join()
        result = self.results[name]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        for name, build in self.builds.items():
            self.threads[name].join()
            for _ in build:  # drops the Postgres database
                pass


class Builds(InThreads[Pipeline]):
    """The session's pipeline per warehouse, each built in a thread started before the first test runs, so that
    the unit tests, and the other warehouse's build, use the second core meanwhile."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.factory = factory

    def start_build(self, target: str) -> None:
        if target not in self.threads:
            self.start(target, _build(target, self.factory.mktemp(f"built-{target}")))

    def get(self, target: str) -> Pipeline:
        # The thread ran outside any test: the markers are checked here, in the test that asks for the build.
        _markers.require("integration", f"builds the pipeline on the real files ({target})")
        if target in ("postgres", "spark"):
            _markers.require(target, f"uses {target} (built_{target})")
        self.start_build(target)
        return super().get(target)


def _needs_build(item: pytest.Item, target: str) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if target == "spark" and item.get_closest_marker("spark"):  # Spark's build is the longest: start it first
        return True
    return f"built_{target}" in getattr(item, "fixturenames", ()) or params.get("built") == target


@pytest.fixture(scope="session", autouse=True)
def builds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    """Starts the builds the selected tests need, test_reliability's dirty ones too (tests/dirty.py); a test that
    asks for a build some other way gets it on demand."""
    builds = Builds(tmp_path_factory)
    for target in ("spark", "duckdb", "postgres"):
        if any(_needs_build(item, target) for item in request.session.items):
            builds.start_build(target)
    if any("dirty" in getattr(item, "fixturenames", ()) for item in request.session.items):
        # Missing data or a failed build is raised again in each test that asks: pytest keeps a fixture's error.
        with suppress(pytest.skip.Exception, pytest.fail.Exception):
            request.getfixturevalue("dirty_builds")
    yield builds
    builds.close()


@pytest.fixture(scope="session")
def built_duckdb(builds: Builds) -> Pipeline:
    return builds.get("duckdb")


@pytest.fixture(scope="session")
def built_postgres(builds: Builds) -> Pipeline:
    return builds.get("postgres")


@pytest.fixture(scope="session")
def built_spark(builds: Builds) -> Pipeline:
    return builds.get("spark")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=[pytest.mark.postgres])])
def built(request: pytest.FixtureRequest) -> Pipeline:
    """The built pipeline on each warehouse in turn."""
    return request.getfixturevalue(f"built_{request.param}")


def import_nannyml() -> ModuleType:
    """NannyML with PySpark hidden: FLAML, which NannyML imports, would start a default SparkSession in this
    process at import, and the Spark tests read their warehouse from this process. Its usage reports stay off."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    pyspark = sys.modules.get("pyspark")
    sys.modules["pyspark"] = None  # type: ignore[assignment]  # `import pyspark` raises ImportError meanwhile
    try:
        return importlib.import_module("nannyml")
    finally:
        if pyspark is None:
            del sys.modules["pyspark"]
        else:
            sys.modules["pyspark"] = pyspark
