"""``aisc backup`` and ``aisc restore``: the operator's copies of a deployment (aisc.backup)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from aisc import backup
from aisc.cli.common import state
from aisc.context import utcnow


def backup_cmd(
    out: Path = typer.Option(
        ..., "--out", help="a new (or empty) directory to write the backup into"
    ),
    include_audit_key: bool = typer.Option(
        False,
        "--include-audit-key",
        help="also copy the audit trail's key file and signing key (secrets kept outside the "
        "database by design: guard such a backup like the key itself)",
    ),
) -> None:
    """Back up the database (online: the server keeps running), the data directory and the job
    logs, with a manifest of SHA-256 sums."""
    started = time.monotonic()
    report = backup.create_backup(
        state().settings, out, now=utcnow(), include_audit_key=include_audit_key
    )
    manifest = report.manifest
    for skipped in report.skipped:
        typer.echo(f"warning: left out (not a plain file, or removed): {skipped}", err=True)
    if not include_audit_key and manifest["audit_key_ids"]:
        typer.echo(
            f"note: the audit key file ({manifest['sources']['audit-key']}) is not in the "
            "backup; keep a copy of it apart (or use --include-audit-key)",
            err=True,
        )
    typer.echo(
        f"backup of a {manifest['database']['kind']} database at revision "
        f"{manifest['schema_revision']} and {len(manifest['files']) - 1} files "
        f"({report.total_bytes} bytes) written to {report.path} "
        f"in {time.monotonic() - started:.1f} s"
    )


def restore_cmd(
    path: Path = typer.Argument(..., help="a directory written by `aisc backup`"),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="replace what the target database holds and overwrite files that differ",
    ),
) -> None:
    """Restore a backup after checking every checksum, then migrate to the latest schema.

    Stop the server and the worker first. Nothing is changed when a check fails: an altered or
    missing file, a schema newer than this aisc, or a target database that is not empty
    (without --replace)."""
    started = time.monotonic()
    # Migrating is all it does to the restored data: `aisc serve` and `aisc db upgrade` load
    # the GPU catalogue, once the operator has put the audit key back if it was missing.
    report = backup.restore_backup(state().settings, path, replace=replace)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    manifest = report.manifest
    typer.echo(
        f"restored the backup of {manifest['created_at']} (revision "
        f"{manifest['schema_revision']}, {report.files_restored} files written); database now "
        f"at revision {report.revision}, in {time.monotonic() - started:.1f} s"
    )
