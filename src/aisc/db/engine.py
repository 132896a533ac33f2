"""Engine and session factories: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with foreign keys on, and every transaction starts with
``BEGIN IMMEDIATE``: writers queue on the database lock (bounded by ``busy_timeout``) instead of
failing late with a stale snapshot, which is what makes read-then-write rules such as the fund
check safe on SQLite. PostgreSQL gets the same guarantee from row locks (``SELECT ... FOR UPDATE``
on the scheme row) taken by the services that need them.
"""

from __future__ import annotations

import os
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
        return engine
    if pooled:
        pool_args = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
    return create_engine(url, echo=echo, **pool_args)


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
        connection.exec_driver_sql("BEGIN IMMEDIATE")


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
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    A uniqueness or reference the database refuses (the services check first, so this is a
    concurrent writer or a case a check did not foresee) becomes a Conflict: a 409 or exit 4
    that says nothing was saved, never a server error.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "the change conflicts with a record already saved (a duplicate, or one saved at the "
            "same moment); nothing was saved"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
