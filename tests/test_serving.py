"""The serving stack: docker-compose.yml, the read-only role, Grafana's provisioning and the static dashboard.

No Docker engine or Grafana runs here, so the files are validated structurally and every query they
hold (panels, template variables, alert rules) runs against the marts built from the real 2021 files,
as the read-only role Grafana logs in as, after Grafana's own macro and variable expansion.
"""

from __future__ import annotations

import dataclasses
import html
import json
import operator
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
import yaml
from conftest import POSTGRES, PROJECT_DIR, Pipeline, require_postgres
from psycopg import errors

from mlwatch import dashboard as static
from mlwatch.config import load_config
from mlwatch.errors import ConfigError
from mlwatch.serving import (
    DEFAULT_READONLY_USER,
    READONLY_SCRIPT,
    ReadonlyRole,
    compose_psql,
    grant_readonly,
)
from mlwatch.warehouse import WarehouseSettings

GRAFANA = PROJECT_DIR / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DASHBOARD = static.load_dashboard(PROJECT_DIR)
PANELS = static.panels(DASHBOARD)
ALERT_RULES = [
    rule
    for path in sorted((GRAFANA / "provisioning" / "alerting").glob("*.yaml"))
    for group in yaml.safe_load(path.read_text())["groups"]
    for rule in group["rules"]
]
# The demo: production month 2021-02, which the dashboard's default time range shows.
DEMO_DAYS = pd.date_range("2021-02-01", "2021-02-28", freq="D")
CHROMIUM = Path("/usr/bin/chromium")
_MATH = re.compile(r"^\$\{?(\w+)\}?\s*(>=|>|<=|<|==|!=)\s*([0-9.]+)$")
_COMPARE = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def _yaml(relative: str) -> Any:
    return yaml.safe_load((PROJECT_DIR / relative).read_text())


def _env_example() -> dict[str, str]:
    lines = (PROJECT_DIR / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _compose_variables(text: str) -> set[str]:
    """Names compose substitutes: ${VAR}, ${VAR:-default}, ${VAR:?error}; `$${...}` is a literal `$`."""
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_]\w*)(?:[:?-][^}]*)?\}", text))


def _datasource_uids() -> set[str]:
    files = (GRAFANA / "provisioning" / "datasources").glob("*.yaml")
    return {source["uid"] for path in files for source in yaml.safe_load(path.read_text())["datasources"]}


def _condition(rule: dict[str, Any]) -> tuple[str, Any, float]:
    """The rule's condition `$ref <op> constant` as (ref, comparison, constant)."""
    (node,) = [item for item in rule["data"] if item["refId"] == rule["condition"]]
    match = _MATH.match(node["model"]["expression"])
    assert node["model"]["type"] == "math" and match, f"{rule['title']}: condition must be `$ref <op> number`"
    return match[1], _COMPARE[match[2]], float(match[3])


def _rule_sql(rule: dict[str, Any]) -> str:
    (query,) = [item for item in rule["data"] if item["datasourceUid"] != "__expr__"]
    return query["model"]["rawSql"]


def _reads_pipeline_health(panel: dict[str, Any]) -> bool:
    return "marts.pipeline_health" in static.target(panel)["rawSql"]


def _threshold_lines(panel: dict[str, Any]) -> dict[float, str]:
    """The dashed threshold lines a panel draws: value -> colour."""
    config = static.field_config(panel)
    assert config["custom"]["thresholdsStyle"]["mode"] == "dashed", panel["title"]
    return {step["value"]: step["color"] for step in config["thresholds"]["steps"] if step["value"] is not None}


def _seed_thresholds() -> pd.DataFrame:
    return pd.read_csv(PROJECT_DIR / "seeds" / "metric_thresholds.csv").set_index("test_name")


def _status_codes(panel: dict[str, Any]) -> dict[str, float]:
    """A state timeline's value mappings as status -> the number its query gives that status."""
    (mapping,) = static.field_config(panel)["mappings"]
    return {option["text"].replace(" ", "_"): float(key) for key, option in mapping["options"].items()}


# --- docker-compose.yml and .env.example --------------------------------------------------------------


def test_compose_defines_the_three_services_pinned_networked_and_healthy() -> None:
    compose = _yaml("docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"db", "adminer", "grafana"}
    for name, service in services.items():
        image, _, tag = service["image"].rpartition(":")
        assert image and tag and tag != "latest" and "/" not in tag, f"{name}: pin an explicit tag"
    assert services["db"]["image"].startswith("postgres:")
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["grafana"]["depends_on"] == {"db": {"condition": "service_healthy"}}

    assert set(compose["networks"]) == {"back-tier", "front-tier"}
    networks = {name: set(service["networks"]) for name, service in services.items()}
    assert networks == {
        "db": {"back-tier"},
        "adminer": {"back-tier", "front-tier"},
        "grafana": {"back-tier", "front-tier"},
    }

    mounts = {name: [volume.split(":") for volume in service.get("volumes", [])] for name, service in services.items()}
    named = {source for volumes in mounts.values() for source, *_ in volumes if not source.startswith(".")}
    assert named == set(compose["volumes"]), "every named volume is declared and used"
    assert ["pg-data", "/var/lib/postgresql/data"] in mounts["db"]
    for volumes in mounts.values():
        for source, *_ in volumes:
            assert not source.startswith(".") or (PROJECT_DIR / source).exists(), f"{source} is mounted but missing"
    grafana_mounts = {source: (target, options) for source, target, *options in mounts["grafana"]}
    assert grafana_mounts["./grafana/provisioning"] == ("/etc/grafana/provisioning", ["ro"])
    assert grafana_mounts["./grafana/dashboards"][1] == ["ro"]
    assert ["./docker/postgres/initdb", "/docker-entrypoint-initdb.d", "ro"] in mounts["db"]


def test_compose_takes_every_setting_and_secret_from_env_example() -> None:
    text = (PROJECT_DIR / "docker-compose.yml").read_text()
    defined = _env_example()
    assert _compose_variables(text) <= set(defined), "every ${VAR} in docker-compose.yml is in .env.example"
    for service in yaml.safe_load(text)["services"].values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), f"{key} must come from .env, not the YAML"
    assert defined["POSTGRES_DB"] == "mlwatch"
    # `mlwatch grant-readonly` names the role the container's init would; its password comes only from the env.
    assert defined["MLWATCH_READONLY_USER"] == DEFAULT_READONLY_USER
    assert ReadonlyRole.from_env({"MLWATCH_READONLY_PASSWORD": "s3cret"}) == ReadonlyRole(
        DEFAULT_READONLY_USER, "s3cret"
    )
    with pytest.raises(ConfigError, match="MLWATCH_READONLY_PASSWORD is not set"):
        ReadonlyRole.from_env({})


def test_the_container_init_runs_the_readonly_script_next_to_it() -> None:
    init = PROJECT_DIR / "docker" / "postgres" / "initdb" / "01-readonly-role.sh"
    assert os.access(init, os.X_OK), "the entrypoint only passes $0 (used to find the script) when executable"
    assert (PROJECT_DIR / READONLY_SCRIPT).parent == init.parent
    assert not (PROJECT_DIR / READONLY_SCRIPT).name.endswith((".sql", ".sh")), "the entrypoint would run it bare"


# --- Grafana provisioning and the dbt exposure ---------------------------------------------------------


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_dashboards_parse_and_query_only_provisioned_datasources(path: Path) -> None:
    board = json.loads(path.read_text())
    uids = _datasource_uids()
    queried = [*board["templating"]["list"], *static.panels(board)]
    queried += [target for panel in static.panels(board) for target in panel["targets"]]
    assert queried and all(item["datasource"]["uid"] in uids for item in queried)
    assert len({panel["id"] for panel in static.layout(board)}) == len(static.layout(board)), "panel ids are unique"


def test_dashboard_opens_on_the_demo_month_in_utc() -> None:
    assert static.TimeRange.of_dashboard(DASHBOARD) == static.TimeRange.of_days(
        DEMO_DAYS[0].date(), DEMO_DAYS[-1].date() + pd.Timedelta(days=1)
    )
    assert DASHBOARD["timezone"] == "utc"
    for panel in PANELS:
        sql = static.target(panel)["rawSql"]
        if _reads_pipeline_health(panel):  # the pipeline's state now, whatever days the picker shows
            assert "$__time" not in sql, panel["title"]
        else:
            assert re.search(r"\$__timeFilter\((\w+\.)?batch_date\)", sql), f"{panel['title']} follows the time picker"


def test_dashboard_threshold_lines_follow_the_seed_the_dbt_vars_and_the_alerts() -> None:
    by_title = {panel["title"]: panel for panel in PANELS}
    rules = {rule["uid"]: _condition(rule) for rule in ALERT_RULES}
    config = load_config(PROJECT_DIR)
    assert _threshold_lines(by_title["Drifted columns"]) == {config.drift_share: "red"}
    # The count's axis ends at the number of drift columns, as the share's ends at 100%: the bars meet the line.
    drifted = by_title["Drifted columns"]
    axes = {name: static.field_config(drifted, name) for name in ("drifted share", "drifted columns")}
    assert (axes["drifted share"]["max"], axes["drifted columns"]["max"]) == (1, len(config.drift_columns))
    assert _threshold_lines(by_title["MAE ratio to the reference"]) == {rules["mlwatch-mae-above-reference"][2]: "red"}
    missing = _seed_thresholds().loc["missing_values"]
    assert _threshold_lines(by_title["Share of missing values"]) == {
        missing.warn_threshold: "orange",
        missing.fail_threshold: "red",
    }
    # Every status the marts can give has a colour, in the timeline and in the latest-batch table.
    assert set(_status_codes(by_title["Daily status"])) == {"ok", "warn", "fail", "no_data"}
    (latest,) = by_title["Tests on the latest batch"]["fieldConfig"]["overrides"]
    (mapping,) = next(prop["value"] for prop in latest["properties"] if prop["id"] == "mappings")
    assert set(mapping["options"]) == {"pass", "ok", "warn", "fail", "no_data"}


def test_grafana_finds_the_provisioned_dashboard_and_datasource_settings() -> None:
    grafana = _yaml("docker-compose.yml")["services"]["grafana"]
    mounted = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    (provider,) = _yaml("grafana/provisioning/dashboards/mlwatch.yaml")["providers"]
    assert provider["options"]["path"] == mounted["./grafana/dashboards"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{mounted['./grafana/dashboards']}/{static.DASHBOARD_FILE.name}"
    datasources = (GRAFANA / "provisioning" / "datasources" / "mlwatch.yaml").read_text()
    assert _compose_variables(datasources) <= set(grafana["environment"]), "Grafana's env fills the datasource"
    (source,) = yaml.safe_load(datasources)["datasources"]
    assert source["user"] == "${MLWATCH_READONLY_USER}"


def test_alert_rules_are_consistent_with_the_dashboard_and_dbt_vars() -> None:
    assert {rule["uid"] for rule in ALERT_RULES} == {
        "mlwatch-prediction-drift",
        "mlwatch-dataset-drift",
        "mlwatch-mae-above-reference",
        "mlwatch-daily-status-fail",
    }
    panel_ids = {panel["id"] for panel in PANELS}
    for rule in ALERT_RULES:
        refs = {item["refId"] for item in rule["data"]}
        assert rule["condition"] in refs
        ref, _, _ = _condition(rule)
        assert ref in refs, f"{rule['title']}: its condition reads a query that exists"
        assert {item["datasourceUid"] for item in rule["data"]} <= _datasource_uids() | {"__expr__"}
        assert rule["dashboardUid"] == DASHBOARD["uid"] and rule["panelId"] in panel_ids
    by_uid = {rule["uid"]: rule for rule in ALERT_RULES}
    assert _condition(by_uid["mlwatch-dataset-drift"])[1:] == (operator.ge, load_config(PROJECT_DIR).drift_share)
    assert _condition(by_uid["mlwatch-mae-above-reference"])[2] > 1
    assert _condition(by_uid["mlwatch-daily-status-fail"])[1:] == (operator.gt, 0)
    # The rules alert on the calibrated verdicts the dashboard shows, not on Evidently's default ones.
    assert "prediction_drift_detected_calibrated" in _rule_sql(by_uid["mlwatch-prediction-drift"])
    assert "drifted_columns_share_calibrated" in _rule_sql(by_uid["mlwatch-dataset-drift"])
    assert "marts.daily_status" in _rule_sql(by_uid["mlwatch-daily-status-fail"])


def test_the_dbt_exposures_point_at_the_dashboard_and_the_marts_it_reads() -> None:
    """The dashboard's exposure, and its attribution panel's (enabled for the taxi example only), together depend on
    every mart the dashboard reads."""
    exposures = _yaml("models/marts/_marts__exposures.yml")["exposures"]
    assert [exposure["type"] for exposure in exposures] == ["dashboard", "dashboard"]
    assert {exposure["url"] for exposure in exposures} == {f"http://localhost:3000/d/{DASHBOARD['uid']}"}
    sql = [static.target(panel)["rawSql"] for panel in PANELS]
    sql += [variable["query"] for variable in DASHBOARD["templating"]["list"]] + [_rule_sql(r) for r in ALERT_RULES]
    read = {name for text in sql for name in re.findall(r"\bmarts\.(\w+)", text)}
    depends_on = [ref for exposure in exposures for ref in exposure["depends_on"]]
    assert sorted({f"ref('{name}')" for name in read}) == sorted(depends_on)


def test_grafana_macros_and_variables_expand_as_grafana_does() -> None:
    time_range = static.TimeRange.of_dashboard(DASHBOARD)
    variables = {
        "model_version": static.VariableValue(("v'1",), quoted=False),
        "column": static.VariableValue(("a", "b'c"), quoted=True),
    }
    sql = "$__timeFilter(d) and m = '$model_version' and c in (${column}) and $__timeFrom() < $__time(t)"
    assert static.render_sql(sql, time_range, variables) == (
        "d BETWEEN '2021-02-01T00:00:00Z' AND '2021-03-01T00:00:00Z' and m = 'v''1' and c in ('a','b''c') "
        "and '2021-02-01T00:00:00Z' < t AS \"time\""
    )
    with pytest.raises(static.DashboardError, match="timeGroup"):
        static.expand_macros("$__timeGroup(t, '1d')", time_range)


def test_psql_variables_are_quoted_by_psycopg() -> None:
    script = "alter role :\"reader\" password :'password'; select 1::int"
    composed = compose_psql(script, {"reader": 'a"b', "password": "p'w"})
    assert composed.as_string(None) == "alter role \"a\"\"b\" password 'p''w'; select 1::int"
    with pytest.raises(ConfigError, match="password"):
        compose_psql("select :'password'", {})


# --- The read-only role, on the marts built from the real files -------------------------------------------


def _connect(database: str, role: ReadonlyRole | None = None) -> psycopg.Connection:
    login = {**POSTGRES, "user": role.name, "password": role.password} if role else POSTGRES
    return psycopg.connect(**login, dbname=database, autocommit=True)


def _drop_role(role: ReadonlyRole, databases: list[str]) -> None:
    for database in databases:
        with _connect(database) as admin:
            admin.execute(psycopg.sql.SQL("drop owned by {}").format(psycopg.sql.Identifier(role.name)))
    with _connect("postgres") as admin:
        admin.execute(psycopg.sql.SQL("drop role if exists {}").format(psycopg.sql.Identifier(role.name)))


def _new_role() -> ReadonlyRole:
    return ReadonlyRole(f"mlwatch_reader_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex[:8]}'?%")


@pytest.fixture(scope="session")
def reader(built_postgres: Pipeline) -> Iterator[ReadonlyRole]:
    """A read-only role on the built marts, granted by the CLI after `mlwatch metrics`, as docs/serving.md says."""
    role = _new_role()
    granting = dataclasses.replace(
        built_postgres,
        env={**built_postgres.env, "MLWATCH_READONLY_USER": role.name, "MLWATCH_READONLY_PASSWORD": role.password},
    )
    granting.run("grant-readonly")
    granting.run("grant-readonly")  # idempotent: re-running changes nothing and does not fail
    yield role
    _drop_role(role, [built_postgres.env["POSTGRES_DB"]])


@pytest.fixture
def read(built_postgres: Pipeline, reader: ReadonlyRole) -> Iterator[static.Query]:
    """Run one SQL statement as the read-only role; returns the result as a frame."""
    with _connect(built_postgres.env["POSTGRES_DB"], reader) as con:

        def run(sql: str) -> pd.DataFrame:
            cursor = con.execute(sql)
            return pd.DataFrame(cursor.fetchall(), columns=[column.name for column in cursor.description or []])

        yield run


def _assert_reads_marts_only(con: psycopg.Connection, mart: str, raw: str) -> None:
    assert con.execute(f"select count(*) from {mart}").fetchone()[0] > 0
    for statement in (
        f"select * from {raw} limit 1",
        f"insert into {mart} select * from {mart} limit 1",
        f"delete from {mart}",
        "create table marts.intruder (x int)",
        "create table public.intruder (x int)",
        "create schema intruder",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            con.execute(statement)


@pytest.mark.postgres
@pytest.mark.integration
def test_readonly_role_reads_the_marts_and_nothing_else(built_postgres: Pipeline, reader: ReadonlyRole) -> None:
    with _connect(built_postgres.env["POSTGRES_DB"], reader) as con:
        _assert_reads_marts_only(con, "marts.daily_model_monitoring", "raw.green_trips")
        assert con.execute("select count(*) from marts.daily_column_drift").fetchone()[0] > 0
        with pytest.raises(errors.InsufficientPrivilege):
            con.execute("select * from staging.stg_tlc__green_trips limit 1")


@pytest.fixture
def empty_database() -> Iterator[str]:
    require_postgres()
    name = f"mlwatch_serving_{uuid.uuid4().hex[:10]}"
    with _connect("postgres") as admin:
        admin.execute(f'create database "{name}"')
    yield name
    with _connect("postgres") as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


def _grant_with_container_init(database: str, role: ReadonlyRole) -> None:
    """01-readonly-role.sh as the postgres image runs it: POSTGRES_USER/DB and the role from the environment."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    env = {
        **os.environ,
        "PGHOST": POSTGRES["host"],
        "PGPORT": POSTGRES["port"],
        "PGPASSWORD": POSTGRES["password"],
        "POSTGRES_USER": POSTGRES["user"],
        "POSTGRES_DB": database,
        "MLWATCH_READONLY_USER": role.name,
        "MLWATCH_READONLY_PASSWORD": role.password,
    }
    script = PROJECT_DIR / "docker" / "postgres" / "initdb" / "01-readonly-role.sh"
    subprocess.run([str(script)], env=env, check=True, capture_output=True, text=True)


def _grant_with_python(database: str, role: ReadonlyRole) -> None:
    settings = WarehouseSettings.from_env(
        PROJECT_DIR,
        {
            "DBT_TARGET": "postgres",
            **{f"POSTGRES_{k.upper()}": v for k, v in POSTGRES.items()},
            "POSTGRES_DB": database,
        },
    )
    grant_readonly(settings, role, PROJECT_DIR)


@pytest.mark.postgres
@pytest.mark.parametrize("grant", [_grant_with_container_init, _grant_with_python], ids=["container-init", "python"])
def test_grant_before_dbt_reaches_tables_created_later(empty_database: str, grant: Any) -> None:
    """The container's init runs on an empty database, before dbt has created the marts schema."""
    role = _new_role()
    try:
        grant(empty_database, role)
        grant(empty_database, role)
        with _connect(empty_database) as owner:  # the role that runs dbt creates the tables afterwards
            owner.execute("create schema if not exists raw")
            owner.execute("create table raw.trips as select 1 as x")
            owner.execute("create table marts.daily as select 1 as x")
        with _connect(empty_database, role) as con:
            _assert_reads_marts_only(con, "marts.daily", "raw.trips")
    finally:
        _drop_role(role, [empty_database])


# --- Every query Grafana runs, as the read-only role ------------------------------------------------------


@pytest.fixture
def variables(read: static.Query) -> dict[str, static.VariableValue]:
    return static.resolve_variables(DASHBOARD, static.TimeRange.of_dashboard(DASHBOARD), read)


@pytest.mark.postgres
@pytest.mark.integration
def test_template_variables_offer_the_model_and_the_drift_columns(
    built_postgres: Pipeline, variables: dict[str, static.VariableValue]
) -> None:
    versions = built_postgres.query("select model_version from raw.model_versions").model_version.tolist()
    assert variables["model_version"] == static.VariableValue(tuple(versions), quoted=False)
    assert variables["column"] == static.VariableValue(tuple(sorted(built_postgres.config.drift_columns)), quoted=True)


def _panel_frame(panel: dict[str, Any], read: static.Query, variables: dict[str, static.VariableValue]) -> pd.DataFrame:
    sql = static.render_sql(static.target(panel)["rawSql"], static.TimeRange.of_dashboard(DASHBOARD), variables)
    return read(sql)


@pytest.mark.postgres
@pytest.mark.integration
@pytest.mark.parametrize("panel", PANELS, ids=lambda panel: panel["title"])
def test_panel_query_returns_what_its_panel_draws(
    panel: dict[str, Any], read: static.Query, variables: dict[str, static.VariableValue]
) -> None:
    frame = _panel_frame(panel, read, variables)
    assert not frame.empty
    named = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"] if o["matcher"]["id"] == "byName"}
    if static.target(panel)["format"] == "table":
        assert named <= set(frame.columns), f"{panel['title']}: overrides name columns the query returns"
        numeric = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])]
        if panel["type"] == "stat":
            assert len(frame) == 1 and len(frame.columns) == 1, "one value"
        if panel["type"] == "barchart":
            (category,) = [name for name in frame.columns if name not in numeric]
            assert category == panel["options"]["xField"] and frame[category].is_unique, "one bar group per row"
            assert named == set(numeric), f"{panel['title']}: every bar has its colour"
        return
    assert pd.to_datetime(frame["time"]).drop_duplicates().tolist() == list(DEMO_DAYS), "one point per demo day"
    series = static.series_frame(frame)
    assert all(pd.api.types.is_numeric_dtype(series[name]) for name in series.columns)
    assert named <= set(series.columns), f"{panel['title']}: overrides name series the query returns"
    if panel["type"] == "state-timeline":
        states = {float(key) for key in static.field_config(panel)["mappings"][0]["options"]}
        assert set(series.stack().unique()) <= states, f"{panel['title']}: every state has a colour"


@pytest.fixture
def frames(read: static.Query, variables: dict[str, static.VariableValue]) -> dict[str, pd.DataFrame]:
    """Each panel's query result as the read-only role, by panel title."""
    return {panel["title"]: _panel_frame(panel, read, variables) for panel in PANELS}


def _demo_rows(read: static.Query, mart: str, variables: dict[str, static.VariableValue], where: str = "") -> Any:
    """The mart's rows for the dashboard's model version and demo month, oldest first."""
    (version,) = variables["model_version"].values
    return read(
        f"select * from marts.{mart} where model_version = '{version}' "
        f"and batch_date between '2021-02-01' and '2021-02-28' {where} order by batch_date"
    )


@pytest.mark.postgres
@pytest.mark.integration
def test_status_panels_show_the_daily_tests_and_the_pipeline_health(
    built_postgres: Pipeline,
    read: static.Query,
    variables: dict[str, static.VariableValue],
    frames: dict[str, pd.DataFrame],
) -> None:
    by_title = {panel["title"]: panel for panel in PANELS}
    seed = _seed_thresholds()
    codes = _status_codes(by_title["Daily status"])
    timeline = static.series_frame(frames["Daily status"])
    assert list(timeline.columns) == ["day status", *sorted(seed.index)], "the day first, then each test"
    # The codes rank the statuses as daily_status does (fail > warn > no_data > ok): the day is its worst test.
    assert (timeline["day status"] == timeline.drop(columns="day status").max(axis=1)).all()
    status = _demo_rows(read, "daily_status", variables)
    assert timeline["day status"].tolist() == status.status.map(codes).tolist()
    assert {"ok", "warn", "fail"} <= set(status.status), "the demo month has good, doubtful and failed days"

    latest = frames["Tests on the latest batch"]
    assert latest["batch date"].unique().tolist() == ["2021-02-28"]
    assert sorted(latest["test"]) == sorted(seed.index)
    for row in latest.to_dict("records"):
        test = seed.loc[row["test"]]
        assert (row["metric"], row["warn threshold"]) == (test.metric_name, test.warn_threshold)
        # a diagnostic has no fail threshold (warn at most); a comparison with its NaN is never true below
        assert row["fail threshold"] == test.fail_threshold or bool(
            pd.isna(row["fail threshold"]) and pd.isna(test.fail_threshold)
        )
        assert row["fails when"] == {"max": "above", "min": "below"}[test.direction]
        beyond = operator.gt if test.direction == "max" else operator.lt
        observed = row["observed"]
        expected = (
            "no_data"
            if pd.isna(observed)
            else "fail"
            if beyond(observed, test.fail_threshold)
            else "warn"
            if beyond(observed, test.warn_threshold)
            else "pass"
        )
        assert row["status"] == expected, row["test"]
    assert latest.status.map({"fail": 0, "warn": 1, "no_data": 2, "pass": 3}).is_monotonic_increasing, "worst first"

    runs = built_postgres.query(
        "select max(finished_at) as finished from raw.pipeline_runs where step = 'metrics' and status = 'success'"
    )
    finished = pd.Timestamp(runs.finished.iloc[0]).tz_localize("UTC")  # the run log writes naive UTC times
    assert frames["Last successful metrics run"]["last success"].tolist() == pytest.approx(
        [finished.timestamp() * 1000]
    )
    drawn = static.figure(by_title["Last successful metrics run"], frames["Last successful metrics run"])
    assert drawn.layout.annotations[0].text == f"<b>{finished:%Y-%m-%d %H:%M:%S}</b>", "as Grafana's dateTimeAsIso"
    assert frames["Newest computed batch date"].iloc[:, 0].tolist() == ["2021-02-28"]
    assert frames["Days without metrics"].iloc[:, 0].tolist() == [0]


@pytest.mark.postgres
@pytest.mark.integration
def test_drift_panels_show_the_calibrated_verdicts_beside_evidentlys(
    built_postgres: Pipeline,
    read: static.Query,
    variables: dict[str, static.VariableValue],
    frames: dict[str, pd.DataFrame],
) -> None:
    drift_columns = built_postgres.config.drift_columns
    daily = _demo_rows(read, "daily_model_monitoring", variables)

    drift = frames["Prediction drift"]
    assert (drift["Evidently threshold"] == 0.1).all() and drift["drift score"].between(0, 1).all()
    assert drift["calibrated threshold"].between(0, 1).all() and drift["calibrated threshold"].nunique() > 1
    flagged = drift["drift (calibrated)"].notna()
    assert flagged.tolist() == (drift["drift score"] >= drift["calibrated threshold"]).tolist()
    assert flagged.tolist() == daily.prediction_drift_detected_calibrated.tolist()
    assert flagged.any() and not flagged.all(), "the demo has days on both sides"

    drifted = frames["Drifted columns"]
    assert (drifted["drifted share"] * len(drift_columns)).round(9).tolist() == drifted["drifted columns"].tolist()
    assert drifted["drifted columns"].tolist() == daily.drifted_columns_count_calibrated.tolist()
    per_column = static.series_frame(frames["Drift detected per column"])
    assert sorted(per_column.columns) == sorted(drift_columns)
    assert per_column.sum(axis=1).tolist() == drifted["drifted columns"].tolist(), "the two marts agree"
    assert per_column["prediction"].astype(bool).tolist() == flagged.tolist()

    default = static.series_frame(frames["Drift detected per column at Evidently's default threshold"])
    assert sorted(default.columns) == sorted(drift_columns)
    assert default.sum(axis=1).tolist() == daily.drifted_columns_count.tolist()
    # What the panel's description says, and why the dashboards show the calibrated verdicts.
    assert default[["pickup_location_id", "dropoff_location_id"]].all().all()

    latest = frames["Column drift on the latest batch"]
    assert latest["batch date"].unique().tolist() == ["2021-02-28"]
    assert sorted(latest["column"]) == sorted(drift_columns)
    score = latest["drift score"]
    assert latest["calibrated verdict"].tolist() == (score >= latest["calibrated threshold"]).tolist()
    assert latest["Evidently verdict"].tolist() == (score >= latest["Evidently threshold"]).tolist()
    verdicts = latest.set_index("column")
    assert verdicts["calibrated verdict"].to_dict() == per_column.iloc[-1].astype(bool).to_dict()
    assert verdicts["Evidently verdict"].to_dict() == default.iloc[-1].astype(bool).to_dict()


@pytest.mark.postgres
@pytest.mark.integration
def test_model_health_and_data_quality_panels_show_the_marts_values(
    built_postgres: Pipeline, frames: dict[str, pd.DataFrame]
) -> None:
    performance = frames["MAE and RMSE against the reference"]
    assert performance["reference MAE"].nunique() == 1 and (performance["RMSE"] >= performance["MAE"]).all()
    ratio = frames["MAE ratio to the reference"]["MAE / reference MAE"]
    assert ratio.tolist() == pytest.approx((performance["MAE"] / performance["reference MAE"]).tolist())
    r2 = frames["R² against the reference"]
    assert r2["reference R²"].nunique() == 1 and (r2["R²"] <= 1).all()
    bias = frames["Bias (mean error) against the reference"]
    assert bias["reference mean error"].nunique() == 1
    assert (bias["mean error"].abs() <= performance["MAE"] + 1e-9).all(), "|mean error| <= mean absolute error"

    volume = frames["Daily row volume"]
    assert (volume["all trips"] >= volume["pass input rules"]).all()
    assert (volume["pass input rules"] >= volume["pass all rules"]).all()
    february = built_postgres.query(
        "select count(*) as n from raw.green_trips where source_month = '2021-02' "
        "and lpep_pickup_datetime >= '2021-02-01' and lpep_pickup_datetime < '2021-03-01'"
    ).n.iloc[0]
    assert volume["all trips"].sum() == february
    assert frames["Share of missing values"]["missing share"].between(0, 1).all()


@pytest.mark.postgres
@pytest.mark.integration
def test_segment_and_trend_panels_summarise_the_marts(
    read: static.Query, variables: dict[str, static.VariableValue], frames: dict[str, pd.DataFrame]
) -> None:
    segments = _demo_rows(read, "daily_segment_performance", variables, "and performance_trips > 0")
    for title, kind in (("MAE by pickup borough", "borough"), ("MAE by time of day", "time_of_day")):
        frame, mart = frames[title], segments[segments.segment_type == kind]
        trips = mart.groupby("segment").performance_trips.sum()
        labels = frame.segment.str.extract(r"^(?P<segment>.+) \((?P<trips>\d+) trips\)$")
        assert dict(zip(labels.segment, labels.trips.astype(int), strict=True)) == trips.to_dict(), title
        weighted = (mart.mae * mart.performance_trips).groupby(mart.segment).sum() / trips
        assert frame["MAE"].tolist() == pytest.approx(weighted[labels.segment].tolist()), "the range's MAE"
        reference = mart.groupby("segment").reference_mae.max()
        assert frame["reference MAE"].tolist() == pytest.approx(reference[labels.segment].tolist())
    boroughs = frames["MAE by pickup borough"].segment.str.extract(r"\((\d+) trips\)$")[0].astype(int)
    assert boroughs.is_monotonic_decreasing, "most trips first"
    assert frames["MAE by time of day"].segment.is_monotonic_increasing, "in the order of the day"

    trends = frames["Metrics outside their trend band"]
    flagged = _demo_rows(read, "daily_metric_trends", variables, "and is_outside_band")
    assert len(trends) == len(flagged) > 0
    assert ((trends["value"] < trends["band lower"]) | (trends["value"] > trends["band upper"])).all()
    assert trends["batch date"].is_monotonic_decreasing, "newest first"


@pytest.mark.postgres
@pytest.mark.integration
@pytest.mark.parametrize("rule", ALERT_RULES, ids=lambda rule: rule["uid"])
def test_alert_rule_query_gives_one_labelled_number_per_model(
    built_postgres: Pipeline, rule: dict[str, Any], read: static.Query
) -> None:
    frame = read(_rule_sql(rule))
    numeric = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])]
    labels = [name for name in frame.columns if name not in numeric]
    assert len(numeric) == 1, "Grafana alerts on tabular data need exactly one numeric column"
    assert not frame.duplicated(labels).any(), "each row must be one alert instance"
    versions = built_postgres.query("select model_version from raw.model_versions").model_version
    assert sorted(frame.model_version) == sorted(versions)
    assert frame.batch_date.tolist() == ["2021-02-28"] * len(frame), "the newest batch"


@pytest.mark.postgres
@pytest.mark.integration
def test_alert_conditions_agree_with_the_marts_on_every_day(built_postgres: Pipeline) -> None:
    """Each rule's comparison, applied to every demo day, fires exactly on the days the marts flag."""
    daily = built_postgres.query(
        "select daily.prediction_drift_detected_calibrated as prediction_drift, "
        "daily.drifted_columns_share_calibrated as drifted_share, daily.dataset_drift_calibrated as dataset_drift, "
        "daily.mae_ratio_to_reference as ratio, status.status, status.failed_tests "
        "from marts.daily_model_monitoring as daily "
        "inner join marts.daily_status as status using (batch_date, model_version) "
        "where daily.metrics_computed and not daily.is_empty_batch"
    )
    by_uid = {rule["uid"]: _condition(rule) for rule in ALERT_RULES}
    _, compare, share = by_uid["mlwatch-dataset-drift"]
    assert compare(daily.drifted_share, share).tolist() == daily.dataset_drift.tolist()
    assert daily.dataset_drift.any() and not daily.dataset_drift.all(), "the demo has days on both sides"
    _, compare, zero = by_uid["mlwatch-prediction-drift"]
    assert compare(daily.prediction_drift.astype(int), zero).tolist() == daily.prediction_drift.tolist()
    assert daily.prediction_drift.any() and not daily.prediction_drift.all()
    _, compare, ratio = by_uid["mlwatch-mae-above-reference"]
    fires = compare(daily.ratio, ratio)
    assert fires.any() and not fires.all(), "the tolerance separates the demo's worse days from its usual ones"
    _, compare, zero = by_uid["mlwatch-daily-status-fail"]
    fails = compare((daily.status == "fail").astype(int), zero)
    assert fails.tolist() == (daily.failed_tests > 0).tolist()
    assert fails.any() and not fails.all()


# --- The static HTML dashboard -----------------------------------------------------------------------------


@pytest.mark.integration
def test_dashboard_command_renders_every_panel_offline(built: Pipeline, tmp_path: Path) -> None:
    output = tmp_path / "dashboard.html"
    completed = built.run("dashboard", "--output", str(output))
    assert completed.stdout.strip() == str(output)
    page = output.read_text()
    assert page.count('class="plotly-graph-div"') == len(PANELS)
    assert all(html.escape(panel["title"]) in page for panel in PANELS)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b", page), "plotly.js is inlined, nothing is fetched"


@pytest.mark.postgres
@pytest.mark.integration
def test_static_panels_read_the_same_data_on_both_warehouses(built_duckdb: Pipeline, built_postgres: Pipeline) -> None:
    frames = []
    for pipeline in (built_duckdb, built_postgres):
        warehouse = pipeline.connect()
        try:
            time_range = static.data_time_range(warehouse.query)
            values = static.resolve_variables(DASHBOARD, time_range, warehouse.query)
            frames.append(
                [warehouse.query(static.render_sql(static.target(p)["rawSql"], time_range, values)) for p in PANELS]
            )
        finally:
            warehouse.close()
    for panel, duck, postgres in zip(PANELS, *frames, strict=True):
        assert len(duck) > 0, panel["title"]
        if static.field_config(panel).get("unit") == "dateTimeAsIso":  # each warehouse's own run time
            duck, postgres = (
                frame.map(lambda ms: pd.Timestamp(ms, unit="ms") > pd.Timestamp(2021, 3, 1))
                for frame in (duck, postgres)
            )
        pd.testing.assert_frame_equal(duck, postgres, check_dtype=False, rtol=1e-9, obj=panel["title"])


def _chromium(url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with no network use at all (this machine and CI have none)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI=true requires the browser test (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: static dashboard browser test SKIPPED (apt-get install chromium)")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _page_height(dashboard: dict[str, Any]) -> int:
    """Pixels the static page needs: each line of panels (its tallest plot, title and description) and each row."""
    lines: dict[int, int] = {}
    for panel in static.panels(dashboard):
        lines[panel["gridPos"]["y"]] = max(lines.get(panel["gridPos"]["y"], 0), panel["gridPos"]["h"])
    rows = len(static.layout(dashboard)) - len(static.panels(dashboard))
    return 120 + 45 * rows + sum(h * static.ROW_HEIGHT_PX + 75 for h in lines.values())


def _console_messages(stderr: str) -> list[str]:
    """What the page wrote to its console: Chromium logs every level, errors included, as INFO:CONSOLE."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.browser
def test_console_check_catches_page_errors(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('bad'); missingFunction();</script></body></html>")
    messages = _console_messages(_chromium(page.as_uri(), "--dump-dom", profile=tmp_path / "profile").stderr)
    assert any("bad" in line for line in messages) and any("Uncaught ReferenceError" in line for line in messages)


@pytest.mark.integration
@pytest.mark.browser
def test_static_dashboard_renders_in_a_browser(built_duckdb: Pipeline, tmp_path: Path) -> None:
    output = tmp_path / "dashboard.html"
    built_duckdb.run("dashboard", "--output", str(output))
    rendered = _chromium(output.as_uri(), "--dump-dom", profile=tmp_path / "profile")
    assert _console_messages(rendered.stderr) == []
    dom = rendered.stdout
    assert len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)) == len(PANELS), "plotly drew every panel"
    drawn = {  # what plotly draws for each panel type
        "timeseries": 'class="trace ',
        "barchart": 'class="trace bars"',
        "state-timeline": "<image ",
        "table": 'class="table-control-view"',
        "stat": 'class="annotation-text"',
    }
    for panel, section in zip(PANELS, dom.split('id="panel-')[1:], strict=True):
        assert section.startswith(f'{panel["id"]}"'), "the page keeps the dashboard's reading order"
        assert 'class="main-svg"' in section and drawn[panel["type"]] in section, panel["title"]
        assert ">No data<" not in section, panel["title"]
    assert "Jensen-Shannon distance" in dom, "the latest-batch table shows its rows"
    assert ">2021-02-28<" in dom, "the newest computed batch date stat shows its value"

    screenshot = PROJECT_DIR / "reports" / "dashboard.png"
    screenshot.parent.mkdir(exist_ok=True)
    _chromium(
        output.as_uri(),
        f"--screenshot={screenshot}",
        f"--window-size=1400,{_page_height(DASHBOARD)}",
        "--hide-scrollbars",
        profile=tmp_path / "profile",
    )
    assert screenshot.stat().st_size > 100_000, "a screenshot of a drawn page, not a blank one"
