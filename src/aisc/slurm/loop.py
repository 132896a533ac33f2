"""The Slurm executor's loop: hand jobs to Slurm, follow them, bill what Slurm accounted.

Slurm makes the live scheduling decisions; each tick the platform:
1. syncs provisioning when it is due (accounts, QOS budgets, reservations, pacing priority);
2. follows the jobs it handed over, from ``sacct`` (one call for all of them): queued, running
   (with the nodes and GPUs Slurm chose), or ended; an ended job is finished in the platform
   and its usage recorded from the same accounting rows, in one transaction, once;
3. passes cancellations on (``scancel``; the state follows Slurm's);
4. hands new jobs over: ``handed_at`` is committed first, then the job goes to slurmrestd
   (``sbatch`` when slurmrestd is down), then its Slurm id is committed. A job whose hand-over
   was interrupted (a crash, a timeout, Slurm down) is looked for by its Slurm name
   (``aisc-job-<id>``) in the controller and in accounting before it is submitted again, and is
   never submitted while Slurm cannot answer that question: no job is lost or duplicated;
5. ingests all of Slurm's accounting when it is due (jobs submitted to Slurm directly too).

A restarted platform needs nothing special: its first tick is this same reconciliation.
"""

from __future__ import annotations

import logging
import math
import os
import pwd
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aisc.accounts.models import Person
from aisc.audit.service import record
from aisc.cluster.models import Partition
from aisc.context import Ctx
from aisc.db.engine import transaction
from aisc.jobs.lifecycle import move, request_stop, slurm_ending
from aisc.jobs.models import Backend, Job, JobState, StopReason
from aisc.jobs.placement import Placement, Slot
from aisc.scheduling.loop import Counters, TickStats
from aisc.settings import Settings
from aisc.slurm.accounting import ingest_runs
from aisc.slurm.backend import SlurmBackend
from aisc.slurm.desired import slurm_qos
from aisc.slurm.plan import Desired, account_name
from aisc.slurm.sync import sync
from aisc.slurm.types import (
    FINAL,
    RUNNING,
    JobSpec,
    SlurmJob,
    SlurmRefused,
    SlurmUnavailable,
    job_name,
)

log = logging.getLogger(__name__)
BACKEND = Backend.SLURM
# A job Slurm has no record of this long after it was handed over is lost.
LOST_AFTER = timedelta(minutes=2)
ACTIVE = (JobState.PENDING, JobState.RUNNING)
SETTLE_S = 30
HANDOVER_SLACK_S = 120  # clock skew between the platform and the controller


@dataclass(frozen=True)
class _Handover:
    job_id: int
    spec: JobSpec | None
    problem: str  # why it cannot be handed over (then spec is None)


class SlurmJobLoop:
    """One tick at a time; all state in the database and in Slurm."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        backend: SlurmBackend,
        settings: Settings,
        clock: Callable[[], datetime],
        *,
        guard: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        # Raises when this process may no longer act (the worker's lease): checked right before
        # a job is handed to Slurm, the one side effect of the loop that no transaction covers.
        self.guard = guard or (lambda: None)
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.last = TickStats()
        self.totals = Counters()
        self.desired: Desired | None = None
        self.controller_up = True
        self.controller_problem = ""
        # The link's figures for the worker's /metrics (aisc.metrics.SlurmLinkFigures).
        self.pinged_at: datetime | None = None  # the last ping, answered or not
        self.synced_at: datetime | None = None  # the last provisioning sync that reached Slurm
        self.sync_failures = 0  # syncs postponed because Slurm could not be reached
        self.changes_failed = 0  # changes that syncs tried and Slurm refused
        self._synced_at: float | None = None
        self._ingested_at: float | None = None

    # --- the tick ------------------------------------------------------------------------------

    def tick(self) -> TickStats:
        began = time.perf_counter()
        stats = TickStats()
        # A down controller makes squeue and sbatch wait seconds each; scontrol ping does not.
        self.controller_up = self._ping()
        if self.controller_up and self._due(self._synced_at):
            self.sync()
        stats.finished = self.follow()
        if self.controller_up:
            self.pass_cancels()
        stats.started = self.hand_over()
        if self._due(self._ingested_at):
            self.ingest()
        with transaction(self.factory) as db:
            running = list(
                db.execute(
                    select(Job).where(Job.backend == BACKEND, Job.state.in_(ACTIVE))
                ).scalars()
            )
            stats.pending = sum(1 for j in running if j.state is JobState.PENDING)
            stats.running_gpus = sum(
                j.nodes * j.gpus_per_node for j in running if j.state is JobState.RUNNING
            )
        stats.seconds = time.perf_counter() - began
        self.last = stats
        self.totals.ticks += 1
        self.totals.started += stats.started
        self.totals.finished += stats.finished
        return stats

    def _ping(self) -> bool:
        self.pinged_at = self.clock()
        try:
            self.backend.commands.ping()
        except SlurmUnavailable as exc:
            self.controller_problem = exc.message
            return False
        return True

    def _due(self, last: float | None) -> bool:
        return last is None or time.monotonic() - last >= self.settings.slurm_sync_interval_s

    def sync(self) -> bool:
        """Provisioning sync (and pacing priority); False when Slurm could not be reached."""
        try:
            with transaction(self.factory) as db:
                result = sync(
                    self._ctx(db), self.backend.commands, prefix=self.settings.slurm_account_prefix
                )
        except SlurmUnavailable as exc:
            log.warning("provisioning sync postponed: %s", exc.message)
            self.sync_failures += 1
            return False
        for change, why in result.failed:
            log.warning("provisioning: %s failed: %s", change.describe(), why)
        self.changes_failed += len(result.failed)
        self.desired = result.desired
        self._synced_at = time.monotonic()
        self.synced_at = self.clock()
        return True

    def ingest(self) -> int:
        """All accounting since the last ingest (with a day's overlap; keys make it idempotent)."""
        now = int(self.clock().timestamp())
        since = now - 7 * 86_400 if self._ingested_at is None else now - 86_400
        try:
            runs = self.backend.accounting(since=since)
        except SlurmUnavailable as exc:
            log.warning("accounting ingest postponed: %s", exc.message)
            return 0
        with transaction(self.factory) as db:
            result = ingest_runs(self._ctx(db), runs, self.settings)
        self._ingested_at = time.monotonic()
        return result.new

    def _ctx(self, db: Session) -> Ctx:
        return Ctx(db=db, now=self.clock(), actor="slurm")

    # --- following handed-over jobs -------------------------------------------------------------

    def follow(self) -> int:
        """Bring every handed-over job up to date with Slurm; returns how many ended."""
        with transaction(self.factory) as db:
            known = dict(
                db.execute(
                    select(Job.id, Job.backend_id).where(
                        Job.backend == BACKEND,
                        Job.state.in_(ACTIVE),
                        Job.backend_id.is_not(None),
                    )
                ).all()
            )
        if not known:
            return 0
        ids = sorted({str(v) for v in known.values()})
        try:
            runs = self.backend.accounting(job_ids=ids)
        except SlurmUnavailable as exc:
            log.warning("cannot follow jobs: %s", exc.message)
            return 0
        latest: dict[str, SlurmJob] = {}
        for found in runs:
            latest[found.job_id] = found  # sacct lists the runs of a job in order
        # Only accounting ends a job: its figures are the ones billed.
        accounted = {i for i, run in latest.items() if run.final and run.end}
        # Accounting learns of a start late (and of a new job a moment after it is queued): the
        # controller tells what runs now, and that a job it holds has ended (then the job waits
        # for accounting to say so, never going back to pending meanwhile).
        live = [i for i in ids if i not in accounted]
        missing = [i for i in ids if i not in latest]
        try:
            if not self.controller_up:
                raise SlurmUnavailable(self.controller_problem)
            for held in self.backend.controller_jobs(job_ids=live):
                latest[held.job_id] = held
                if held.job_id in missing:
                    missing.remove(held.job_id)
        except SlurmUnavailable:
            missing = []  # cannot tell now: nobody is declared lost this tick
        indices: dict[str, dict[str, tuple[int, ...]]] = {}
        for slurm_id, seen in latest.items():
            if seen.state in RUNNING:
                try:
                    indices[slurm_id] = self.backend.gpu_indices(slurm_id)
                except SlurmUnavailable:
                    indices[slurm_id] = {}
        finished = 0
        with transaction(self.factory) as db:
            ctx = self._ctx(db)
            for job in db.execute(
                select(Job).where(Job.id.in_(list(known)), Job.state.in_(ACTIVE))
            ).scalars():
                run = latest.get(str(job.backend_id))
                if run is None:
                    if (
                        str(job.backend_id) in missing
                        and job.handed_at is not None
                        and ctx.now - job.handed_at > LOST_AFTER
                    ):
                        self._lost(ctx, job)
                        finished += 1
                    continue
                if run.final and run.job_id not in accounted:
                    continue  # ended in the controller; accounting has not got it yet
                if self._update(ctx, job, run, indices.get(run.job_id, {})):
                    ingest_runs(
                        ctx,
                        [r for r in runs if r.job_id == run.job_id],
                        self.settings,
                        owners={run.job_id: job.id},
                    )
                    finished += 1
        return finished

    def _update(self, ctx: Ctx, job: Job, run: SlurmJob, gpus: dict[str, tuple[int, ...]]) -> bool:
        """Apply Slurm's word on one job; True when the job has ended."""
        job.backend_state = run.state
        if run.state in FINAL:
            if run.end is None:
                return False  # accounting has not got the end yet: next tick
            settling = ctx.now.timestamp() - run.end < SETTLE_S
            if settling and len(run.nodes) < job.nodes:
                # Right after the end accounting may name only the batch host of a multi-node
                # run (its times and GPUs are already final): wait for the whole node list.
                return False
            ending = slurm_ending(
                run.state, run.exit_code, cancel_requested=job.cancel_requested, ran=bool(run.start)
            )
            # Slurm's own start and end times: the job's record and its usage agree with the
            # accounting that is billed, however late the platform looked.
            job.started_at = _at(run.start) or job.started_at
            move(
                ctx,
                job,
                ending.state,
                reason=ending.reason,
                at=_at(run.end),
                exit_code=ending.exit_code,
                placement=_placement(job, run, gpus) if run.nodes and not job.placement else None,
                detail={"slurm_job": run.job_id, "gpu_seconds": run.gpu_seconds},
            )
            return True
        if run.state in RUNNING:
            if job.state is not JobState.RUNNING:
                move(
                    ctx,
                    job,
                    JobState.RUNNING,
                    at=_at(run.start) or ctx.now,
                    placement=_placement(job, run, gpus),
                    detail={"slurm_job": run.job_id},
                )
            elif gpus and not job.placement.knows_gpus:
                job.placement = _placement(job, run, gpus)
            return False
        # Pending (or requeued) in Slurm.
        reason = f"queued in Slurm ({run.reason})" if run.reason else "queued in Slurm"
        if job.state is JobState.RUNNING:
            move(ctx, job, JobState.PENDING, reason=reason, detail={"slurm_state": run.state})
        job.reason = reason
        return False

    def _lost(self, ctx: Ctx, job: Job) -> None:
        move(ctx, job, JobState.FAILED, reason=f"lost: Slurm has no record of job {job.backend_id}")

    # --- cancellations ---------------------------------------------------------------------------

    def pass_cancels(self) -> None:
        with transaction(self.factory) as db:
            wanted = [
                (job_id, backend_id, username)
                for job_id, backend_id, username in db.execute(
                    select(Job.id, Job.backend_id, Person.username)
                    .join(Person, Person.id == Job.submitted_by_id)
                    .where(
                        Job.backend == BACKEND,
                        Job.state.in_(ACTIVE),
                        Job.cancel_requested.is_(True),
                        Job.backend_id.is_not(None),
                        Job.stop_reason == StopReason.NONE,
                    )
                )
            ]
        for job_id, backend_id, username in wanted:
            try:
                self.backend.cancel(str(backend_id), user=username)
            except (SlurmUnavailable, SlurmRefused) as exc:
                log.warning("cancel of job %s postponed: %s", job_id, exc.message)
                continue
            with transaction(self.factory) as db:
                job = db.get(Job, job_id)
                if job is not None:
                    request_stop(self._ctx(db), job, StopReason.CANCEL, slurm_job=backend_id)

    # --- hand-over -------------------------------------------------------------------------------

    def hand_over(self) -> int:
        """Submit the platform's new jobs to Slurm; returns how many were handed over."""
        with transaction(self.factory) as db:
            waiting = list(
                db.execute(
                    select(Job.id, Job.award_id, Job.handed_at)
                    .where(
                        Job.backend == BACKEND,
                        Job.state == JobState.PENDING,
                        Job.backend_id.is_(None),
                    )
                    .order_by(Job.id)
                ).all()
            )
        if not waiting:
            return 0
        if not self.controller_up:
            self._note(
                [job_id for job_id, _, _ in waiting],
                f"waiting for Slurm: {self.controller_problem}",
            )
            return 0
        prefix = self.settings.slurm_account_prefix
        accounts = {account_name(award_id, prefix) for _, award_id, _ in waiting}
        unknown = self.desired is None or not accounts <= set(self.desired.accounts)
        if unknown and not self.sync():
            return 0
        interrupted = {
            job_id: (account_name(award_id, prefix), handed)
            for job_id, award_id, handed in waiting
            if handed is not None
        }
        found: dict[int, str] = {}
        if interrupted:
            try:
                found = self._find(interrupted)
            except SlurmUnavailable as exc:
                log.warning("hand-over postponed (cannot look for earlier submissions): %s",
                            exc.message)  # fmt: skip
                self._note(list(interrupted), f"waiting for Slurm: {exc.message}")
                return 0
            if found:
                self._adopt(found)
        handed = 0
        for index, (job_id, _, _) in enumerate(waiting):
            if job_id in found:
                continue
            if self._hand_one(job_id):
                handed += 1
            elif self.backend_down:
                later = [j for j, _, _ in waiting[index + 1 :] if j not in found]
                self._note(later, f"waiting for Slurm: {self.backend_problem}")
                break
        return handed

    backend_down = False
    backend_problem = ""

    def _find(self, handed: dict[int, tuple[str, datetime]]) -> dict[int, str]:
        """Slurm ids of earlier submissions of these jobs (controller or accounting): the job's
        Slurm name, under its award's account, submitted after its hand-over began."""
        names = {job_name(i): i for i in handed}
        found: dict[int, str] = {}

        def ours(job: SlurmJob) -> int | None:
            job_id = names.get(job.name)
            if job_id is None:
                return None
            account, began = handed[job_id]
            early = job.submit is not None and job.submit < began.timestamp() - HANDOVER_SLACK_S
            return job_id if job.account == account and not early else None

        for job in self.backend.controller_jobs(names=list(names)):
            if (job_id := ours(job)) is not None:
                found.setdefault(job_id, job.job_id)
        missing = [n for n, i in names.items() if i not in found]
        if missing:
            since = int(min(began for _, began in handed.values()).timestamp()) - HANDOVER_SLACK_S
            for job in self.backend.accounting(names=missing, since=since):
                if (job_id := ours(job)) is not None:
                    found.setdefault(job_id, job.job_id)
        return found

    def _adopt(self, found: dict[int, str]) -> None:
        with transaction(self.factory) as db:
            for job_id, slurm_id in found.items():
                job = db.get(Job, job_id)
                if job is None or job.backend_id is not None:
                    continue
                job.backend_id = slurm_id
                job.reason = "queued in Slurm"
                record(self._ctx(db), action="job.adopt", object_type="job", object_id=job.id,
                       after={"slurm_job": slurm_id})  # fmt: skip

    def _note(self, job_ids: list[int], reason: str) -> None:
        with transaction(self.factory) as db:
            for job_id in job_ids:
                job = db.get(Job, job_id)
                if job is not None and job.state is JobState.PENDING:
                    job.reason = reason[:500]

    def _hand_one(self, job_id: int) -> bool:
        self.backend_down = False
        with transaction(self.factory) as db:
            job = db.get(Job, job_id)
            if job is None or job.state is not JobState.PENDING or job.backend_id is not None:
                return False
            prepared = self._prepare(db, job)
            if prepared.spec is None:
                move(self._ctx(db), job, JobState.FAILED, reason=prepared.problem)
                return False
            job.handed_at = self.clock()  # committed before Slurm hears of the job
        spec = prepared.spec
        self.guard()
        try:
            slurm_id, path = self.backend.submit(spec)
        except SlurmRefused as exc:
            with transaction(self.factory) as db:
                job = db.get(Job, job_id)
                assert job is not None
                move(self._ctx(db), job, JobState.FAILED, reason=exc.message)
            return False
        except SlurmUnavailable as exc:
            self.backend_down, self.backend_problem = True, exc.message
            self._note([job_id], f"waiting for Slurm: {exc.message}")
            return False
        with transaction(self.factory) as db:
            job = db.get(Job, job_id)
            assert job is not None
            job.backend_id = slurm_id
            job.backend_state = "PENDING"
            job.reason = "queued in Slurm"
            record(self._ctx(db), action="job.handover", object_type="job", object_id=job.id,
                   after={"slurm_job": slurm_id, "via": path})  # fmt: skip
        return True

    def _prepare(self, db: Session, job: Job) -> _Handover:
        person = db.get(Person, job.submitted_by_id)
        if person is None or not person.username:
            return _Handover(job.id, None, "the submitter has no cluster user name")
        partition = db.get(Partition, job.partition_id)
        assert partition is not None
        account = account_name(job.award_id, self.settings.slurm_account_prefix)
        desired = self.desired or Desired()
        run_dir = self.settings.effective_slurm_job_root / f"job-{job.id}"
        try:
            _make_run_dir(run_dir, person.username)
        except OSError as exc:
            return _Handover(job.id, None, f"cannot prepare the job directory: {exc.strerror}")
        job.run_dir = str(run_dir)
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **job.environment,
            "AISC_JOB_ID": str(job.id),
            "AISC_NODE_COUNT": str(job.nodes),
        }
        return _Handover(
            job.id,
            JobSpec(
                aisc_id=job.id,
                user=person.username,
                account=account,
                partition=partition.name,
                nodes=job.nodes,
                gpus_per_node=job.gpus_per_node,
                gpu_type=self.settings.gres_type(job.gpu_model_code),
                time_limit_min=max(1, math.ceil(job.walltime_s / 60)),
                workdir=job.workdir or str(run_dir),
                stdout=str(run_dir / "stdout.log"),
                stderr=str(run_dir / "stderr.log"),
                argv=tuple(job.command),
                environment=environment,
                qos=slurm_qos(desired, account, job.qos),
                reservation=account if account in desired.reservations else None,
            ),
            "",
        )


def _make_run_dir(path: Path, username: str) -> None:
    """The job's directory, writable by the user the job runs as."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(username)
        except KeyError:
            path.chmod(0o1777)
            return
        os.chown(path, user.pw_uid, user.pw_gid)
    else:
        path.chmod(0o1777)


def _at(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _placement(job: Job, run: SlurmJob, gpus: dict[str, tuple[int, ...]]) -> Placement:
    return Placement(
        tuple(Slot(node, gpus.get(node, ()), gpu_count=job.gpus_per_node) for node in run.nodes)
    )
