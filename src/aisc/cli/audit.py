from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from aisc.audit import keys, service
from aisc.audit.schemas import AuditEventRead, VerifyRead
from aisc.cli.common import JsonOpt, emit_list, emit_one, fail, state, uow
from aisc.errors import ValidationFailed

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _read_text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{field}: cannot read {path}: {exc}", field=field) from exc


@app.command("verify")
def verify(
    checkpoint: Path = typer.Option(
        None,
        "--checkpoint",
        help="a checkpoint exported by `aisc audit checkpoint`: the event it vouches for must "
        "still be in the chain with the same hash (catches events removed from the end)",
    ),
    public_key: Path = typer.Option(
        None,
        "--public-key",
        help="the public key the checkpoint must be signed with (base64 or PEM; default: this "
        "deployment's signing key)",
    ),
    deep: bool = typer.Option(
        False,
        "--deep",
        help="also compare decisions, awards, ledger entries, invoices and credit notes with "
        "the state their audit events recorded",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Recompute the keyed chain; exit 1 and name the first broken event if it was altered."""
    anchor = service.read_checkpoint(_read_text(checkpoint, "checkpoint")) if checkpoint else None
    key = (
        keys.parse_public_key(_read_text(public_key, "public_key"), field="public_key")
        if public_key
        else None
    )
    with uow() as ctx:
        result = VerifyRead.model_validate(
            service.verify(
                ctx,
                checkpoint=anchor,
                public_key=key,
                deep=deep,
                key_file=state().settings.effective_audit_key_file,
            )
        )
    if as_json:
        emit_one(result, True)
    elif result.ok:
        extra = []
        if result.legacy_events:
            extra.append(f"{result.legacy_events} of them from before the chain was keyed")
        if result.checkpoint_seq is not None:
            extra.append(f"contains the checkpointed event {result.checkpoint_seq}")
        if result.rows_checked is not None:
            extra.append(f"{result.rows_checked} money-bearing rows match their events")
        more = f" ({'; '.join(extra)})" if extra else ""
        typer.echo(f"audit chain intact: {result.events_checked} events verified{more}")
    else:
        where = f"event seq={result.first_bad_seq} id={result.first_bad_id}"
        typer.echo(
            f"audit chain BROKEN at {where}: {result.reason} "
            f"({result.events_checked} events verified before it)",
            err=True,
        )
        for difference in result.differences:
            typer.echo(
                f"  {difference.object_type} {difference.object_id}: {difference.problem}",
                err=True,
            )
    if not result.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(
    out: Path = typer.Option(
        None, "--out", help="write the checkpoint to this file (default: print it)"
    ),
) -> None:
    """Export a signed head of the verified chain, for safekeeping outside the platform."""
    with uow() as ctx:
        signed = service.checkpoint(ctx, key_file=state().settings.effective_audit_key_file)
    text = json.dumps(signed.to_dict(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(ValidationFailed(f"--out: cannot write {out}: {exc.strerror}", field="out"))
    typer.echo(
        f"checkpoint of event {signed.seq} ({signed.count} events) written to {out}; "
        f"signed by public key {signed.public_key}",
        err=True,
    )


@app.command("rotate-key")
def rotate_key() -> None:
    """Add a new current key for chaining events; older keys stay to verify older events."""
    path = state().settings.effective_audit_key_file
    try:
        with uow() as ctx:
            key = service.rotate_key(ctx, key_file=path)
    except OSError as exc:
        fail(ValidationFailed(f"cannot write the audit key file {path}: {exc}", field="key"))
    typer.echo(f"audit key {key.id} is now current in {path}; keep the file's older keys")


@app.command("list")
def list_events(
    actor: str = typer.Option(None, help="who acted, e.g. person:12 or system"),
    action: str = typer.Option(
        None, "--action", help="what was done, e.g. invoice.issue or ledger.commitment"
    ),
    object_type: str = typer.Option(None),
    object_id: str = typer.Option(None),
    since: datetime = typer.Option(None, help="ISO time, UTC if no zone"),
    until: datetime = typer.Option(None, help="ISO time, UTC if no zone"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """List audit events, oldest first, filtered by actor, action, object and time."""
    with uow() as ctx:
        rows = service.list_events(
            ctx,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        emit_list(
            [AuditEventRead.model_validate(e) for e in rows],
            ["seq", "at", "actor", "action", "object_type", "object_id"],
            as_json,
        )
