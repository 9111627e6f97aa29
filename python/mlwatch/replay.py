"""A step's dbt invocation run as the SQL dbt ran for it last time, without starting dbt, while dbt would run the same.

Why: starting dbt costs a process ~2.4 s (import and parse) and dbt's Python ~40 ms per node, more than the SQL
itself: the marts' build sends ~280 statements that take 0.4 s on DuckDB, in a 3 s dbt build. A step's invocations
repeat (the same selector, project, vars and environment), and on DuckDB and Postgres dbt is a client that sends SQL.

Why the replay is what dbt would do: the statements dbt sends are decided by its inputs (the project's and the
profile's files, the command's arguments, the vars, the environment variables the files read, dbt's and the adapter's
versions: the plan's key) and by the results of the queries it reads (the relation cache, column look-ups, the
`run_query`s of macros, every data test's verdict). A recorded invocation keeps every statement in order, per dbt
connection, with the rows dbt fetched from it, and when it rolled back or closed each connection. A replay opens
connections as dbt does (one DuckDB cursor or one psycopg2 connection, not autocommitting, per dbt connection), runs
the statements and compares every fetched result with the recorded one. At the first difference (a relation dropped,
a test failing, a seed's columns changed) or error, it rolls back what is open and the caller runs dbt, which records
the invocation again: what ran until then is what dbt would have run until then.

A run that found relations other than the recorded ones (the first after a load, a full refresh that creates the
engine's tables, a relation dropped by hand, views Postgres dropped with a table rebuilt under them) runs dbt. Its
recording is kept only if dbt left the relations as it found them (`steady`): a run that created or dropped some
starts from a state the next run will not find, and the plan recorded before it may apply again.

What dbt sends must not hold a value that differs from run to run to some effect: dbt-postgres names indexes by the
time of the run, so this project lets Postgres name them (macros/warehouse_engine.sql); the timestamped names of its
temporary tables live and die in one session, as in dbt's run.

Only invocations that succeeded with every node passing without warnings, no SQL error caught by dbt and no bound
parameters (seed loads) are kept. A replay writes no dbt log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from mlwatch.built_inputs import project_files
from mlwatch.config import MonitoringConfig
from mlwatch.warehouse import WarehouseSettings

# Bumped when what a plan holds or means changes: older plans are then ignored.
PLAN_FORMAT = 2
# Set to `off`, steps run dbt every time and record nothing (to compare, or to see dbt's own log of every run).
SWITCH = "MLWATCH_DBT_REPLAY"
TARGETS = ("duckdb", "postgres")
_ENV_VAR = re.compile(r"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")


def _plain(value: Any) -> Any:
    """A fetched value as JSON, the same whether it was just fetched or read back from a plan."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # NaN and infinities too
    return f"{type(value).__name__}:{value}"


# Postgres's namespaces of temporary tables, pg_temp_<n> and pg_toast_temp_<n>, appear when a new server process
# first creates one (dbt-postgres's incremental models do). dbt lists the schemas only to create its own, never these.
_TEMPORARY_NAMESPACE = re.compile(r"pg_(toast_)?temp_\d+")


def _rows(rows: Any) -> list[Any]:
    """Rows in an order of their own (dbt's metadata queries, the relation cache's, have no `order by`), without
    Postgres's temporary namespaces."""
    if rows is None:
        return [None]
    listed = [
        list(map(_plain, row))
        for row in (rows if isinstance(rows, list) else [rows])
        if not (len(row) == 1 and isinstance(row[0], str) and _TEMPORARY_NAMESPACE.fullmatch(row[0]))
    ]
    return sorted(listed, key=lambda row: json.dumps(row))


@dataclass
class Plan:
    """Where an invocation's recording is kept, and the key it must match to be replayed."""

    path: Path
    key: str

    @classmethod
    def of(
        cls, config: MonitoringConfig, settings: WarehouseSettings, args: list[str], env: dict[str, str]
    ) -> Plan | None:
        """The plan of this invocation, or None where dbt must run (Spark: dbt-spark runs the SQL in its JVM)."""
        if settings.target not in TARGETS or os.environ.get(SWITCH, "on") == "off":
            return None
        files = [*project_files(config.project_dir), *sorted((config.project_dir / "profiles").glob("*.yml"))]
        digest = hashlib.sha256()
        referenced: set[str] = set()
        for path in files:
            content = path.read_bytes()
            referenced.update(_ENV_VAR.findall(content.decode(errors="replace")))
            digest.update(str(path.relative_to(config.project_dir)).encode() + b"\0" + content + b"\0")
        environment = {**os.environ, **settings.dbt_env(), **env}
        adapter = f"dbt-{settings.target}"
        digest.update(
            json.dumps(
                {
                    "format": PLAN_FORMAT,
                    "args": args,
                    "vars": config.overrides,
                    "environment": {name: environment.get(name) for name in sorted(referenced)},
                    "versions": [package_version(name) for name in ("dbt-core", "dbt-adapters", adapter)],
                },
                sort_keys=True,
            ).encode()
        )
        # One plan per command and warehouse: a run with other project files, vars or versions replaces it.
        slot = hashlib.sha256(json.dumps([args, settings.dbt_env()]).encode()).hexdigest()[:16]
        target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
        directory = (target if target.is_absolute() else config.project_dir / target) / "mlwatch-replay"
        return cls(directory / f"{slot}.json", digest.hexdigest())

    def recorded(self) -> list[dict[str, Any]] | None:
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return stored["events"] if stored.get("key") == self.key else None

    def keep(self, events: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"key": self.key, "events": events}))
        partial.replace(self.path)

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


class _Connections:
    """The replay's connections, one per dbt connection, opened as dbt's adapters open theirs.

    dbt-postgres opens a session per node (~100 for the marts): the replay's are opened ahead, in a thread,
    while the statements run, and each is used once, as dbt's are, so no session state leaks from one to the next.
    """

    def __init__(self, settings: WarehouseSettings, sessions: int) -> None:
        self._open: dict[int, Any] = {}
        self._database: Any = None
        self._fresh: queue.Queue[Any] = queue.Queue()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        if settings.target == "duckdb":
            import duckdb

            self._database = duckdb.connect(str(settings.duckdb_path))
        else:
            import psycopg2  # type: ignore[import-untyped]  # dbt-postgres's driver, as dbt opens its sessions

            def open_sessions() -> None:
                for _ in range(sessions):
                    if self._stopped.is_set():
                        return
                    try:
                        self._fresh.put(psycopg2.connect(**settings.postgres))
                    except Exception as error:  # the replay stops on it where it needs the session
                        self._fresh.put(error)
                        return

            threading.Thread(target=open_sessions, daemon=True, name="replay-sessions").start()

    def get(self, number: int) -> Any:
        if number not in self._open:
            if self._database is not None:
                with self._lock:
                    self._open[number] = self._database.cursor()
            else:
                session = self._fresh.get()
                if isinstance(session, Exception):
                    raise session
                self._open[number] = session
        return self._open[number]

    def cursor(self, number: int) -> Any:
        handle = self.get(number)
        return handle if self._database is not None else handle.cursor()

    def rollback(self, number: int) -> None:
        # As dbt's `_rollback_handle`: DuckDB refuses a rollback outside a transaction, which dbt ignores too.
        if number in self._open:
            with contextlib.suppress(Exception):
                self._open[number].rollback()

    def close(self, number: int) -> None:
        handle = self._open.pop(number, None)
        if handle is not None:
            handle.close()

    def close_all(self, roll_back: bool) -> None:
        self._stopped.set()
        for number in list(self._open):
            if roll_back:
                self.rollback(number)
            with contextlib.suppress(Exception):
                self.close(number)
        if self._database is not None:
            self._database.close()
        while not self._fresh.empty():  # left when the replay stopped early
            with contextlib.suppress(Exception):
                self._fresh.get_nowait().close()


# dbt's query comment on the statements that list schemas and relations (its relation cache).
_LISTING = re.compile(r'"connection_name": "list_')


def steady(settings: WarehouseSettings, events: list[dict[str, Any]]) -> bool:
    """Whether the relations dbt listed before its run are still what it would list now: its listings, run again."""
    listings = [event for event in events if event["kind"] == "query" and _LISTING.search(event["sql"])]
    connections = _Connections(settings, len(listings))
    try:
        for number, event in enumerate(listings):
            _run(connections, {**event, "connection": number}, number, len(listings))
    except Exception:  # a listing that differs or fails: the run changed the relations
        return False
    finally:
        connections.close_all(roll_back=True)
    return True


def _fetch(cursor: Any, how: str, limit: int | None) -> Any:
    if how == "one":
        return cursor.fetchone()
    return cursor.fetchmany(limit) if how == "many" else cursor.fetchall()


def _sessions(events: list[dict[str, Any]]) -> int:
    """How many connections dbt opened: one at each statement on a connection not open since it was closed."""
    opened, count = set(), 0
    for event in events:
        if event["kind"] == "query" and event["connection"] not in opened:
            opened.add(event["connection"])
            count += 1
        elif event["kind"] == "close":
            opened.discard(event["connection"])
    return count


def _run(connections: _Connections, event: dict[str, Any], number: int, total: int) -> None:
    connection = event["connection"]
    if event["kind"] == "rollback":
        connections.rollback(connection)
    elif event["kind"] == "close":
        connections.close(connection)
    else:
        cursor = connections.cursor(connection)
        cursor.execute(event["sql"])
        for how, limit, columns, rows in event["fetches"]:
            got = _fetch(cursor, how, limit)
            names = [column[0] for column in cursor.description or []]
            if names != columns or _rows(got) != rows:
                raise _Differs(f"statement {number + 1} of {total} fetched other rows than recorded")


def replay(settings: WarehouseSettings, events: list[dict[str, Any]]) -> str | None:
    """Run the recorded statements; None when all ran with the recorded results, else why the replay stopped.

    As concurrently as dbt ran them (its threads): each connection's events in order, in a thread of its own, and
    each event only once every event that had ended before it started, when dbt ran, has ended (`after`): dbt
    starts a node when its parents are done, so their statements are among those.
    """
    connections = _Connections(settings, _sessions(events))
    done = [False] * len(events)
    ended = 0  # events[:ended] are all done
    stopped: list[str] = []
    progress = threading.Condition()

    def run_connection(indices: list[int]) -> None:
        nonlocal ended
        for index in indices:
            with progress:
                progress.wait_for(lambda: stopped or ended >= events[index]["after"])  # noqa: B023
                if stopped:
                    return
            try:
                _run(connections, events[index], index, len(events))
            except Exception as error:  # any difference or error: dbt runs the invocation and reports it
                with progress:
                    stopped.append(str(error) if isinstance(error, _Differs) else f"{type(error).__name__}: {error}")
                    progress.notify_all()
                return
            with progress:
                done[index] = True
                while ended < len(done) and done[ended]:
                    ended += 1
                progress.notify_all()

    streams: dict[int, list[int]] = {}
    for index, event in enumerate(events):
        streams.setdefault(event["connection"], []).append(index)
    threads = [threading.Thread(target=run_connection, args=(indices,), daemon=True) for indices in streams.values()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: the statements under way end with their connections
        with progress:
            stopped.append("interrupted")
            progress.notify_all()
        connections.close_all(roll_back=True)
        raise
    connections.close_all(roll_back=bool(stopped))
    return stopped[0] if stopped else None


class _Differs(Exception):
    pass


class _RecordingCursor:
    """A dbt cursor whose fetches are kept with its statement."""

    def __init__(self, cursor: Any, event: dict[str, Any]) -> None:
        self._cursor = cursor
        self._event = event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def _kept(self, how: str, limit: int | None, rows: Any) -> Any:
        names = [column[0] for column in self._cursor.description or []]
        self._event["fetches"].append([how, limit, names, _rows(rows)])
        return rows

    def fetchall(self) -> Any:
        return self._kept("all", None, self._cursor.fetchall())

    def fetchmany(self, size: int) -> Any:
        return self._kept("many", size, self._cursor.fetchmany(size))

    def fetchone(self) -> Any:
        return self._kept("one", None, self._cursor.fetchone())


@dataclass
class Recording:
    events: list[dict[str, Any]] = field(default_factory=list)
    replayable: bool = True  # False once dbt caught an SQL error or bound parameters


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Record what dbt sends through its SQL adapters (in this process, while the context is open)."""
    from dbt.adapters.base.connections import BaseConnectionManager
    from dbt.adapters.sql.connections import SQLConnectionManager

    kept = Recording()
    lock = threading.Lock()
    numbers: dict[int, int] = {}
    alive: list[Any] = []  # the connections numbered, held so that no other object gets their id()

    def number(connection: Any) -> int:
        with lock:
            if id(connection) not in numbers:
                numbers[id(connection)] = len(numbers)
                alive.append(connection)
            return numbers[id(connection)]

    def event(connection: Any, kind: str, after: int | None = None, **details: Any) -> dict[str, Any]:
        recorded = {"connection": number(connection), "kind": kind, **details}
        with lock:
            # A rollback or close takes no time: every event before it had ended when it started.
            recorded["after"] = len(kept.events) if after is None else after
            kept.events.append(recorded)
        return recorded

    add_query = SQLConnectionManager.add_query
    rollback_handle = BaseConnectionManager.__dict__["_rollback_handle"].__func__
    close_handle = BaseConnectionManager.__dict__["_close_handle"].__func__

    def recorded_add_query(
        self: Any, sql: str, auto_begin: bool = True, bindings: Any = None, *args: Any, **kw: Any
    ) -> tuple[Any, Any]:
        with lock:
            after = len(kept.events)  # the events that have ended before this statement starts
        try:
            connection, cursor = add_query(self, sql, auto_begin, bindings, *args, **kw)
        except BaseException:
            kept.replayable = False
            raise
        if bindings:
            kept.replayable = False
        return connection, _RecordingCursor(cursor, event(connection, "query", after, sql=sql, fetches=[]))

    def recorded_rollback(cls: Any, connection: Any) -> None:
        event(connection, "rollback")
        rollback_handle(cls, connection)

    def recorded_close(cls: Any, connection: Any) -> None:
        event(connection, "close")
        close_handle(cls, connection)

    SQLConnectionManager.add_query = recorded_add_query  # type: ignore[method-assign]
    BaseConnectionManager._rollback_handle = classmethod(recorded_rollback)  # type: ignore[method-assign,assignment]
    BaseConnectionManager._close_handle = classmethod(recorded_close)  # type: ignore[method-assign,assignment]
    try:
        yield kept
    finally:
        SQLConnectionManager.add_query = add_query  # type: ignore[method-assign]
        BaseConnectionManager._rollback_handle = classmethod(rollback_handle)  # type: ignore[method-assign,assignment]
        BaseConnectionManager._close_handle = classmethod(close_handle)  # type: ignore[method-assign,assignment]
