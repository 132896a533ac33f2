"""The platform's operational figures, served on ``/metrics`` through the Prometheus client.

Each application has its own ``CollectorRegistry`` (``Metrics``), never the library's global
default one: a process may build many applications (the tests build one per test), and a
metric registered twice in one registry is an error.

- **Jobs** (``JobFigures``): jobs by state, queue length and GPUs held by running jobs are read
  from the database at scrape time (so every process serving the API answers the same).
- **The job loop** (``LoopFigures``): the last tick's duration and the totals of passes, starts,
  finishes and preemptions are the loop's own, exported by the process that runs it: the worker
  (``aisc worker --metrics-port``), or a server that runs its worker in-process.
- **The scheduling pass**: ``aisc_scheduler_pass_seconds``, a histogram of the pure scheduler's
  run time observed by the local job loop around each ``scheduling.core.schedule`` call (Slurm
  deployments have none: Slurm schedules).
- **Requests**: ``aisc_http_request_duration_seconds``, a histogram by method, route template
  (``/api/v1/jobs/{job_id}``, never the raw path) and status class (``2xx``...). Label values come
  from a fixed set, whatever a client sends: a path no route matches is ``unmatched`` and an
  unusual method is ``other``, so no request can create a new time series.
- **The queue, billing and notifications** (``QueueFigures``, ``BillingFigures``,
  ``OutboxFigures``, registered by ``register_platform_figures``): pending jobs by partition and
  QOS, the last billing run (recorded in ``billing_runs`` by whichever process ran it: an API
  server or the command line) and the outbox's messages by state, read from the database at
  scrape time like the jobs.
- **The Slurm link** (``SlurmLinkFigures``, the worker's, with a Slurm job loop): up or down at
  the last ping, the last provisioning sync that reached Slurm, and the syncs and changes that
  failed.
- The process's own CPU, memory and file descriptors (``process_*``, Linux only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from aisc.billing.models import BillingRun
from aisc.cluster.models import Partition
from aisc.db.engine import transaction
from aisc.db.lease import LeaderFigure, LeaseFigures
from aisc.jobs.models import Job, JobQos, JobState
from aisc.outbox.models import OutboxMessage

if TYPE_CHECKING:
    from aisc.db.lease import Lease
    from aisc.scheduling.runners import JobLoop
    from aisc.slurm.loop import SlurmJobLoop

# A pass over a small cluster takes milliseconds; 50,000 pending jobs on 3,200 GPUs about 0.1 s.
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def scheduling_pass_histogram() -> Histogram:
    """A job loop's pass histogram, unregistered: the application registers its loop's."""
    return Histogram(
        "aisc_scheduler_pass_seconds",
        "Run time of the scheduler's pass (the pure core) in the local job loop.",
        buckets=PASS_BUCKETS,
        registry=None,
    )


class JobFigures(Collector):
    """Jobs by state, the queue and the GPUs in use, read from the database when scraped: every
    process that serves the API answers the same."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database; names are checked at scrape time

    def collect(self) -> Iterator[Metric]:
        with transaction(self.factory, write=False) as db:
            counts = dict(db.execute(select(Job.state, func.count()).group_by(Job.state)).all())
            gpus = db.execute(
                select(func.coalesce(func.sum(Job.nodes * Job.gpus_per_node), 0)).where(
                    Job.state == JobState.RUNNING
                )
            ).scalar_one()
        jobs = GaugeMetricFamily("aisc_jobs", "Jobs by state.", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], counts.get(state, 0))
        yield jobs
        yield GaugeMetricFamily(
            "aisc_queue_length", "Pending jobs.", value=counts.get(JobState.PENDING, 0)
        )
        yield GaugeMetricFamily("aisc_running_gpus", "GPUs held by running jobs.", value=int(gpus))


class LoopFigures(Collector):
    """The job loop's own figures: exported by the process that runs it (the worker)."""

    def __init__(self, runner: JobLoop) -> None:
        self.runner = runner

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        yield GaugeMetricFamily(
            "aisc_scheduler_last_tick_seconds",
            "Duration of this process's last job-loop tick (following, scheduling, launching).",
            value=runner.last.seconds,
        )
        done = runner.totals
        for name, documentation, value in (
            ("aisc_scheduler_passes", "Job-loop ticks run by this process.", done.ticks),
            ("aisc_jobs_started", "Jobs started by this process.", done.started),
            ("aisc_jobs_finished", "Jobs seen to finish by this process.", done.finished),
            ("aisc_jobs_preempted", "Preemptions ordered by this process.", done.preempted),
        ):
            yield CounterMetricFamily(name, documentation, value=value)


class QueueFigures(Collector):
    """Pending jobs by partition and QOS (every partition and QOS listed, zeros included)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with transaction(self.factory, write=False) as db:
            partitions = list(db.execute(select(Partition.id, Partition.name)).all())
            counts = {
                (partition_id, qos): n
                for partition_id, qos, n in db.execute(
                    select(Job.partition_id, Job.qos, func.count())
                    .where(Job.state == JobState.PENDING)
                    .group_by(Job.partition_id, Job.qos)
                ).all()
            }
        pending = GaugeMetricFamily(
            "aisc_queue_pending_jobs",
            "Pending jobs by partition and QOS.",
            labels=["partition", "qos"],
        )
        for partition_id, name in sorted(partitions, key=lambda p: p[1]):
            for qos in JobQos:
                pending.add_metric([name, qos.value], counts.get((partition_id, qos), 0))
        yield pending


class BillingFigures(Collector):
    """The last billing run, as recorded by the process that ran it."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with transaction(self.factory, write=False) as db:
            runs = db.execute(select(func.count()).select_from(BillingRun)).scalar_one()
            last = db.execute(
                select(BillingRun).order_by(BillingRun.id.desc()).limit(1)
            ).scalar_one_or_none()
        yield CounterMetricFamily("aisc_billing_runs", "Billing runs recorded.", value=runs)
        yield GaugeMetricFamily(
            "aisc_billing_last_run_seconds",
            "Duration of the last billing run (0: none yet).",
            value=last.seconds if last else 0.0,
        )
        yield GaugeMetricFamily(
            "aisc_billing_last_run_timestamp_seconds",
            "When the last billing run started, in Unix time (0: none yet).",
            value=last.started_at.timestamp() if last else 0.0,
        )
        yield GaugeMetricFamily(
            "aisc_billing_last_run_invoices",
            "Invoices issued by the last billing run.",
            value=last.issued if last else 0,
        )


class OutboxFigures(Collector):
    """Notifications not delivered: due now, waiting (for a retry, or for a claim to lapse),
    and given up (listed until someone retries them)."""

    STATES = ("due", "waiting", "given_up")

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.factory = factory
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        undelivered = OutboxMessage.delivered_at.is_(None)
        live = undelivered & OutboxMessage.gave_up_at.is_(None)
        counts: dict[str, int] = {}
        oldest: datetime | None = None
        with transaction(self.factory, write=False) as db:
            for state, where in (
                ("due", live & (OutboxMessage.next_attempt_at <= now)),
                ("waiting", live & (OutboxMessage.next_attempt_at > now)),
                ("given_up", undelivered & OutboxMessage.gave_up_at.is_not(None)),
            ):
                counts[state] = db.execute(
                    select(func.count()).select_from(OutboxMessage).where(where)
                ).scalar_one()
            oldest = db.execute(
                select(func.min(OutboxMessage.created_at)).where(
                    live & (OutboxMessage.next_attempt_at <= now)
                )
            ).scalar_one()
        pending = GaugeMetricFamily(
            "aisc_notifications_pending",
            "Notifications not delivered, by state (due, waiting for a retry, given up).",
            labels=["state"],
        )
        for state in self.STATES:
            pending.add_metric([state], counts[state])
        yield pending
        yield GaugeMetricFamily(
            "aisc_notifications_oldest_due_age_seconds",
            "Age of the oldest notification due for delivery (0: none due).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        )


def register_platform_figures(
    registry: CollectorRegistry, factory: sessionmaker[Session], clock: Callable[[], datetime]
) -> None:
    """Add the queue, billing and notification figures (read from the database at scrape)."""
    registry.register(QueueFigures(factory))
    registry.register(BillingFigures(factory))
    registry.register(OutboxFigures(factory, clock))


class SlurmLinkFigures(Collector):
    """The Slurm job loop's link: exported by the worker that runs it."""

    def __init__(self, runner: SlurmJobLoop) -> None:
        self.runner = runner

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        if runner.pinged_at is not None:  # up or down is known from the first ping on
            yield GaugeMetricFamily(
                "aisc_slurm_up",
                "1 if the Slurm controller answered the job loop's last ping, else 0.",
                value=1 if runner.controller_up else 0,
            )
        yield GaugeMetricFamily(
            "aisc_slurm_last_sync_timestamp_seconds",
            "When the last provisioning sync that reached Slurm ran, in Unix time (0: never).",
            value=runner.synced_at.timestamp() if runner.synced_at else 0.0,
        )
        yield CounterMetricFamily(
            "aisc_slurm_sync_failures",
            "Provisioning syncs postponed because Slurm could not be reached.",
            value=runner.sync_failures,
        )
        yield CounterMetricFamily(
            "aisc_slurm_sync_changes_failed",
            "Provisioning changes (accounts, QOS, reservations) that Slurm refused.",
            value=runner.changes_failed,
        )


def register_loop(registry: CollectorRegistry, runner: JobLoop) -> None:
    """Add a job loop's figures (and its pass histogram, if it schedules; its Slurm link, if it
    hands jobs to Slurm) to ``registry``."""
    registry.register(LoopFigures(runner))
    from aisc.slurm.loop import SlurmJobLoop  # here: the job loops import this module

    if isinstance(runner, SlurmJobLoop):
        registry.register(SlurmLinkFigures(runner))
    passes: Histogram | None = getattr(runner, "pass_seconds", None)
    if passes is not None:  # the local job loop's; Slurm runs its own scheduler
        registry.register(passes)


def worker_registry(runner: JobLoop, lease: Lease) -> CollectorRegistry:
    """What ``aisc worker`` exports on its own metrics port: its loop, whether it leads, its
    process."""
    registry = CollectorRegistry(auto_describe=False)
    register_loop(registry, runner)
    registry.register(LeaderFigure(lease))
    ProcessCollector(registry=registry)
    return registry


class Metrics:
    """One application's registry and the request histogram its middleware observes."""

    def __init__(self, factory: sessionmaker[Session], runner: JobLoop | None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(JobFigures(factory))
        self.registry.register(LeaseFigures(factory))  # the leader, from the lease row
        if runner is not None:  # a server that runs its worker in-process exports its loop too
            register_loop(self.registry, runner)
        ProcessCollector(registry=self.registry)
        self.requests = Histogram(
            "aisc_http_request_duration_seconds",
            "Time to answer a request, by method, route template and status class.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self._templates: dict[int, str] = {}

    def prefix_routes(self, routes: Iterable[Any], prefix: str) -> None:
        """Name ``routes`` (a router's, included under ``prefix``) by their full template: the
        router records the route as its router defined it, without the inclusion's prefix."""
        for route in routes:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                self._templates[id(route)] = prefix + path

    def observe_request(self, scope: Any, status: int, seconds: float) -> None:
        """Count one answered request; ``scope`` is its ASGI scope after routing."""
        method = scope.get("method", "")
        route = scope.get("route")
        template = self._templates.get(id(route), getattr(route, "path", None))
        self.requests.labels(
            method=method if method in METHODS else "other",
            route=template if isinstance(template, str) else UNMATCHED,
            status=f"{status // 100}xx" if 100 <= status <= 599 else "other",
        ).observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry's samples in the format ``accept`` asks for (Prometheus' text format
        unless the scraper asks for OpenMetrics), with that format's content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
