"""The simulator on the real public traces: FGD's openb results reproduced, and the Philly replay.

    .venv/bin/python benchmarks/simulate.py --traces PATH/TO/traces [--seeds 42-51]
        [--workloads default,cpu050,gpushare40,gpuspec10,multigpu20] [--skip-philly]

``PATH/TO/traces`` holds ``alibaba_openb_gpu_v2023/csv/``, ``philly/philly_jobs_pollux.csv`` and
``_published_results/fgd_atc23_openb/summary_alloc_by_workload_policy_mean10seeds.csv``.
Prints, per workload and policy, the mean allocation ratio at 100% and 130% arrived load next
to FGD's published figure, the seconds per run; then the Philly replay per policy with its
events per second.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from aisc.simulate.jobs import ClusterShape, run_jobs
from aisc.simulate.openb import run_openb
from aisc.simulate.traces import read_openb_nodes, read_openb_pods, read_philly

PUBLISHED = {"bestfit": "05-BestFit", "fgd": "06-FGD", "random": "01-Random"}


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(p) for p in text.split("-"))
        return list(range(low, high + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, required=True)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--workloads", default="default,cpu050,gpushare40,gpuspec10,multigpu20")
    parser.add_argument("--policies", default="bestfit,fgd,aisc")
    parser.add_argument("--skip-philly", action="store_true")
    args = parser.parse_args()
    seeds = seeds_of(args.seeds)
    openb = args.traces / "alibaba_openb_gpu_v2023" / "csv"
    published: dict[tuple[str, str], tuple[float, float]] = {}
    summary = (
        args.traces
        / "_published_results"
        / "fgd_atc23_openb"
        / "summary_alloc_by_workload_policy_mean10seeds.csv"
    )
    with summary.open() as handle:
        for row in csv.DictReader(handle):
            published[(row["workload"], row["sc_policy"])] = (
                float(row["alloc_pct_at_arrived_100pct"]),
                float(row["alloc_pct_at_arrived_130pct"]),
            )
    nodes = read_openb_nodes(openb / "openb_node_list_gpu_node.csv")
    print(f"openb: {len(nodes)} GPU nodes; seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    print(
        "| workload | policy | ours @100% | FGD paper @100% | ours @130% | FGD paper @130% "
        "| s per run |"
    )
    print("|---|---|---|---|---|---|---|")
    for workload in args.workloads.split(","):
        tasks = read_openb_pods(openb / f"openb_pod_list_{workload}.csv")
        for policy in args.policies.split(","):
            at100, at130, seconds = [], [], []
            for seed in seeds:
                began = time.perf_counter()
                run = run_openb(nodes, tasks, policy=policy, seed=seed)
                seconds.append(time.perf_counter() - began)
                at100.append(run.at(100))
                at130.append(run.at(130))
            paper = published.get((f"openb_pod_list_{workload}", PUBLISHED.get(policy, "")))
            print(
                f"| {workload} | {policy} | {statistics.fmean(at100):.2f} | "
                f"{paper[0] if paper else '-'} | {statistics.fmean(at130):.2f} | "
                f"{paper[1] if paper else '-'} | {statistics.fmean(seconds):.2f} |",
                flush=True,
            )
    if args.skip_philly:
        return
    trace = read_philly(args.traces / "philly" / "philly_jobs_pollux.csv")
    cluster = ClusterShape(nodes=96, gpus_per_node=8)
    print(f"\nphilly: {len(trace):,} jobs on {cluster.nodes} nodes x {cluster.gpus_per_node} GPUs")
    print("| policy | wait mean | wait p50 | wait p99 | JCT mean | JCT p99 | alloc % | "
          "fairness | s | events/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for policy in ("fifo", "fifo-backfill", "aisc"):
        began = time.perf_counter()
        result = run_jobs(trace, policy=policy, cluster=cluster)
        seconds = time.perf_counter() - began
        s = result.summary(cluster.gpus)
        wait, jct = s["queueing_delay_s"], s["completion_time_s"]
        assert isinstance(wait, dict)
        assert isinstance(jct, dict)
        print(
            f"| {policy} | {wait['mean']:.0f} s | {wait['p50']:.0f} s | {wait['p99']:.0f} s | "
            f"{jct['mean']:.0f} s | {jct['p99']:.0f} s | {s['allocation_pct']} | "
            f"{s['fairness_jain_slowdown']} | {seconds:.1f} | {result.events / seconds:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
