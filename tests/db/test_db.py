from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from aisc.db.engine import make_engine
from aisc.db.metadata import metadata
from aisc.db.migrate import current_revision, head_revision
from aisc.settings import Settings


def test_migrations_produce_exactly_the_models_schema(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_settings_default_to_a_sqlite_file_and_accept_postgres_urls(tmp_path):
    assert Settings(data_dir=tmp_path).effective_database_url == f"sqlite:///{tmp_path}/aisc.db"
    url = Settings(database_url="postgresql://u@h/db").effective_database_url
    assert url == "postgresql+psycopg://u@h/db"


def test_db_upgrade_command_migrates_and_loads_the_gpu_catalogue(tmp_path, cli_at):
    cli = cli_at(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert "(empty database)" in cli("db", "current").output
    assert f"revision {head_revision()}" in cli("db", "upgrade").output
    assert cli("db", "current").output.strip() == head_revision()
    assert "H800-SXM5-80GB" in cli("gpu", "list").output
