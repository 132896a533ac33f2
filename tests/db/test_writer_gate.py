"""SQLite's writers take turns at a gate shared by processes; it only ever orders them."""

import fcntl
import multiprocessing
import os

import pytest
from sqlalchemy import text

from aisc.db.engine import make_engine, make_sessionmaker, transaction, writer_gate


def _hold_gate(path: str, holding: object, release: object) -> None:
    engine = make_engine(f"sqlite:///{path}")
    gate = writer_gate(engine)
    assert gate is not None
    with gate.turn():
        holding.set()  # type: ignore[attr-defined]
        release.wait(60)  # type: ignore[attr-defined]
    engine.dispose()


def _gate_is_free(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_the_gate_is_held_across_processes_and_a_stuck_one_never_blocks_a_write(tmp_path):
    path = tmp_path / "gate.db"
    # The gate waits as long as SQLite's busy timeout, then lets the writer try SQLite's lock.
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=200)
    gate = writer_gate(engine)
    assert gate is not None
    spawn = multiprocessing.get_context("spawn")
    holding, release = spawn.Event(), spawn.Event()
    other = spawn.Process(target=_hold_gate, args=(str(path), holding, release))
    other.start()
    try:
        assert holding.wait(60)
        assert not _gate_is_free(str(gate.path))
        with transaction(make_sessionmaker(engine)) as db:
            db.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        release.set()
        other.join(60)
    assert _gate_is_free(str(gate.path))
    with transaction(make_sessionmaker(engine), write=False) as db:
        assert db.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_a_write_holds_the_gate_until_it_ends_and_a_nested_one_passes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested.db'}")
    gate = writer_gate(engine)
    assert gate is not None
    factory = make_sessionmaker(engine)
    with transaction(factory) as db:
        db.execute(text("CREATE TABLE t (x INTEGER)"))
        assert not _gate_is_free(str(gate.path))
        with gate.turn():  # the same thread again: through (it would wait forever otherwise)
            pass
        with transaction(factory, write=False) as reader:  # readers never wait at the gate
            assert reader.execute(text("SELECT 1")).scalar() == 1
    assert _gate_is_free(str(gate.path))
    with pytest.raises(ZeroDivisionError), transaction(factory):
        raise ZeroDivisionError  # a failed write releases the gate too
    assert _gate_is_free(str(gate.path))
    engine.dispose()


def test_only_sqlite_files_have_a_gate():
    assert writer_gate(make_engine("sqlite://")) is None
    assert writer_gate(make_engine("postgresql+psycopg://u@127.0.0.1/none")) is None
