"""The submission gateway and job queries.

The gateway refuses, naming the reason: a submitter who is not on the award's project team;
an award that is not active; a partition without an active allocation of the award; a walltime
over the partition's maximum; a shape no node of the partition can hold; GPU-hours beyond what
remains of a pooled allocation (after usage and queued work); more GPUs than a dedicated
allocation's cards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import BindParameter, String, and_, bindparam, func, select

from aisc.access import (
    Access,
    AccessDenied,
    acting_person,
    authorize,
    awards_in_reach,
    visible,
)
from aisc.accounts.models import Person
from aisc.allocations.models import Allocation, AllocationState
from aisc.allocations.service import effective_state
from aisc.applications.models import ProjectMember, RequestKind
from aisc.audit.service import record
from aisc.awards.models import Award, AwardStatus
from aisc.cluster.models import Node, Partition
from aisc.context import Ctx
from aisc.db.base import row_dict
from aisc.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from aisc.executors.local import load_slices
from aisc.jobs.lifecycle import move
from aisc.jobs.models import FINISHED, Backend, Job, JobState
from aisc.jobs.placement import NOWHERE
from aisc.jobs.schemas import JobRead, JobSubmit
from aisc.metering.models import UsageRecord
from aisc.qos.service import require_tier
from aisc.scheme.models import Scheme
from aisc.scheme.service import get_scheme

_PARTITIONS = "aisc.jobs.partitions"


def _keep_partitions(ctx: Ctx, partitions: Iterable[Partition]) -> None:
    """Hold the partitions a unit of work read, so that ``session.get`` finds them again.

    A session's identity map holds its objects weakly: a partition read for one job was
    dropped and read again for the next (a job list read the same row 50 times). Kept in the
    session's ``info`` they live as long as the session (one transaction), and any change made
    to them in it is what ``get`` returns: nothing is cached beyond the transaction.
    """
    kept = ctx.db.info.setdefault(_PARTITIONS, {})
    for partition in partitions:
        kept[partition.id] = partition


def _partition_name(ctx: Ctx, job: Job) -> str:
    partition = ctx.db.get(Partition, job.partition_id)
    if partition is None:
        return "?"
    _keep_partitions(ctx, [partition])
    return partition.name


def read_job(ctx: Ctx, job: Job) -> JobRead:
    """The job as read; ``job`` came through ``get_job``, a list, or was just submitted."""
    authorize(ctx, "job.read")
    return JobRead.of(job, _partition_name(ctx, job))


def read_jobs(ctx: Ctx, jobs: list[Job]) -> list[JobRead]:
    """``read_job`` of each job of a list, their partitions read in one query."""
    authorize(ctx, "job.read")
    wanted = {job.partition_id for job in jobs} - set(ctx.db.info.get(_PARTITIONS, {}))
    if wanted:
        _keep_partitions(
            ctx, ctx.db.execute(select(Partition).where(Partition.id.in_(wanted))).scalars()
        )
    return [JobRead.of(job, _partition_name(ctx, job)) for job in jobs]


def _award_in_reach(ctx: Ctx, access: Access, award_id: int, what: str, field: str) -> Award:
    """The award (of a job, or of a submission) if ``access`` reaches it, else "not found"
    (``what`` is what is not found): ``view_award``'s check, keeping the award at hand."""
    award = ctx.db.get(Award, award_id)
    return visible(
        access,
        award,
        what,
        field=field,
        application_id=award.application_id if award is not None else None,
    )


def _also(access: Access, action: str) -> Access:
    """``authorize(ctx, action)`` sharing ``access``'s memo of the projects the principal is
    related to (the same principal in the same transaction: the same answer, read once)."""
    other = authorize(access.ctx, action)
    return replace(access, action=action, everything=other.everything, audiences=other.audiences)


def _permit(access: Access, application_id: int) -> None:
    """``permit``, with ``access`` from ``_also``."""
    if not access.covers(application_id=application_id):
        raise AccessDenied(f"{access.action}: not allowed on this object")


def get_job(ctx: Ctx, *, job_id: int) -> Job:
    """The job, if the principal may see it (the project's members, operators, the auditor)."""
    return _get_job(ctx, authorize(ctx, "job.read"), job_id)[0]


_JOB = (
    select(Job, Award, Partition)
    .join(Award, Award.id == Job.award_id)
    .join(Partition, Partition.id == Job.partition_id)
    .where(Job.id == bindparam("job_id"))
)


def _get_job(ctx: Ctx, access: Access, job_id: int) -> tuple[Job, Award]:
    """The job and its award, if ``access`` reaches them; its partition is kept for
    ``read_job``. One statement for the three rows."""
    found = ctx.db.execute(_JOB, {"job_id": job_id}).first()
    if found is None:
        raise NotFound(f"job {job_id} not found", field="job_id")
    job, award, partition = found
    _keep_partitions(ctx, [partition])
    visible(access, job, f"job {job_id}", field="job_id", application_id=award.application_id)
    return job, award


def list_jobs(
    ctx: Ctx,
    *,
    award_id: int | None = None,
    state: JobState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    access = authorize(ctx, "job.read")
    query = select(Job).order_by(Job.id)
    scope = awards_in_reach(access, Job.award_id)
    if scope is not None:
        query = query.where(scope)
    if award_id is not None:
        query = query.where(Job.award_id == award_id)
    if state is not None:
        query = query.where(Job.state == state)
    return list(ctx.db.execute(query.limit(limit).offset(offset)).scalars())


def count_by_state(ctx: Ctx, *, backend: Backend | None = None) -> dict[JobState, int]:
    """How many jobs (the principal may see) are in each state, on one backend or all."""
    access = authorize(ctx, "job.read")
    query = select(Job.state, func.count()).group_by(Job.state).order_by(Job.state)
    scope = awards_in_reach(access, Job.award_id)
    if scope is not None:
        query = query.where(scope)
    if backend is not None:
        query = query.where(Job.backend == backend)
    return {state: int(count) for state, count in ctx.db.execute(query)}


# The statements of a submission, built once (building one costs more than running it).
_AWARD_ID: BindParameter[int] = bindparam("award_id")
# The submitter: their cluster user name, and whether they are on the award's project team.
_SUBMITTER = select(
    Person.id,
    Person.username,
    select(ProjectMember.id)
    .where(
        ProjectMember.application_id == bindparam("application_id"),
        ProjectMember.person_id == Person.id,
    )
    .exists(),
).where(Person.id == bindparam("person_id"))
# The partition, the award's allocations on it, and for each how many nodes can hold one node
# of the job (of the GPU model asked for, or else the allocation's).
_PLACES = (
    select(
        Partition,
        Allocation,
        select(func.count(Node.id))
        .where(
            Node.partition_id == Partition.id,
            Node.gpu_model_code
            == func.coalesce(bindparam("gpu_model", type_=String), Allocation.gpu_model_code),
            Node.gpu_count >= bindparam("gpus_per_node"),
        )
        .scalar_subquery(),
    )
    .outerjoin(
        Allocation,
        and_(Allocation.partition_id == Partition.id, Allocation.award_id == _AWARD_ID),
    )
    .where(Partition.name == bindparam("name"))
    .order_by(Allocation.id)
)
_LOCK_AWARD = select(Award.id).where(Award.id == _AWARD_ID).with_for_update(key_share=True)
# What remains to decide on: GPU-seconds used (aisc.metering.service.used_gpu_seconds), those
# the pending and running jobs may still use (their walltime), and the scheme's
# over_award_policy (get_scheme's scheme; NULL without one).
_REMAINDER = select(
    select(func.coalesce(func.sum(UsageRecord.gpu_seconds), 0))
    .where(UsageRecord.award_id == _AWARD_ID)
    .scalar_subquery(),
    select(func.coalesce(func.sum(Job.nodes * Job.gpus_per_node * Job.walltime_s), 0))
    .where(Job.award_id == _AWARD_ID, Job.state.in_((JobState.PENDING, JobState.RUNNING)))
    .scalar_subquery(),
    select(Scheme.over_award_policy).order_by(Scheme.id).limit(1).scalar_subquery(),
)


def submit(
    ctx: Ctx,
    *,
    data: JobSubmit,
    backend: Backend | str = Backend.LOCAL,
    isolation_refusal: str | None = None,
) -> Job:
    """Admit a job to the queue of ``backend`` (the deployment's executor) or refuse it.

    ``isolation_refusal`` is why the local executor cannot isolate tenants' jobs on this
    machine (``aisc.executors.sandbox.refusal``); the edge passes it and every job is refused
    with it. The GPU-hour check and the insert hold the award's row lock (PostgreSQL), so
    concurrent submissions cannot together exceed what remains.
    """
    authorize(ctx, "job.submit")
    backend = Backend(backend)
    # The checks of view_award, permit and get_person, with the award kept at hand and the
    # principal's projects read once for all of them.
    reading = authorize(ctx, "job.read")
    award = _award_in_reach(ctx, reading, data.award_id, f"award {data.award_id}", "award_id")
    _permit(_also(reading, "job.submit"), award.application_id)
    person_id = acting_person(ctx, data.submitted_by_id, field="submitted_by_id")
    authorize(ctx, "person.read")
    submitter = ctx.db.execute(
        _SUBMITTER, {"person_id": person_id, "application_id": award.application_id}
    ).first()
    if submitter is None:
        raise NotFound(f"person {person_id} not found", field="person_id")
    if not submitter[2]:
        raise Forbidden(
            f"person {person_id} is not a member of the project of award {award.id}",
            field="submitted_by_id",
        )
    if backend is Backend.LOCAL and isolation_refusal:
        raise Conflict(isolation_refusal, field="backend")
    if data.nodes > 1 and data.gpus_per_node == 0:
        raise ValidationFailed(
            "gpus_per_node: a job on several nodes needs GPUs on each of them",
            field="gpus_per_node",
        )
    if award.status is not AwardStatus.ACTIVE:
        raise Conflict(
            f"award {award.id} is {award.status.value}; jobs run only on active awards",
            field="award_id",
        )
    if backend is Backend.SLURM and not submitter.username:
        raise ValidationFailed(
            f"person {person_id} has no cluster user name; jobs on the cluster run as their "
            "owner (ask an operator to set it)",
            field="submitted_by_id",
        )
    # The partition, the award's allocations on it, and for each the nodes that can hold one
    # node of the job (of the GPU model asked for, or else the allocation's): one statement.
    rows = ctx.db.execute(
        _PLACES,
        {
            "name": data.partition,
            "award_id": award.id,
            "gpu_model": data.gpu_model,
            "gpus_per_node": data.gpus_per_node,
        },
    ).all()
    if not rows:
        raise ValidationFailed(
            f"partition: unknown partition {data.partition!r}", field="partition"
        )
    partition = rows[0][0]
    _keep_partitions(ctx, [partition])
    if data.walltime_s > partition.max_walltime_hours * 3600:
        raise ValidationFailed(
            f"walltime_s: {data.walltime_s} s is over the {partition.name} partition's maximum "
            f"of {partition.max_walltime_hours} h",
            field="walltime_s",
        )
    today = ctx.now.date()
    active = [
        (allocation, int(nodes))
        for _, allocation, nodes in rows
        if allocation is not None
        and effective_state(allocation, award.status, today) is AllocationState.ACTIVE
    ]
    if not active:
        raise Conflict(
            f"award {award.id} has no active allocation on partition {partition.name}",
            field="partition",
        )
    allocations = [allocation for allocation, _ in active]
    allocation, nodes_that_fit = active[0]
    gpu_model = data.gpu_model or allocation.gpu_model_code
    if gpu_model != allocation.gpu_model_code:
        raise ValidationFailed(
            f"gpu_model: the allocation is for {allocation.gpu_model_code}, not {gpu_model}",
            field="gpu_model",
        )
    if nodes_that_fit < data.nodes:
        raise ValidationFailed(
            f"no {data.nodes} node(s) of partition {partition.name} have {data.gpus_per_node} "
            f"{gpu_model} GPUs each",
            field="gpus_per_node",
        )
    gpus = data.nodes * data.gpus_per_node
    require_tier(ctx, award_id=award.id, qos=data.qos, gpu_seconds=gpus * data.walltime_s)
    if allocation.kind is RequestKind.DEDICATED:
        cards = sum(a.gpu_cards or 0 for a in allocations)
        if gpus > cards:
            raise ValidationFailed(
                f"gpus_per_node: {gpus} GPUs exceed the allocation's {cards} dedicated cards",
                field="gpus_per_node",
            )
    else:
        # One admission at a time per award: the remainder read below must still hold when the
        # job is inserted (SQLite's write lock gives the same at BEGIN IMMEDIATE). FOR NO KEY
        # UPDATE on PostgreSQL: it excludes the other admissions but not a row that only refers
        # to the award (a foreign key takes KEY SHARE). With FOR UPDATE, the loop's usage record
        # waited for this admission while holding the audit head the admission waits for: a
        # deadlock under load.
        ctx.db.execute(_LOCK_AWARD, {"award_id": award.id}).one()
        budget = sum(a.gpu_hours or 0 for a in allocations) * 3600
        # What used_gpu_seconds and get_scheme read, and the queued work, in one statement
        # (read after the lock above: a statement of its own, so it sees every admission
        # committed before the lock was granted).
        _permit(_also(reading, "usage.read"), award.application_id)
        authorize(ctx, "scheme.read")
        used, queued, policy = ctx.db.execute(_REMAINDER, {"award_id": award.id}).one()
        if policy is None:
            policy = get_scheme(ctx).over_award_policy  # no scheme: it says so
        left = budget - int(used) - int(queued)
        # The scheme decides what happens beyond the grant: refuse here, or bill it later at
        # the full list price (see aisc.billing).
        refuse = policy == "refuse"
        if refuse and gpus * data.walltime_s > left:
            raise Conflict(
                f"the job asks for {gpus * data.walltime_s / 3600:.1f} GPU-hours; award "
                f"{award.id} has {max(left, 0) / 3600:.1f} GPU-hours left after usage and "
                "queued jobs",
                field="walltime_s",
            )
    job = Job(
        award_id=award.id,
        submitted_by_id=person_id,
        name=data.name,
        partition_id=partition.id,
        gpu_model_code=gpu_model,
        nodes=data.nodes,
        gpus_per_node=data.gpus_per_node,
        walltime_s=data.walltime_s,
        command=data.command,
        environment=data.environment,
        placement=NOWHERE,
        processes=[],
        workdir=data.workdir,
        qos=data.qos,
        preemptible=data.preemptible,
        state=JobState.PENDING,
        submitted_at=ctx.now,
        backend=backend,
    )
    ctx.db.add(job)
    ctx.db.flush()
    # The trail keeps the variables' names, never their values (tenants pass secrets that way).
    after = {
        **row_dict(job),
        "environment": sorted(data.environment),
        "placement": job.placement.as_json(),
    }
    record(ctx, action="job.submit", object_type="job", object_id=job.id, after=after)
    return job


def cancel(ctx: Ctx, *, job_id: int) -> Job:
    """Cancel a pending job at once; ask a running one to stop (SIGTERM, grace, SIGKILL)."""
    reading = authorize(ctx, "job.read")
    job, award = _get_job(ctx, reading, job_id)
    _permit(_also(reading, "job.cancel"), award.application_id)
    if job.state in FINISHED:
        raise InvalidTransition(f"job {job.id} is already {job.state.value}", field="state")
    if job.state is JobState.PENDING and job.handed_at is None:
        move(
            ctx,
            job,
            JobState.CANCELLED,
            reason="cancelled while pending",
            action="job.cancel",
            detail={"cancel_requested": False},
        )
    else:
        # Running, or already handed to Slurm: the executor stops it and the state follows.
        job.cancel_requested = True
        record(
            ctx,
            action="job.cancel",
            object_type="job",
            object_id=job.id,
            before={"state": job.state},
            after={"state": job.state, "cancel_requested": True},
        )
    ctx.db.flush()
    return job


def logs(ctx: Ctx, *, job_id: int, stream: str = "stdout", tail_bytes: int = 65_536) -> str:
    """The job's output (all its slices, in node order) from its latest attempt."""
    job = get_job(ctx, job_id=job_id)
    if stream not in ("stdout", "stderr"):
        raise ValidationFailed("stream must be stdout or stderr", field="stream")
    if job.backend is Backend.LOCAL:
        slices = load_slices(job.processes)
        paths = [Path(item.stdout if stream == "stdout" else item.stderr) for item in slices]
    else:
        paths = [Path(job.run_dir) / f"{stream}.log"] if job.run_dir else []
    parts = []
    for path in paths:
        if path.exists():
            with path.open("rb") as handle:  # read only the tail of a possibly huge log
                handle.seek(max(0, path.stat().st_size - tail_bytes))
                parts.append(handle.read().decode("utf-8", errors="replace"))
    return "".join(parts)
