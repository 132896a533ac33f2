"""Provisioning sync: make Slurm hold what the awards say (see aisc.slurm.plan).

``sync(ctx, commands, dry_run=True)`` only reports the changes. Otherwise each change is run in
order; one that fails is reported with Slurm's words and the others still run, so a second sync
retries only what is left. The changes made are written to the audit trail as one event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aisc.access import authorize
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.slurm.commands import SlurmCommands
from aisc.slurm.desired import desired_state
from aisc.slurm.plan import PREFIX, Change, Desired, plan, read_actual
from aisc.slurm.schemas import ChangeRead, FailureRead, SyncRead
from aisc.slurm.types import SlurmRefused, SlurmUnavailable, is_connection_error


@dataclass
class SyncResult:
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    desired: Desired = field(default_factory=Desired)

    def read(self) -> SyncRead:
        applied = {id(c) for c in self.applied}
        return SyncRead(
            dry_run=self.dry_run,
            changes=[
                ChangeRead(
                    action=c.action,
                    target=c.target,
                    detail=c.detail,
                    command=list(c.argv),
                    applied=id(c) in applied,
                )
                for c in self.changes
            ],
            failed=[FailureRead(target=c.target, error=why) for c, why in self.failed],
            notes=self.notes,
        )

    def lines(self) -> list[str]:
        if not self.changes:
            return ["Slurm already matches the platform: no changes"]
        verb = "would" if self.dry_run else "did"
        done = {id(c) for c in self.applied}
        out = []
        for change in self.changes:
            failure = next((why for c, why in self.failed if c is change), None)
            if failure is not None:
                out.append(f"FAILED {change.describe()} ({failure})")
            elif self.dry_run or id(change) in done:
                out.append(f"{verb} {change.describe()}")
        return out


def sync(
    ctx: Ctx, commands: SlurmCommands, *, dry_run: bool = False, prefix: str = PREFIX
) -> SyncResult:
    authorize(ctx, "cluster.provision")
    if dry_run:
        # Binding dedicated nodes writes to the database: a dry run must leave it as it was.
        savepoint = ctx.db.begin_nested()
        desired = desired_state(ctx, prefix=prefix)
        savepoint.rollback()
    else:
        desired = desired_state(ctx, prefix=prefix)
    actual = read_actual(commands, prefix)
    result = SyncResult(dry_run=dry_run, desired=desired, notes=list(desired.notes))
    result.changes = plan(desired, actual, int(ctx.now.timestamp()))
    if dry_run:
        return result
    for change in result.changes:
        try:
            commands.apply(change.argv)
        except (SlurmRefused, SlurmUnavailable) as exc:
            result.failed.append((change, exc.message))
            if is_connection_error(exc.message):
                break  # the daemon is gone: the rest would fail the same way
            continue
        result.applied.append(change)
    if result.applied or result.failed:
        record(
            ctx,
            action="slurm.sync",
            object_type="cluster",
            object_id="slurm",
            after={
                "applied": [c.describe() for c in result.applied],
                "failed": [f"{c.describe()}: {why}" for c, why in result.failed],
            },
        )
    return result
