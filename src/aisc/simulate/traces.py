"""Trace readers: Alibaba ``openb`` (nodes and pods), Philly jobs, and a generic job CSV.

Every reader checks every row and reports all problems at once, each with its line number
(``TraceError``, a validation error: exit code 2). Times are integer seconds.

The generic CSV (header required; columns in any order):

| column | required | meaning |
|---|---|---|
| ``submit_time`` | yes | seconds from the trace start (>= 0) |
| ``duration`` | yes | seconds the job runs (> 0) |
| ``gpus`` | yes | GPUs per node (>= 0) |
| ``nodes`` | no (1) | nodes (>= 1); a multi-node job has ``gpus`` on each |
| ``walltime`` | no (duration) | seconds requested (>= duration is usual; a job is stopped at it) |
| ``project`` | no (``default``) | who the job belongs to (fair share) |
| ``id`` | no (line number) | the job's name |
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aisc.errors import ValidationFailed
from aisc.scheduling.core.packing import NodeSpec, Task

MAX_PROBLEMS = 20


class TraceError(ValidationFailed):
    code = "bad_trace"


@dataclass(frozen=True)
class TraceJob:
    id: str
    submit: int
    duration: int
    gpus_per_node: int
    nodes: int = 1
    walltime: int | None = None  # requested; None: not given in the trace
    project: str = "default"

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


def _rows(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror}", field="file") from exc
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise TraceError(
                    f"{path.name}: line 1: missing column(s) {', '.join(missing)}", field="file"
                )
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            raise TraceError(
                f"{path.name}: line {reader.line_num + 1}: not readable as CSV ({exc})",
                field="file",
            ) from None
        except UnicodeDecodeError:
            raise TraceError(f"{path.name}: not UTF-8 text", field="file") from None


def _int(
    row: dict[str, str], column: str, *, low: int | None = None, default: int | None = None
) -> int:
    text = (row.get(column) or "").strip()
    if not text:
        if default is not None:
            return default
        raise ValueError(f"{column} is empty")
    try:
        value = int(float(text)) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if low is not None and value < low:
        raise ValueError(f"{column} {value} is below {low}")
    return value


def _check(path: Path, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise TraceError(
            f"{path.name}: " + "; ".join(problems[:MAX_PROBLEMS]) + more,
            field="file",
            details=problems[:200],
        )


def read_openb_nodes(path: Path) -> list[NodeSpec]:
    """``sn, cpu_milli, memory_mib, gpu, model`` (openb_node_list_*.csv)."""
    nodes, problems = [], []
    for number, row in _rows(path, ("sn", "cpu_milli", "memory_mib", "gpu", "model")):
        try:
            gpus = _int(row, "gpu", low=0)
            model = (row.get("model") or "").strip()
            if gpus > 0 and not model:
                raise ValueError("a GPU node needs its model")
            nodes.append(
                NodeSpec(
                    name=(row.get("sn") or "").strip() or f"node-{number}",
                    cpu_milli=_int(row, "cpu_milli", low=1),
                    memory_mib=_int(row, "memory_mib", low=0),
                    gpus=gpus,
                    gpu_model=model,
                )
            )
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    _check(path, problems)
    if not nodes:
        raise TraceError(f"{path.name}: no nodes", field="file")
    return nodes


def read_openb_pods(path: Path) -> list[Task]:
    """``name, cpu_milli, memory_mib, num_gpu, gpu_milli[, gpu_spec, ...]``: one task per pod.

    ``gpu_spec`` lists the GPU models a pod may use, separated by ``|`` (empty: any).
    """
    tasks, problems = [], []
    for number, row in _rows(path, ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli")):
        try:
            gpus = _int(row, "num_gpu", low=0)
            milli = _int(row, "gpu_milli", low=0, default=0)
            if milli > 1000:
                raise ValueError(f"gpu_milli {milli} is over 1000 (one GPU)")
            if gpus > 1 and 0 < milli < 1000:
                raise ValueError("only a single GPU can be shared (gpu_milli < 1000)")
            if gpus > 0 and milli == 0:
                raise ValueError("num_gpu > 0 with gpu_milli 0")
            spec = (row.get("gpu_spec") or "").strip()
            tasks.append(
                Task(
                    cpu_milli=_int(row, "cpu_milli", low=0),
                    memory_mib=_int(row, "memory_mib", low=0),
                    gpus=gpus if milli else 0,
                    gpu_milli=milli if gpus else 0,
                    gpu_models=frozenset(m for m in spec.split("|") if m),
                )
            )
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    _check(path, problems)
    if not tasks:
        raise TraceError(f"{path.name}: no pods", field="file")
    return tasks


def read_philly(path: Path) -> list[TraceJob]:
    """The Philly job list (``timestamp, duration, num_gpus, gpu_time, cluster``): submit
    times become seconds from the first submission; the virtual cluster is the project; jobs
    of more than 8 GPUs are spread over whole nodes of 8. The trace has no walltime requests."""
    rows, problems = [], []
    for number, row in _rows(path, ("timestamp", "duration", "num_gpus")):
        try:
            text = (row.get("timestamp") or "").strip()
            try:
                moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(f"timestamp {text!r} is not a date and time") from None
            gpus = _int(row, "num_gpus", low=1)
            per_node, nodes = (gpus, 1) if gpus <= 8 else (8, -(-gpus // 8))
            rows.append(
                (
                    int(moment.timestamp()),
                    number,
                    max(1, _int(row, "duration", low=0)),
                    per_node,
                    nodes,
                    (row.get("cluster") or "").strip() or "default",
                )
            )
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    _check(path, problems)
    if not rows:
        raise TraceError(f"{path.name}: no jobs", field="file")
    start = min(r[0] for r in rows)
    jobs = [
        TraceJob(
            id=f"philly-{number}",
            submit=at - start,
            duration=duration,
            gpus_per_node=per_node,
            nodes=nodes,
            project=project,
        )
        for at, number, duration, per_node, nodes, project in rows
    ]
    return sorted(jobs, key=lambda j: (j.submit, j.id))


def read_jobs_csv(path: Path) -> list[TraceJob]:
    """The documented generic CSV (see the module docstring)."""
    jobs, problems = [], []
    for number, row in _rows(path, ("submit_time", "duration", "gpus")):
        try:
            duration = _int(row, "duration", low=1)
            walltime = _int(row, "walltime", low=1, default=-1)
            jobs.append(
                TraceJob(
                    id=(row.get("id") or "").strip() or f"line-{number}",
                    submit=_int(row, "submit_time", low=0),
                    duration=duration,
                    gpus_per_node=_int(row, "gpus", low=0),
                    nodes=_int(row, "nodes", low=1, default=1),
                    walltime=None if walltime < 0 else walltime,
                    project=(row.get("project") or "").strip() or "default",
                )
            )
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    _check(path, problems)
    if not jobs:
        raise TraceError(f"{path.name}: no jobs", field="file")
    return sorted(jobs, key=lambda j: (j.submit, j.id))
