"""The read-only Postgres role that Grafana and BI tools log in as (SELECT on the marts, nothing else).

docker/postgres/initdb/readonly-role.psql is the one definition: the docker container's init runs it
through psql, and `mlwatch grant-readonly` applies the same file to any other Postgres, with psql's
`:'name'` / `:"name"` substitutions done by psycopg's literal and identifier quoting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from mlwatch.errors import ConfigError, WarehouseError
from mlwatch.warehouse import WarehouseSettings

READONLY_SCRIPT = Path("docker") / "postgres" / "initdb" / "readonly-role.psql"
# The same name as .env.example, so a user without a .env gets the role docker would create. Its
# password has no default: secrets come from the environment only.
DEFAULT_READONLY_USER = "mlwatch_reader"

# psql's variable references; a preceding ':' is a cast (`x::text`), not a reference.
_PSQL_VARIABLE = re.compile(r"(?<![:\w]):(['\"])(\w+)\1")


@dataclass(frozen=True)
class ReadonlyRole:
    name: str
    password: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReadonlyRole:
        env = os.environ if env is None else env
        password = env.get("MLWATCH_READONLY_PASSWORD")
        if not password:
            raise ConfigError(
                "MLWATCH_READONLY_PASSWORD is not set: put it in .env (see .env.example) or the environment"
            )
        return cls(name=env.get("MLWATCH_READONLY_USER") or DEFAULT_READONLY_USER, password=password)


def compose_psql(script: str, variables: Mapping[str, str]) -> sql.Composed:
    """The psql script with its variables quoted by psycopg: `:'v'` as a literal, `:"v"` as an identifier."""
    parts: list[sql.Composable] = []
    position = 0
    for match in _PSQL_VARIABLE.finditer(script):
        quote, name = match.groups()
        if name not in variables:
            raise ConfigError(f"The psql script uses variable {name!r}, which is not given")
        value = variables[name]
        parts += [
            sql.SQL(script[position : match.start()]),
            sql.Literal(value) if quote == "'" else sql.Identifier(value),
        ]
        position = match.end()
    parts.append(sql.SQL(script[position:]))
    return sql.Composed(parts)


def grant_readonly(settings: WarehouseSettings, role: ReadonlyRole, project_dir: Path) -> list[str]:
    """Create or update `role` so it can read the marts schema, now and after every rebuild; idempotent.

    Runs as the configured Postgres user, which must be the one that runs dbt (its default privileges
    are what reach tables created later) and must be allowed to create roles. Returns the server's other
    databases the role can still connect to, through PUBLIC's CONNECT, which only their owners can revoke.
    """
    if settings.target != "postgres":
        raise ConfigError(f"grant-readonly sets up a Postgres role; DBT_TARGET is {settings.target!r}")
    script = compose_psql((project_dir / READONLY_SCRIPT).read_text(), {"reader": role.name, "password": role.password})
    try:
        with psycopg.connect(**settings.postgres, autocommit=True) as connection:
            connection.execute(script)
            others = connection.execute(
                "select datname from pg_database where datallowconn and datname <> current_database() "
                "and has_database_privilege(%s, datname, 'CONNECT') order by 1",
                [role.name],
            ).fetchall()
    except psycopg.Error as error:
        raise WarehouseError(
            f"Cannot set up the read-only role {role.name!r} on {settings.describe()}: {str(error).strip()}"
        ) from error
    return [name for (name,) in others]
