"""Backups of a deployment, and restoring one (``aisc backup``, ``aisc restore``).

A backup is a directory:

- ``database.sqlite`` (SQLite's online backup API: a consistent copy while the server keeps
  running and writing) or ``database.pgdump`` (``pg_dump`` in its custom format, without owners
  or privileges, so it restores into a database of another role);
- ``files/data/...``: the data directory (the mail file and whatever else the platform keeps
  there), without the database file itself, the audit keys, and the job directories below;
- ``files/runs/...`` and ``files/slurm-jobs/...``: the job directories and their logs (local
  executor, Slurm);
- ``files/audit-key/...``: the audit trail's key file and its signing key, only when asked for
  (``include_audit_key``). The key is a secret kept outside the database by design, so that a
  copy of the database alone cannot be used to forge the chain: a backup that holds both must be
  guarded like the key. Without it, the key must be restored from where the operator keeps it;
  the manifest names the keys the chain needs so that a restore can say when one is missing;
- ``manifest.json``: the schema revision, the database kind, the time, the aisc version, where
  each set of files came from, and every file's size and SHA-256 (computed on the copy written).

``restore_backup`` changes nothing until every check passed: every file's checksum, no file
missing or added, a schema revision this code knows (a newer one is refused), the same kind of
database, and an empty target database (or ``replace``). It then restores the database and the
files and migrates the database to the latest schema, so that a backup made by an older version
restores and upgrades. Passwords never reach a command line: ``pg_dump`` and ``pg_restore`` get
the connection through the ``PG*`` environment variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import URL, make_url

from aisc import __version__
from aisc.audit import keys
from aisc.audit.models import AuditEvent
from aisc.db.engine import WRITE_OPTION, is_sqlite, make_engine
from aisc.db.migrate import current_revision, upgrade
from aisc.errors import Conflict, NotFound, NotReady, ValidationFailed
from aisc.settings import Settings

FORMAT = "aisc-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
FILES = "files"
AUDIT_KEY_SET = "audit-key"
_CHUNK = 1 << 20

# libpq's environment variables for the connection parameters a URL may carry in its query.
_LIBPQ_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupRefused(ValidationFailed):
    """A backup that cannot be restored as it is (altered, incomplete, too new, wrong kind)."""


@dataclass
class BackupReport:
    path: Path
    manifest: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # not plain files, or gone meanwhile

    @property
    def total_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.manifest["files"])


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    revision: str | None
    files_restored: int
    warnings: list[str] = field(default_factory=list)


# --- where things live ---------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: in memory, or not SQLite)."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database).absolute()


def _file_sets(settings: Settings) -> dict[str, Path]:
    """The directories whose files a backup holds, by the name they have inside it."""
    return {
        "data": settings.data_dir.absolute(),
        "runs": settings.effective_run_dir,
        "slurm-jobs": settings.effective_slurm_job_root,
    }


def _key_files(settings: Settings) -> list[Path]:
    key_file = settings.effective_audit_key_file
    return [key_file, keys.signing_key_file(key_file)]


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _walk(root: Path, exclude: list[Path], skipped: list[str]) -> Iterator[Path]:
    """Plain files under ``root``, sorted, leaving out ``exclude`` (files or directories)."""
    if not root.is_dir():
        return
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(d for d in subdirs if not any(_inside(here / d, e) for e in exclude))
        for name in sorted(files):
            path = here / name
            if any(_inside(path, e) for e in exclude):
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(str(path))
                continue
            yield path


def _copy(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to a new ``target`` (0600); the size and SHA-256 of what was written."""
    _make_private_dirs(target.parent)
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
    return size, digest.hexdigest()


def _make_private_dirs(directory: Path) -> None:
    # Every directory made on the way is the platform's alone (mkdir's mode names the last).
    for step in [*reversed(directory.parents), directory]:
        if not step.exists():
            step.mkdir(mode=0o700)


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- PostgreSQL's own tools ------------------------------------------------------------------


def pg_environment(url: URL) -> dict[str, str]:
    """The environment that points libpq's tools at ``url`` (the password in PGPASSWORD)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name, variable in _LIBPQ_ENV.items():
        value = url.query.get(name)
        if value is not None:
            env[variable] = value if isinstance(value, str) else value[-1]
    if url.host:
        env["PGHOST"] = url.host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    if url.database:
        env["PGDATABASE"] = url.database
    return env


def _run_pg_tool(argv: list[str], url: URL, what: str) -> None:
    try:
        done = subprocess.run(argv, env=pg_environment(url), capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise NotReady(
            f"{argv[0]} is not installed: {what} needs PostgreSQL's client tools "
            "(Debian: postgresql-client)",
            field="database",
        ) from exc
    if done.returncode != 0:
        raise NotReady(f"{what} failed ({argv[0]} exited {done.returncode}): {done.stderr.strip()}")


# --- backup ----------------------------------------------------------------------------------


def create_backup(
    settings: Settings, out: Path, *, now: datetime, include_audit_key: bool = False
) -> BackupReport:
    """Write a backup of the deployment described by ``settings`` into the new directory ``out``."""
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"{out} already exists and is not an empty directory", field="out")
    url = settings.effective_database_url
    # Read transactions: on SQLite they wait for no writer (a write one would queue for the lock).
    engine = make_engine(
        url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, pooled=False
    ).execution_options(**{WRITE_OPTION: False})
    try:
        revision = current_revision(engine)
        if revision is None:
            raise NotReady("the database has no aisc schema: nothing to back up", field="database")
        key_ids = _chain_key_ids(engine)
    finally:
        engine.dispose()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    entries: list[dict[str, Any]] = []
    database_path = _sqlite_path(url)
    if is_sqlite(url):
        if database_path is None:
            raise ValidationFailed("an in-memory database cannot be backed up", field="database")
        _sqlite_online_backup(database_path, out / SQLITE_FILE, settings.sqlite_busy_timeout_ms)
        kind, database_file = "sqlite", SQLITE_FILE
    else:
        target = out / PG_FILE
        _run_pg_tool(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={target}",
            ],
            make_url(url),
            "the database dump",
        )
        os.chmod(target, 0o600)
        kind, database_file = "postgresql", PG_FILE
    size, sha = _digest(out / database_file)
    entries.append({"path": database_file, "size": size, "sha256": sha})

    sets = _file_sets(settings)
    key_files = _key_files(settings)
    database_files = (
        [Path(f"{database_path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
        if database_path
        else []
    )
    skipped: list[str] = []
    for name, root in sets.items():
        # Each file belongs to one set: the nested job directories are not copied twice.
        exclude = [out, *database_files, *key_files]
        exclude += [d for d in sets.values() if d != root and _inside(d, root)]
        for source in _walk(root, exclude, skipped):
            inside = Path(FILES, name, source.relative_to(root))
            try:
                mode = source.stat().st_mode & 0o777
                size, sha = _copy(source, out / inside)
            except FileNotFoundError:  # removed while the backup ran (a job's scratch file)
                (out / inside).unlink(missing_ok=True)
                skipped.append(f"{source} (removed while it was copied)")
                continue
            entries.append({"path": inside.as_posix(), "size": size, "sha256": sha, "mode": mode})
    if include_audit_key:
        for source in key_files:
            if source.is_file():
                inside = Path(FILES, AUDIT_KEY_SET, source.name)
                size, sha = _copy(source, out / inside)
                entries.append({"path": inside.as_posix(), "size": size, "sha256": sha})

    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "aisc_version": __version__,
        "schema_revision": revision,
        "database": {"kind": kind, "file": database_file},
        "sources": {name: str(root) for name, root in sets.items()}
        | {AUDIT_KEY_SET: str(settings.effective_audit_key_file)},
        "audit_key_included": include_audit_key,
        "audit_key_ids": key_ids,
        "files": entries,
    }
    manifest_path = out / MANIFEST
    fd = os.open(manifest_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as writer:
        json.dump(manifest, writer, indent=2)
        writer.write("\n")
    return BackupReport(path=out, manifest=manifest, skipped=skipped)


def _sqlite_online_backup(source: Path, target: Path, busy_timeout_ms: int) -> None:
    if not source.is_file():
        raise NotFound(f"the database file {source} does not exist", field="database")
    reader = sqlite3.connect(source, timeout=busy_timeout_ms / 1000)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        writer = sqlite3.connect(target)
        try:
            # One step: the copy is a single snapshot; under WAL the server's writers go on.
            reader.backup(writer)
            # A self-contained file (no -wal beside it), whatever mode the live database uses.
            writer.execute("PRAGMA journal_mode=DELETE")
        finally:
            writer.close()
    finally:
        reader.close()


def _chain_key_ids(engine: Engine) -> list[str]:
    """The ids of the audit keys that chained the events in the database."""
    if "audit_events" not in inspect(engine).get_table_names():
        return []
    if "key_id" not in {c["name"] for c in inspect(engine).get_columns("audit_events")}:
        return []
    with engine.connect() as connection:
        found = connection.execute(
            select(AuditEvent.key_id).where(AuditEvent.key_id.is_not(None)).distinct()
        ).scalars()
        return sorted(str(k) for k in found)


# --- restore ---------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the backup in ``path``, once every file in it matches its checksum."""
    path = path.absolute()
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupRefused(
            f"{path} holds no {MANIFEST}: not an aisc backup", field="backup"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{path / MANIFEST} cannot be read: {exc}", field="backup") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupRefused(
            f"{path / MANIFEST} is not a manifest this aisc reads (format {FORMAT})", field="backup"
        )
    listed: set[str] = set()
    for entry in manifest["files"]:
        name = str(entry["path"])
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise BackupRefused(f"the manifest names a file outside the backup: {name}")
        listed.add(relative.as_posix())
        file = path / relative
        if not file.is_file():
            raise BackupRefused(f"{name} is missing from the backup", field="backup")
        size, sha = _digest(file)
        if size != entry["size"] or sha != entry["sha256"]:
            raise BackupRefused(
                f"{name} does not match its checksum in the manifest (altered or damaged)",
                field="backup",
            )
    for file in _walk(path, [path / MANIFEST], []):
        if file.relative_to(path).as_posix() not in listed:
            raise BackupRefused(
                f"{file.relative_to(path)} is in the backup but not in its manifest",
                field="backup",
            )
    return manifest


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from aisc.db.migrate import alembic_config

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())


def restore_backup(settings: Settings, path: Path, *, replace: bool = False) -> RestoreReport:
    """Restore the backup in ``path`` into the deployment described by ``settings``."""
    path = path.absolute()
    manifest = read_manifest(path)
    revision = str(manifest["schema_revision"])
    if not _known_revision(revision):
        raise BackupRefused(
            f"the backup's schema revision {revision} is newer than this aisc knows (made by aisc "
            f"{manifest.get('aisc_version')}): restore it with that version or a later one",
            field="backup",
        )
    url = settings.effective_database_url
    kind = "sqlite" if is_sqlite(url) else "postgresql"
    if manifest["database"]["kind"] != kind:
        raise BackupRefused(
            f"the backup holds a {manifest['database']['kind']} database, this deployment uses "
            f"{kind}",
            field="backup",
        )
    database_path = _sqlite_path(url)
    if kind == "sqlite" and database_path is None:
        raise ValidationFailed("cannot restore into an in-memory database", field="database")
    # SQLite: an absent file is an empty database, and looking must not create it.
    if kind == "postgresql" or (database_path is not None and database_path.exists()):
        engine = make_engine(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, pooled=False)
        try:
            occupied = _has_tables(engine)
        finally:
            engine.dispose()
        if occupied and not replace:
            raise Conflict(
                "the target database is not empty: restore into an empty one, or give --replace "
                "to replace what it holds",
                field="database",
            )
    plan = _file_plan(settings, path, manifest)
    if not replace:
        clashes = [str(t) for s, t, _ in plan if t.exists() and _differs(s, t)]
        if clashes:
            raise Conflict(
                f"{len(clashes)} files would be overwritten (e.g. {clashes[0]}): give "
                "--replace to overwrite them",
                field="files",
            )
    # Every check passed: from here on the deployment changes.
    database_file = path / manifest["database"]["file"]
    if kind == "sqlite":
        assert database_path is not None
        _sqlite_restore(database_file, database_path, settings.sqlite_busy_timeout_ms)
    else:
        engine = make_engine(url, pooled=False)
        try:
            _drop_tables(engine)
        finally:
            engine.dispose()
        _run_pg_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={make_url(url).database}",
                str(database_file),
            ],
            make_url(url),
            "the database restore",
        )
    restored = 0
    for source, target, mode in plan:
        if not _differs(source, target):
            continue
        if target.exists() and target in _key_files(settings):
            # Never lose a key: whatever it chained elsewhere may need it.
            target.rename(target.with_name(f"{target.name}.before-restore"))
        _copy(source, target)
        if mode is not None:
            os.chmod(target, mode)
        restored += 1
    engine = make_engine(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, pooled=False)
    try:
        upgrade(engine)
        warnings = _warnings(settings, manifest, engine)
        return RestoreReport(
            manifest=manifest,
            revision=current_revision(engine),
            files_restored=restored,
            warnings=warnings,
        )
    finally:
        engine.dispose()


def _file_plan(
    settings: Settings, path: Path, manifest: dict[str, Any]
) -> list[tuple[Path, Path, int | None]]:
    """(file in the backup, where it goes, its mode) for every stored file."""
    sets = _file_sets(settings)
    source_key = Path(manifest["sources"][AUDIT_KEY_SET]).name
    key_file = settings.effective_audit_key_file
    plan: list[tuple[Path, Path, int | None]] = []
    for entry in manifest["files"]:
        parts = Path(entry["path"]).parts
        if parts[0] != FILES:
            continue
        name, rest = parts[1], Path(*parts[2:])
        if name == AUDIT_KEY_SET:
            # The key goes where this deployment keeps its key; the signing key beside it.
            target = key_file if rest.name == source_key else keys.signing_key_file(key_file)
            plan.append((path / entry["path"], target, 0o600))
        elif name in sets:
            plan.append((path / entry["path"], sets[name] / rest, entry.get("mode")))
        else:
            raise BackupRefused(f"the backup holds files of an unknown kind: {entry['path']}")
    return plan


def _differs(source: Path, target: Path) -> bool:
    if not target.exists():
        return True
    return not target.is_file() or _digest(source) != _digest(target)


def _sqlite_restore(source: Path, target: Path, busy_timeout_ms: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not target.exists():
        os.close(os.open(target, os.O_RDWR | os.O_CREAT, 0o600))
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(target, timeout=busy_timeout_ms / 1000)
        try:
            # The backup API replaces the target's pages in one transaction.
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()


def _drop_tables(engine: Engine) -> None:
    """Empty the target PostgreSQL schema of aisc's tables (``--replace``)."""
    names = inspect(engine).get_table_names()
    if not names:
        return
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as connection:
        connection.execute(
            text("DROP TABLE IF EXISTS " + ", ".join(preparer.quote(n) for n in names) + " CASCADE")
        )


def _warnings(settings: Settings, manifest: dict[str, Any], engine: Engine) -> list[str]:
    out = []
    needed = set(_chain_key_ids(engine))
    key_file = settings.effective_audit_key_file
    ring = keys.load(key_file)
    held = {k.id for k in ring.keys} if ring is not None else set()
    missing = sorted(needed - held)
    if missing:
        where = f"{key_file} does not hold them" if ring is not None else f"{key_file} is missing"
        out.append(
            f"the audit chain was sealed with keys {', '.join(missing)} and {where}: "
            "`aisc audit verify` fails until the deployment's key file is put back there "
            "(a backup holds it only when made with --include-audit-key)"
        )
    stored = {Path(f["path"]).parts[1] for f in manifest["files"] if f["path"].startswith(FILES)}
    for name, root in _file_sets(settings).items():
        source = manifest["sources"].get(name)
        if name in stored and name != "data" and source and Path(source) != root:
            out.append(
                f"{name}: the backed-up deployment kept these under {source}, this one under "
                f"{root}; jobs' records name the old place for their logs"
            )
    return out
