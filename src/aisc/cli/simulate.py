"""``aisc simulate``: replay real traces through the platform's scheduling core.

Results go to stdout (``--json`` for the whole report; the same inputs and seed give the same
bytes); timings and events per second go to stderr, with a progress bar on a terminal.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from aisc.errors import ValidationFailed

app = typer.Typer(help="Trace-driven simulation on the platform's own scheduling core.")
err = Console(stderr=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    """A progress callback (done, total), drawn on stderr when it is a terminal."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _list(text: str, option: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise ValidationFailed(f"{option}: give at least one value", field=option)
    if allowed is not None:
        wrong = [p for p in items if p not in allowed]
        if wrong:
            raise ValidationFailed(
                f"{option}: unknown {', '.join(wrong)} (one of {', '.join(allowed)})",
                field=option,
            )
    return items


def _write_plot(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ValidationFailed(
            f"--plot: cannot write {path}: {exc.strerror}", field="plot"
        ) from exc


@app.command("openb")
def openb(
    pods: Path = typer.Option(..., help="openb pod list (openb_pod_list_*.csv)"),
    nodes: Path = typer.Option(..., help="openb node list (openb_node_list_gpu_node.csv)"),
    policy: str = typer.Option("bestfit", help="random, bestfit, fgd, aisc (comma-separated)"),
    seeds: str = typer.Option("42", help="comma-separated seeds, e.g. 42,43,44"),
    ratio: float = typer.Option(1.3, min=0.1, max=3.0, help="inflate to this x GPU capacity"),
    plot: Path = typer.Option(None, help="write a chart (.png or .svg)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole report as JSON"),
) -> None:
    """FGD's protocol: inflate to 130%, shuffle, place one by one, no departures."""
    from aisc.scheduling.core.packing import POLICIES
    from aisc.simulate.openb import run_openb
    from aisc.simulate.traces import read_openb_nodes, read_openb_pods

    policies = _list(policy, "policy", POLICIES)
    try:
        seed_list = [int(s) for s in _list(seeds, "seeds")]
    except ValueError as exc:
        raise ValidationFailed(
            f"--seeds: {seeds!r} is not a list of integers", field="seeds"
        ) from exc
    node_list = read_openb_nodes(nodes)
    tasks = read_openb_pods(pods)
    runs = []
    began = time.perf_counter()
    for name in policies:
        for seed in seed_list:
            with progress_bar(f"{name} seed {seed}") as update:
                runs.append(run_openb(node_list, tasks, policy=name, seed=seed, ratio=ratio,
                                      progress=update))  # fmt: skip
    seconds = time.perf_counter() - began
    placements = sum(r.tasks for r in runs)
    mean: dict[str, dict[str, float]] = {}
    curves: dict[str, list[float]] = {}
    frag: dict[str, list[float]] = {}
    for name in policies:
        mine = [r for r in runs if r.policy == name]
        mean[name] = {
            f"allocation_pct_at_{p}": round(statistics.fmean(r.at(p) for r in mine), 2)
            for p in (50, 80, 90, 95, 100, 110, 120, 130)
            if p <= round(ratio * 100)
        }
        mean[name]["unallocated_gpus_at_end"] = round(
            statistics.fmean(r.capacity_gpus * (1 - r.allocation_pct[-1] / 100) for r in mine), 1
        )
        curves[name] = [
            statistics.fmean(v) for v in zip(*(r.allocation_pct for r in mine), strict=False)
        ]
        if mine[0].fragmented_gpus:
            frag[name] = [
                statistics.fmean(v) for v in zip(*(r.fragmented_gpus for r in mine), strict=False)
            ]
    report = {
        "workload": pods.name,
        "nodes": len(node_list),
        "gpus": runs[0].capacity_gpus if runs else 0,
        "ratio": ratio,
        "seeds": seed_list,
        "mean_over_seeds": mean,
        "runs": [r.summary() for r in runs],
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        typer.echo(
            f"{pods.name}: {len(node_list)} nodes, {report['gpus']} GPUs, inflated to "
            f"{ratio:.0%}, seeds {', '.join(map(str, seed_list))} (mean over seeds)"
        )
        typer.echo(f"{'policy':<9} {'alloc@100%':>11} {'alloc@130%':>11} {'unallocated GPUs':>17}")
        last = min(130, round(ratio * 100))
        for name, values in mean.items():
            typer.echo(
                f"{name:<9} {values.get('allocation_pct_at_100', float('nan')):>10.2f}% "
                f"{values.get(f'allocation_pct_at_{last}', float('nan')):>10.2f}% "
                f"{values['unallocated_gpus_at_end']:>17.1f}"
            )
    if plot is not None:
        _write_plot(
            plot,
            _plot_openb(curves, frag, f"openb {pods.stem}: GPU allocation", plot.suffix),
        )
    err.print(
        f"{len(runs)} run(s), {placements:,} placements in {seconds:.1f} s: "
        f"{seconds / max(len(runs), 1):.2f} s per run, {placements / seconds:,.0f} placements/s"
    )


def _plot_openb(curves: Any, frag: Any, title: str, suffix: str) -> bytes:
    from aisc.simulate.plots import openb_plot

    return openb_plot(curves, frag, title=title, fmt=suffix.lstrip(".").lower() or "png")


@app.command("jobs")
def jobs(
    trace: Path = typer.Option(..., help="the job trace"),
    trace_format: str = typer.Option("csv", "--format", help="philly or csv (see docs)"),
    policy: str = typer.Option(
        "fifo,fifo-backfill,aisc", help="fifo, fifo-backfill, aisc (comma-separated)"
    ),
    nodes: int = typer.Option(96, min=1, max=100_000, help="nodes in the simulated cluster"),
    gpus_per_node: int = typer.Option(8, min=1, max=64),
    plot: Path = typer.Option(None, help="write a chart (.png or .svg)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole report as JSON"),
) -> None:
    """Queueing and completion times per policy, in one run over the same trace."""
    from aisc.simulate.jobs import POLICIES, ClusterShape, run_jobs
    from aisc.simulate.traces import read_jobs_csv, read_philly

    if trace_format not in ("philly", "csv"):
        raise ValidationFailed(f"--format: {trace_format!r} is not philly or csv", field="format")
    policies = _list(policy, "policy", tuple(POLICIES))
    job_list = read_philly(trace) if trace_format == "philly" else read_jobs_csv(trace)
    cluster = ClusterShape(nodes=nodes, gpus_per_node=gpus_per_node)
    results = []
    for name in policies:
        began = time.perf_counter()
        with progress_bar(f"{name}") as update:
            result = run_jobs(job_list, policy=name, cluster=cluster, progress=update)
        seconds = time.perf_counter() - began
        results.append(result)
        err.print(
            f"{name}: {len(job_list):,} jobs, {result.events:,} events, {result.passes:,} "
            f"scheduling passes in {seconds:.1f} s ({result.events / seconds:,.0f} events/s)"
        )
    summaries = [r.summary(cluster.gpus) for r in results]
    report = {
        "trace": trace.name,
        "format": trace_format,
        "cluster": {"nodes": nodes, "gpus_per_node": gpus_per_node, "gpus": cluster.gpus},
        "policies": summaries,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        typer.echo(f"{trace.name}: {len(job_list):,} jobs on {nodes} nodes x {gpus_per_node} GPUs")
        header = (
            f"{'policy':<14} {'wait mean':>10} {'wait p50':>9} {'wait p99':>10} "
            f"{'JCT mean':>10} {'JCT p99':>10} {'alloc %':>8} {'fairness':>9}"
        )
        typer.echo(header)
        for s in summaries:
            wait, jct = s["queueing_delay_s"], s["completion_time_s"]
            assert isinstance(wait, dict)
            assert isinstance(jct, dict)
            typer.echo(
                f"{s['policy']!s:<14} {wait['mean']:>9.0f}s {wait['p50']:>8.0f}s "
                f"{wait['p99']:>9.0f}s {jct['mean']:>9.0f}s {jct['p99']:>9.0f}s "
                f"{s['allocation_pct']!s:>8} {s['fairness_jain_slowdown']!s:>9}"
            )
    if plot is not None:
        from aisc.simulate.plots import jobs_plot

        _write_plot(
            plot,
            jobs_plot(
                {r.policy: [100 * b / cluster.gpus for b in r.hourly_busy] for r in results},
                {r.policy: r.waits for r in results},
                title=f"{trace.name} on {cluster.gpus} GPUs",
                fmt=plot.suffix.lstrip(".").lower() or "png",
            ),
        )
