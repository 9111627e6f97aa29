"""One writing step at a time per warehouse: `step_lock(settings, step)`.

- Postgres: a session-level advisory lock (`pg_try_advisory_lock`) on a key derived from the database name,
  held on a dedicated connection for the step's duration. The server releases it when that connection ends,
  also when the process is killed (the kernel closes its socket).
- DuckDB: an exclusive `fcntl.flock` on `<duckdb file>.lock`, next to the DuckDB file. The OS releases it
  when the process ends, however it ends.
- Spark: the same on `<SPARK_WAREHOUSE_DIR>/writer.lock` (its Derby metastore admits one process anyway; the lock
  refuses the second one in one line, where Derby would fail it with a stack trace).

The writing steps (`load`, `metrics`) share one lock per warehouse rather than one per step: both rebuild
overlapping dbt models (everything `int_trips_split` depends on) and write the same raw tables, so a load
running beside a metrics run would be no safer than two metrics runs. A second run is refused at once with
a message naming the holder, before it records anything; `MLWATCH_LOCK_TIMEOUT=<seconds>` makes it wait up
to that long for the lock first (e.g. for a scheduler that may overlap a slow run).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mlwatch.errors import MlwatchError, WarehouseError
from mlwatch.warehouse import WarehouseSettings, connect

LOCK_SCOPE = "mlwatch-writer"
POLL_SECONDS = 0.5


class LockError(MlwatchError):
    """Another writing step holds the warehouse."""


def lock_timeout(env: dict[str, str] | None = None) -> float:
    raw = (os.environ if env is None else env).get("MLWATCH_LOCK_TIMEOUT", "0").strip() or "0"
    try:
        seconds = float(raw)
    except ValueError:
        raise LockError(f"MLWATCH_LOCK_TIMEOUT={raw!r} is not a number of seconds") from None
    if seconds < 0:
        raise LockError(f"MLWATCH_LOCK_TIMEOUT={raw!r} must not be negative")
    return seconds


def advisory_key(database: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, the same for every mlwatch process on `database`."""
    digest = hashlib.sha256(f"{LOCK_SCOPE}:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file(settings: WarehouseSettings) -> Path:
    if settings.target == "spark":
        return settings.spark_dir / "writer.lock"
    return settings.duckdb_path.with_name(settings.duckdb_path.name + ".lock")


def _holder_note(step: str) -> str:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"mlwatch {step} (pid {os.getpid()} on {socket.gethostname()}, since {started})"


def _refusal(settings: WarehouseSettings, step: str, holder: str, waited: float) -> LockError:
    wait = f" after waiting {waited:.0f} s" if waited else ""
    return LockError(
        f"another mlwatch run is writing to {settings.describe()}: {holder or 'holder unknown'}; "
        f"`{step}` was refused{wait} and wrote nothing. Let the other run finish, or set "
        "MLWATCH_LOCK_TIMEOUT=<seconds> to wait for it."
    )


@contextmanager
def step_lock(settings: WarehouseSettings, step: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock for the body; raise LockError if another run holds it past `timeout`."""
    timeout = lock_timeout() if timeout is None else timeout
    locker = _postgres_lock if settings.target == "postgres" else _file_lock
    with locker(settings, step, timeout):
        yield


@contextmanager
def _file_lock(settings: WarehouseSettings, step: str, timeout: float) -> Iterator[None]:
    path = lock_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= timeout:
                    holder = path.read_text(errors="replace").strip()
                    raise _refusal(settings, step, holder, waited if timeout else 0) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, _holder_note(step).encode(), 0)
        try:
            yield
        finally:
            with suppress(OSError):
                os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


_HOLDER_SQL = """
select a.application_name, a.client_addr, a.backend_start
from pg_locks as l
inner join pg_stat_activity as a on l.pid = a.pid
where
    l.locktype = 'advisory' and l.granted and l.objsubid = 1
    and l.classid = %s::oid and l.objid = %s::oid
    and l.database = (select oid from pg_database where datname = current_database())
"""


@contextmanager
def _postgres_lock(settings: WarehouseSettings, step: str, timeout: float) -> Iterator[None]:
    import psycopg

    connect(settings, create_database=True).close()  # the first load creates the database
    params = settings.postgres
    key = advisory_key(params["dbname"])
    try:
        connection = psycopg.connect(**params, autocommit=True, application_name=_holder_note(step)[:63])
    except psycopg.OperationalError as error:
        raise WarehouseError(f"Cannot connect to {settings.describe()} to take the writer lock: {error}") from error
    try:
        started = time.monotonic()
        while True:
            [(acquired,)] = connection.execute("select pg_try_advisory_lock(%s)", [key]).fetchall()
            if acquired:
                break
            waited = time.monotonic() - started
            if waited >= timeout:
                rows = connection.execute(_HOLDER_SQL, [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF]).fetchall()
                holder = "; ".join(f"{name} (connected from {addr or 'a local socket'})" for name, addr, _ in rows)
                raise _refusal(settings, step, holder, waited if timeout else 0)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with suppress(psycopg.Error):
                connection.execute("select pg_advisory_unlock(%s)", [key])
    finally:
        connection.close()  # also releases the lock if the unlock above could not run
