"""Provisioning sync: make Slurm hold what the awards say (see aisc.slurm.plan).

``sync(ctx, commands, dry_run=True)`` only reports the changes. Otherwise each change is run in
order; one that fails is reported with Slurm's words and the others still run, so a second sync
retries only what is left. The changes made are written to the audit trail as one event.

A sync returns only once Slurm's accounting shows what it did. ``sacctmgr`` exiting 0 is not
enough: with another client writing at once, slurmdbd (22.05) retries a statement that met an
InnoDB deadlock after the deadlock rolled back the statements before it in the same transaction,
and commits the rest; other losses under a concurrent client leave no word in its log.
Either way sacctmgr said "Associations = U = alice A = award-17" and the association is not
there. So after applying, the sync reads Slurm again and plans again: a change it applied that
the new plan still holds is applied again (a few rounds), and one that never shows is
reported as failed, never as done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aisc.access import authorize
from aisc.audit.service import record
from aisc.context import Ctx
from aisc.slurm.commands import SlurmCommands
from aisc.slurm.desired import desired_state
from aisc.slurm.plan import PREFIX, Change, Desired, plan, read_actual
from aisc.slurm.schemas import ChangeRead, FailureRead, SyncRead
from aisc.slurm.types import SlurmRefused, SlurmUnavailable, is_connection_error

# Rounds of "read Slurm again, apply what it lost" after the first pass.
VERIFY_ROUNDS = 3
NOT_SHOWN = "Slurm accepted the change but its accounting does not show it"


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
    now = int(ctx.now.timestamp())
    result.changes = plan(desired, actual, now)
    if dry_run:
        return result
    _apply(commands, result.changes, result)
    _verify(commands, desired, prefix, now, result)
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


def _apply(commands: SlurmCommands, changes: Iterable[Change], result: SyncResult) -> bool:
    """Run ``changes`` in order into ``result``; False when Slurm is gone (the rest not run)."""
    for change in changes:
        try:
            commands.apply(change.argv)
        except (SlurmRefused, SlurmUnavailable) as exc:
            result.failed.append((change, exc.message))
            if is_connection_error(exc.message):
                return False  # the daemon is gone: the rest would fail the same way
            continue
        if change not in result.applied:
            result.applied.append(change)
    return True


def _accounting(change: Change) -> bool:
    """A change to Slurm's accounting database (slurmdbd), as opposed to the controller."""
    return change.argv[0] == "sacctmgr"


def _verify(
    commands: SlurmCommands, desired: Desired, prefix: str, now: int, result: SyncResult
) -> None:
    """Read Slurm until it shows every applied change; re-apply what it lost, report the rest.

    Only targets the sync changed are retried: a change Slurm refused stays refused (with its
    words), and one that Slurm shows is never run twice. Reservations and holds are slurmctld's,
    which answers only once it holds them: only the accounting's changes (sacctmgr) are checked.
    """
    if not any(_accounting(c) for c in result.applied):
        return
    for attempt in range(VERIFY_ROUNDS + 1):
        try:
            actual = read_actual(commands, prefix)
        except (SlurmRefused, SlurmUnavailable) as exc:  # applied, but not known to be there
            unseen = [c for c in result.applied if _accounting(c)]
            result.failed += [(c, f"{NOT_SHOWN}: {exc.message}") for c in unseen]
            result.applied = [c for c in result.applied if not _accounting(c)]
            return
        done = {c.target for c in result.applied if _accounting(c)}
        lost = [c for c in plan(desired, actual, now) if c.target in done and _accounting(c)]
        if not lost:
            return
        if attempt == VERIFY_ROUNDS:
            # Reported against the changes as listed (what ``lines`` and the audit show).
            missing = {c.target for c in lost}
            result.failed += [(c, NOT_SHOWN) for c in result.applied if c.target in missing]
            result.applied = [c for c in result.applied if c.target not in missing]
            return
        result.notes.append(
            "Slurm's accounting lost " + ", ".join(sorted({c.target for c in lost}))
            + "; applied again"
        )  # fmt: skip
        retried = SyncResult(dry_run=False)
        if not _apply(commands, lost, retried):
            result.failed += retried.failed
            return
        result.failed += retried.failed
        # Report the changes as planned; the argument lists run again are new ones.
        result.changes += [c for c in retried.applied if c not in result.changes]
        result.applied += [c for c in retried.applied if c not in result.applied]
