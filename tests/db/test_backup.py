"""`aisc backup` and `aisc restore`: a round trip gives back what the operator saw, on each
backend; a backup that was altered, is incomplete or too new is refused and nothing changes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner

from aisc.backup import pg_environment
from aisc.db.migrate import head_revision
from tests.conftest import Cli
from tests.db.dataset import build, observe


@pytest.fixture
def world(uow, clock):
    return build(uow, clock)


@pytest.fixture
def target(engine, tmp_path) -> Iterator[Cli]:
    """An empty deployment to restore into: a new data directory and a database of its own
    (a new SQLite file, or a new PostgreSQL database beside the test's)."""
    source_url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        yield _deployment(f"sqlite:///{tmp_path / 'restored' / 'aisc.db'}", tmp_path)
        return
    base = make_url(source_url)
    name = f"{base.database}_restore"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _deployment(base.set(database=name).render_as_string(hide_password=False), tmp_path)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _deployment(url: str, tmp_path: Path) -> Cli:
    cli = Cli(url)
    cli.runner = CliRunner(env={"AISC_DATA_DIR": str(tmp_path / "restored")})
    return cli


def _job_log(tmp_path: Path) -> Path:
    log = tmp_path / "var" / "runs" / "job-1" / "0-0.out"
    log.parent.mkdir(parents=True)
    log.write_text("epoch 1 loss 0.42\n")
    return log


def test_a_restored_backup_shows_the_operator_the_same_centre(world, cli, target, tmp_path, engine):
    before = observe(cli)
    _job_log(tmp_path)
    out = tmp_path / "backup"
    made = cli("backup", "--out", str(out), "--include-audit-key")
    assert "written to" in made.output
    manifest = json.loads((out / "manifest.json").read_text())
    stored = {f["path"] for f in manifest["files"]}
    assert manifest["schema_revision"] == head_revision()
    assert manifest["database"]["kind"] == engine.dialect.name
    assert {"files/runs/job-1/0-0.out", "files/audit-key/audit.key"} <= stored
    assert not any(p.startswith("files/data/aisc.db") for p in stored)  # the database is apart

    restored = target("restore", str(out))
    assert "database now at revision" in restored.output
    assert observe(target) == before
    log = tmp_path / "restored" / "runs" / "job-1" / "0-0.out"
    assert log.read_text() == "epoch 1 loss 0.42\n"


def test_without_the_audit_key_the_restore_names_it_and_verify_fails_until_it_is_back(
    world, cli, target, tmp_path
):
    out = tmp_path / "backup"
    cli("backup", "--out", str(out))
    assert not any("audit-key" in f["path"] for f in _manifest(out)["files"])
    restored = target("restore", str(out))
    assert "the audit chain was sealed with keys" in restored.output
    assert "BROKEN" in target("audit", "verify", expect=1).output
    (tmp_path / "restored").mkdir(exist_ok=True)
    for name in ("audit.key", "audit.key.ed25519"):
        shutil.copy(tmp_path / "var" / name, tmp_path / "restored" / name)
    assert "audit chain intact" in target("audit", "verify").output


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _refused(target: Cli, out: Path, says: str, expect: int = 2) -> None:
    result = target("restore", str(out), expect=expect)
    assert says in result.output, result.output


def test_an_altered_incomplete_or_too_new_backup_is_refused_and_nothing_changes(
    world, cli, target, tmp_path
):
    _job_log(tmp_path)
    out = tmp_path / "backup"
    cli("backup", "--out", str(out))
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)

    def fresh() -> Path:
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        return out

    database = out / _manifest(out)["database"]["file"]
    with database.open("r+b") as handle:  # one byte of the database changed
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 1]))
    _refused(target, out, "does not match its checksum")
    (fresh() / "files" / "runs" / "job-1" / "0-0.out").write_text("epoch 1 loss 0.01\n")
    _refused(target, out, "files/runs/job-1/0-0.out does not match its checksum")
    (fresh() / "files" / "runs" / "job-1" / "0-0.out").unlink()
    _refused(target, out, "is missing from the backup")
    (fresh() / "files" / "runs" / "job-1" / "planted.sh").write_text("echo hi\n")
    _refused(target, out, "not in its manifest")
    manifest = _manifest(fresh())
    manifest["schema_revision"] = "9999"
    (out / "manifest.json").write_text(json.dumps(manifest))
    _refused(target, out, "newer than this aisc knows")

    # Nothing of the target was touched: no data directory, no database, no schema.
    assert not (tmp_path / "restored").exists()
    assert target("db", "current").output.strip() == "(empty database)"
    # And a good copy restores.
    target("restore", str(fresh()))


def test_a_database_that_is_not_empty_is_replaced_only_when_asked(world, cli, tmp_path):
    before = observe(cli)
    out = tmp_path / "backup"
    cli("backup", "--out", str(out))
    world.usage(world.pooled, 60, datetime(2025, 5, 2, tzinfo=UTC))
    changed = json.loads(cli("scheme", "stats", "--as-of", "2025-05-10", "--json").output)
    _refused(cli, out, "the target database is not empty", expect=4)
    assert json.loads(cli("scheme", "stats", "--as-of", "2025-05-10", "--json").output) == changed
    cli("restore", "--replace", str(out))
    assert observe(cli) == before


def test_backup_refuses_a_directory_that_holds_something(cli, tmp_path):
    out = tmp_path / "backup"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert "not an empty directory" in cli("backup", "--out", str(out), expect=4).output
    assert (out / "keep.txt").read_text() == "mine"


def test_the_password_reaches_pg_tools_by_environment_only():
    url = make_url("postgresql+psycopg://aisc:s3cr%40t@db.example:6543/centre?sslmode=require")
    env = pg_environment(url)
    assert env["PGPASSWORD"] == "s3cr@t"
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "db.example",
        "6543",
        "aisc",
        "centre",
    )
    assert env["PGSSLMODE"] == "require"


def test_sqlite_is_backed_up_while_a_writer_holds_its_lock(engine, cli, tmp_path):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's online backup")
    assert engine.url.database
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("CREATE TABLE half_done (x INTEGER)")
        cli("backup", "--out", str(tmp_path / "backup"))  # does not wait for the writer
        writer.execute("COMMIT")
    finally:
        writer.close()
    copy = sqlite3.connect(tmp_path / "backup" / "database.sqlite")
    try:
        names = {row[0] for row in copy.execute("SELECT name FROM sqlite_master")}
    finally:
        copy.close()
    assert "audit_events" in names
    assert "half_done" not in names  # the snapshot holds what was committed
