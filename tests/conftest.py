"""Fixtures: every test gets its own database, on SQLite and (when enabled) PostgreSQL.

Set ``AISC_TEST_POSTGRES_URL`` to run every database test on PostgreSQL as well; CI sets it.
When it is set and the server cannot be reached, those tests fail instead of skipping. Under
pytest-xdist (``make test`` runs ``-n auto``) each worker gets a database of its own beside the
one named, ``<name>_gw0``, ``<name>_gw1``...

The suite also checks its own coverage of the interfaces: when the whole suite runs, every API
route and every CLI command must have been exercised by some test, or the run fails (under
xdist the workers report what they exercised and the controller checks the union).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from typer.testing import CliRunner

from aisc.access import SYSTEM
from aisc.accounts import auth
from aisc.app import API_PREFIX, create_app
from aisc.cli.main import app as cli_app
from aisc.context import Ctx
from aisc.db.engine import make_engine, make_sessionmaker, transaction
from aisc.db.metadata import metadata
from aisc.db.migrate import upgrade
from aisc.executors import sandbox
from aisc.http import get_principal

POSTGRES_URL = os.environ.get("AISC_TEST_POSTGRES_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])

ROUTES_HIT: set[tuple[str, str]] = set()
COMMANDS_RUN: set[str] = set()


class Clock:
    """A clock tests can move; services see only what it says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(autouse=True)
def _data_dir_per_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test's application writes by default (job runs, mail) stays in its own folder."""
    monkeypatch.setenv("AISC_DATA_DIR", str(tmp_path / "var"))


@pytest.fixture(autouse=True)
def _job_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs run sandboxed where the machine allows it (root with Bubblewrap, as in CI);
    elsewhere the suite chooses the development mode explicitly, as an operator would."""
    if sandbox.unavailable() and os.environ.get("AISC_TEST_ISOLATION") != "1":
        monkeypatch.setenv("AISC_JOB_ISOLATION", "none")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the main file
    return path


# The production hasher, kept for the test that checks its cost.
PRODUCTION_HASHER = auth._hasher


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id at its lowest cost: the suite signs people in thousands of times.

    The production parameters make each hash and each check take about 0.2 s by design; the
    code path and the stored format stay the same (tests/accounts/test_auth.py checks the
    production parameters). Servers started as subprocesses keep the production cost.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


def database_beside(url: str, suffix: str) -> str:
    """The URL of the PostgreSQL database `<name>_<suffix>` beside `url` (created if missing)."""
    base = make_url(url)
    name = f"{base.database}_{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _worker_database(url: str) -> str:
    """The URL of this xdist worker's own database beside ``url`` (created if missing)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return database_beside(url, worker) if worker else url


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("AISC_TEST_POSTGRES_URL is not set")
    try:
        engine = make_engine(_worker_database(POSTGRES_URL))
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # the variable is set, so a missing server is a failure
        pytest.fail(f"PostgreSQL at AISC_TEST_POSTGRES_URL is not reachable: {exc}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "aisc.db"
        shutil.copy(sqlite_template, path)
        wal = Path(f"{sqlite_template}-wal")
        if wal.exists():
            shutil.copy(wal, Path(f"{path}-wal"))
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        pg = request.getfixturevalue("postgres_engine")
        _truncate(pg)
        yield pg


@pytest.fixture
def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def uow(engine: Engine, clock: Clock) -> Callable[..., Any]:
    """``with uow() as ctx:`` runs service code in one committed transaction."""
    factory = make_sessionmaker(engine)

    @contextmanager
    def _uow(actor: str = "test") -> Iterator[Ctx]:
        with transaction(factory) as session:
            yield Ctx(db=session, now=clock(), actor=actor)

    return _uow


@pytest.fixture
def client(engine: Engine, clock: Clock) -> Iterator[TestClient]:
    """The API acting with every right (as the CLI does): for tests of what the API does.

    Who may do it is tested with real sign-ins and tokens (tests/accounts/test_access.py).
    """
    app = create_app(engine=engine, clock=clock)
    app.dependency_overrides[get_principal] = lambda: SYSTEM
    yield from _serve(app)


@pytest.fixture
def api(engine: Engine, clock: Clock) -> Iterator[TestClient]:
    """The API as the world sees it: requests carry their own credentials (or none)."""
    yield from _serve(create_app(engine=engine, clock=clock), base_url="https://testserver")


def _serve(app: Any, base_url: str = "http://testserver") -> Iterator[TestClient]:

    @app.middleware("http")
    async def _remember_route(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        route = request.scope.get("route")
        if route is not None:
            # The route knows its router's prefix, not the one it was included under.
            path = route.path if route.path.startswith(API_PREFIX) else API_PREFIX + route.path
            ROUTES_HIT.add((request.method, path))
        return response

    with TestClient(app, base_url=base_url) as test_client:
        yield test_client


class Cli:
    """Runs ``aisc`` in-process against the test database."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int | None = 0, input: str | None = None) -> Any:
        result = self.runner.invoke(
            cli_app,
            ["--database-url", self.database_url, *args],
            catch_exceptions=False,
            input=input,
        )
        COMMANDS_RUN.add(" ".join(a for a in args[:2] if not a.startswith("-")))
        if expect is not None:
            assert result.exit_code == expect, (
                f"aisc {' '.join(args)} exited {result.exit_code}, expected {expect}:\n"
                f"{result.output}"
            )
        return result


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


@pytest.fixture
def cli_at() -> Callable[[str], Cli]:
    """A CLI on a database URL of the test's choosing (e.g. a fresh file)."""
    return Cli


def all_routes() -> set[tuple[str, str]]:
    """Every operation of the public API, as the OpenAPI document lists them."""
    app = create_app(engine=make_engine("sqlite://"))
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def all_commands() -> set[str]:
    import typer.main

    root = typer.main.get_command(cli_app)
    names = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        if sub:
            names.update(f"{name} {child}" for child in sub)
        else:
            names.add(name)
    return names


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: add what a worker exercised to the union the guard checks."""
    output = getattr(node, "workeroutput", {})
    ROUTES_HIT.update((method, path) for method, path in output.get("routes_hit", []))
    COMMANDS_RUN.update(output.get("commands_run", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a full run in which some route or command was never exercised."""
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller checks the union
        workeroutput["routes_hit"] = sorted(ROUTES_HIT)
        workeroutput["commands_run"] = sorted(COMMANDS_RUN)
        return
    whole_suite = (
        not config.option.keyword
        and not config.option.markexpr
        and all(
            Path(arg).resolve() == (config.rootpath / "tests").resolve()
            for arg in (config.args or ["tests"])
        )
    )
    if not whole_suite or exitstatus != 0 or session.testscollected == 0:
        return
    missing_routes = sorted(all_routes() - ROUTES_HIT)
    missing_commands = sorted(all_commands() - COMMANDS_RUN)
    if missing_routes or missing_commands:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"untested route: {m} {p}" for m, p in missing_routes]
        lines += [f"untested command: aisc {c}" for c in missing_commands]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = 1
