"""Engine and session factories: SQLite by default, PostgreSQL by URL.

Transactions come in two flavours, chosen by the edge that opens them
(``transaction(factory, write=...)``):

- **write** (the default: every API request that is not a GET, portal form posts, CLI commands,
  the scheduling loop, the demo): on SQLite the transaction starts with ``BEGIN IMMEDIATE``, so
  writers queue on the database lock (bounded by ``busy_timeout``) instead of failing late with
  a stale snapshot, which is what makes read-then-write rules such as the fund check safe on
  SQLite. PostgreSQL gets the same guarantee from row locks (``SELECT ... FOR UPDATE`` on the
  scheme row) taken by the services that need them.
- **read** (GET requests, resolving the caller's session or token, portal pages, ``/metrics``):
  a deferred ``BEGIN`` on SQLite, which takes no write lock, so a reader never waits behind a
  writer (WAL gives it the last committed snapshot). A read transaction is read-only on both
  databases (SQLite's ``PRAGMA query_only``, PostgreSQL's ``SET TRANSACTION READ ONLY``): a
  write inside one fails loudly instead of silently upgrading to the write lock half-way (which
  on SQLite can fail with "database is locked" whatever ``busy_timeout`` says). Work that must
  write while serving a GET (the OIDC callback starting a session) asks for a write
  transaction explicitly.

On a SQLite file, write transactions opened through ``transaction`` also queue at a writer gate
(``WriterGate``: a lock per process and a ``flock`` on a file beside the database shared by every
process) before ``BEGIN IMMEDIATE``. SQLite's own wait for its write lock is a busy handler that
sleeps in growing steps (up to 100 ms a try) and wakes in no order, so under many concurrent
writers the lock sits free while they sleep and a few of them wait seconds; at the gate a waiter
gets its turn as soon as the previous writer ends. The gate only orders writers: SQLite's lock
still decides, with ``busy_timeout`` as before, for writers that do not pass the gate (another
tool on the same file, a nested transaction) and for a gate not obtained within the timeout.

Keep write transactions short and free of slow work: password hashing, network calls and
anything else that takes time happens between transactions (see ``aisc.accounts.signin``).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from aisc.errors import Conflict
from aisc.settings import Settings

# The connection execution option that says which flavour a transaction is (see above).
WRITE_OPTION = "aisc_write"


class WriterGate:
    """Write transactions on one SQLite file take turns: one thread per process waits on the
    file lock, the others on the process's lock (see the module docstring)."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._depth = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the gate for the block; re-entered by the same thread it lets it through (a
        nested write then waits on SQLite's lock, as it always did)."""
        if getattr(self._depth, "n", 0):
            yield
            return
        deadline = time.monotonic() + self.timeout_s
        if not self._lock.acquire(timeout=self.timeout_s):
            yield  # the gate is stuck: SQLite's lock and busy_timeout decide alone
            return
        fd = -1
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        fd = -1
                        break
                    # Only this process's first waiter polls, at most every 2 ms.
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
            self._depth.n = 1
            yield
        finally:
            self._depth.n = 0
            if fd >= 0:
                os.close(fd)  # releases the flock
            self._lock.release()


# The gate of each SQLite file engine (``make_engine``); other engines have none.
_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()


def writer_gate(engine: Engine) -> WriterGate | None:
    return _GATES.get(engine)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False, pooled: bool = True
) -> Engine:
    """Create an engine for ``url`` with the pragmas / pool settings aisc relies on.

    ``pooled=False`` (short-lived processes such as one CLI command) closes each connection
    when it is released instead of keeping a pool.
    """
    pool_args: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            # Readable by the platform alone: a new data directory is 0700, the file 0600
            # (SQLite gives its -wal and -shm files the same mode).
            Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(database, 0o600)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **pool_args,
        )
        _install_sqlite_hooks(engine, busy_timeout_ms)
        if database and database != ":memory:":
            _GATES[engine] = WriterGate(Path(f"{database}-writer"), busy_timeout_ms / 1000)
        return engine
    if pooled:
        pool_args = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
    engine = create_engine(url, echo=echo, **pool_args)
    _install_postgresql_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, True)
        # query_only is a property of the connection, not the transaction: set it each time
        # it changes (pooled connections serve both flavours).
        if connection.info.get(WRITE_OPTION, True) != write:
            connection.exec_driver_sql(f"PRAGMA query_only={'OFF' if write else 'ON'}")
            connection.info[WRITE_OPTION] = write
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _install_postgresql_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, True)
        driver = connection.connection.dbapi_connection
        # psycopg begins the transaction itself, with the first statement: told beforehand, it
        # sends BEGIN READ ONLY (no statement of its own, no round trip). Other drivers, or a
        # driver connection already in a transaction, get SET TRANSACTION READ ONLY as before.
        if hasattr(driver, "read_only") and _idle(driver):
            if driver.read_only != (not write):
                driver.read_only = not write
        elif not write:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _idle(driver: Any) -> bool:
    """A psycopg connection that is in no transaction (its ``read_only`` may be set)."""
    info = getattr(driver, "info", None)
    return info is not None and int(info.transaction_status) == 0  # TransactionStatus.IDLE


def engine_from_settings(settings: Settings, *, pooled: bool = True) -> Engine:
    return make_engine(
        settings.effective_database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pooled=pooled,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: edges serialise results after the commit that made them.
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    ``write=False`` opens a read transaction: no write lock on SQLite, and any write in it
    fails (see the module docstring).

    A uniqueness or reference the database refuses (the services check first, so this is a
    concurrent writer or a case a check did not foresee) becomes a Conflict: a 409 or exit 4
    that says nothing was saved, never a server error.
    """
    bind = factory.kw.get("bind")
    gate = writer_gate(bind) if write and isinstance(bind, Engine) else None
    with gate.turn() if gate is not None else _no_gate():
        session = factory()
        try:
            # Begin now, with the flavour on the connection, before anything runs in it.
            session.connection(execution_options={WRITE_OPTION: write})
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise Conflict(
                "the change conflicts with a record already saved (a duplicate, or one saved at "
                "the same moment); nothing was saved"
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def _no_gate() -> Iterator[None]:
    yield
