from __future__ import annotations

import typer

from aisc.cli.common import JsonOpt, emit_list, emit_one, parse, state, uow
from aisc.errors import ValidationFailed
from aisc.executors.sandbox import refusal
from aisc.jobs import service
from aisc.jobs.models import JobQos, JobState
from aisc.jobs.schemas import JobSubmit, parse_walltime
from aisc.metering.schemas import UsageRead
from aisc.metering.service import list_usage

app = typer.Typer(
    help="Jobs: submit, list (with start estimates), show, cancel, logs.", no_args_is_help=True
)
COLUMNS = [
    "id",
    "award_id",
    "name",
    "state",
    "nodes",
    "gpus_per_node",
    "walltime_s",
    "estimated_start",
    "exit_code",
    "reason",
]


@app.command("submit", context_settings={"allow_interspersed_args": False})
def submit(
    command: list[str] = typer.Argument(..., help="the program and its arguments (after --)"),
    award: int = typer.Option(...),
    by: int = typer.Option(..., help="person id of the submitter"),
    partition: str = typer.Option(...),
    walltime: str = typer.Option(..., help="e.g. 90m, 1h30m, 3600"),
    nodes: int = typer.Option(1),
    gpus_per_node: int = typer.Option(1),
    gpu_model: str = typer.Option(None),
    name: str = typer.Option(""),
    env: list[str] = typer.Option(None, help="KEY=VALUE; repeat"),
    workdir: str = typer.Option(""),
    qos: JobQos = typer.Option(JobQos.STANDARD),
    preemptible: bool = typer.Option(False),
    as_json: bool = JsonOpt,
) -> None:
    """Submit COMMAND (an argument list, never run through a shell)."""
    environment = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationFailed(f"--env {item!r}: expected KEY=VALUE", field="env")
        environment[key] = value
    data = parse(
        JobSubmit,
        {
            "award_id": award,
            "submitted_by_id": by,
            "name": name,
            "partition": partition,
            "gpu_model": gpu_model,
            "nodes": nodes,
            "gpus_per_node": gpus_per_node,
            "walltime_s": parse_walltime(walltime),
            "command": command,
            "environment": environment,
            "workdir": workdir,
            "qos": qos,
            "preemptible": preemptible,
        },
    )
    settings = state().settings
    refused = refusal(settings.job_isolation, settings.executor)
    with uow() as ctx:
        job = service.submit(ctx, data=data, backend=settings.executor, isolation_refusal=refused)
        emit_one(service.read_job(ctx, job), as_json)


@app.command("list")
def list_(
    award: int = typer.Option(None),
    job_state: JobState = typer.Option(None, "--state"),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """Jobs; pending ones show their estimated start."""
    with uow() as ctx:
        rows = [
            service.read_job(ctx, j)
            for j in service.list_jobs(
                ctx, award_id=award, state=job_state, limit=limit, offset=offset
            )
        ]
    emit_list(rows, COLUMNS, as_json)


@app.command("usage")
def usage(
    award: int = typer.Option(None),
    job: int = typer.Option(None),
    limit: int = 100,
    offset: int = 0,
    as_json: bool = JsonOpt,
) -> None:
    """Measured usage records (GPU-seconds per job attempt)."""
    with uow() as ctx:
        rows = [
            UsageRead.model_validate(u)
            for u in list_usage(ctx, award_id=award, job_id=job, limit=limit, offset=offset)
        ]
    emit_list(
        rows,
        ["id", "job_id", "award_id", "gpu_model_code", "gpu_seconds", "started_at", "ended_at"],
        as_json,
    )


@app.command("show")
def show(job_id: int, as_json: bool = JsonOpt) -> None:
    """Show one job."""
    with uow() as ctx:
        emit_one(service.read_job(ctx, service.get_job(ctx, job_id=job_id)), as_json)


@app.command("cancel")
def cancel(job_id: int, as_json: bool = JsonOpt) -> None:
    """Cancel a job (pending or running)."""
    with uow() as ctx:
        emit_one(service.read_job(ctx, service.cancel(ctx, job_id=job_id)), as_json)


@app.command("logs")
def logs(job_id: int, stderr: bool = typer.Option(False, "--stderr")) -> None:
    """Print a job's standard output (or, with --stderr, its standard error)."""
    with uow() as ctx:
        text = service.logs(ctx, job_id=job_id, stream="stderr" if stderr else "stdout")
    typer.echo(text, nl=False)


@app.command("tick")
def tick() -> None:
    """Run one pass of the job loop: the local executor's scheduling pass, or with
    AISC_EXECUTOR=slurm the hand-over to Slurm (``aisc worker`` runs them continuously).
    Refused while a worker leads: one loop at a time."""
    from aisc.context import utcnow
    from aisc.db.lease import Lease, LeaseLost
    from aisc.scheduling.runners import make_job_loop

    lease = Lease(state().ready_engine())
    if not lease.acquire():
        raise LeaseLost("a worker is running the job loop; this pass was not run", field="lease")
    try:
        runner = make_job_loop(state().deployment, lease.fence(), utcnow, guard=lease.guard)
        stats = runner.tick()
    finally:
        lease.release()
    typer.echo(
        f"started {stats.started}, finished {stats.finished}, preempted "
        f"{stats.preempted}, pending {stats.pending}, running GPUs "
        f"{stats.running_gpus} ({stats.seconds * 1000:.0f} ms)"
    )
