"""The simulator: trace readers, packing policies, the openb protocol, job replays, the planner.

Small hand-made traces whose outcomes can be worked out by hand; the real traces are replayed by
benchmarks/simulate.py (their figures are in docs/simulate.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aisc.errors import ValidationFailed
from aisc.scheduling import core
from aisc.scheduling.core.packing import NodeSpec, PackingState, Task, typical_tasks
from aisc.simulate.jobs import ClusterShape, run_jobs
from aisc.simulate.openb import inflate, run_openb
from aisc.simulate.planner import Profile, simulate_load
from aisc.simulate.traces import (
    TraceJob,
    read_jobs_csv,
    read_openb_nodes,
    read_openb_pods,
    read_philly,
)

NODES_CSV = """sn,cpu_milli,memory_mib,gpu,model
n0,32000,131072,4,T4
n1,32000,131072,4,T4
n2,96000,393216,8,V100M32
"""
PODS_CSV = """name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
p0,4000,8192,1,1000,,LS,Running,0,10,0
p1,2000,4096,1,500,,LS,Running,1,10,1
p2,2000,4096,1,500,,BE,Running,2,10,2
p3,8000,16384,2,1000,V100M32,LS,Running,3,10,3
p4,1000,2048,0,0,,BE,Running,4,10,4
"""  # noqa: E501


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_openb_files_are_read_with_their_constraints(tmp_path):
    nodes = read_openb_nodes(write(tmp_path, "nodes.csv", NODES_CSV))
    assert [(n.name, n.gpus, n.gpu_model) for n in nodes] == [
        ("n0", 4, "T4"),
        ("n1", 4, "T4"),
        ("n2", 8, "V100M32"),
    ]
    tasks = read_openb_pods(write(tmp_path, "pods.csv", PODS_CSV))
    assert tasks[1].shared
    assert tasks[1].total_milli == 500
    assert tasks[3].gpu_models == {"V100M32"}
    assert tasks[3].total_milli == 2000
    assert tasks[4].gpus == 0


@pytest.mark.parametrize(
    ("reader", "text", "words"),
    [
        (read_openb_pods, "cpu_milli,memory_mib,num_gpu,gpu_milli\n1000,10,1,1500\n", "line 2"),
        (read_openb_pods, "cpu_milli,memory_mib,num_gpu,gpu_milli\n1000,10,2,500\n", "shared"),
        (read_openb_nodes, "sn,cpu_milli,memory_mib,gpu,model\nx,abc,1,0,\n", "line 2"),
        (read_openb_pods, "cpu_milli,memory_mib\n1,1\n", "missing column"),
        (read_philly, "timestamp,duration,num_gpus\nyesterday,5,1\n", "not a date"),
        (read_jobs_csv, "submit_time,duration,gpus\n0,10,1\n5,-3,1\n9,1,x\n", "line 3"),
        (read_jobs_csv, "submit_time,duration,gpus\n0,10,1\n0," + "9" * 200_000, "line 3"),
    ],
)
def test_malformed_rows_are_named_by_line(tmp_path, reader, text, words):
    with pytest.raises(ValidationFailed, match=words) as caught:
        reader(write(tmp_path, "trace.csv", text))
    assert caught.value.exit_code == 2


def test_a_file_that_is_not_utf8_text_is_refused(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_bytes(b"submit_time,duration,gpus\n0,10,1\n0,1\xff,1\n")
    with pytest.raises(ValidationFailed, match="not UTF-8 text"):
        read_jobs_csv(path)


def test_every_problem_is_reported_at_once(tmp_path):
    text = "submit_time,duration,gpus\n0,10,1\n5,-3,1\n9,1,x\n"
    with pytest.raises(ValidationFailed) as caught:
        read_jobs_csv(write(tmp_path, "trace.csv", text))
    assert "line 3: duration -3 is below 1" in caught.value.message
    assert "line 4: gpus 'x' is not a number" in caught.value.message


def test_philly_submit_times_start_at_zero_and_big_jobs_span_nodes(tmp_path):
    text = (
        "timestamp,duration,num_gpus,gpu_time,cluster\n"
        "2017-10-09 07:01:55,66.0,1,66.0,a\n"
        "2017-10-09 06:13:03,2951.0,16,2951.0,b\n"
    )
    first, second = read_philly(write(tmp_path, "philly.csv", text))
    assert (first.submit, first.nodes, first.gpus_per_node, first.project) == (0, 2, 8, "b")
    assert second.submit == 2932
    assert second.gpus == 1


# --- packing --------------------------------------------------------------------------------


def cluster() -> list[NodeSpec]:
    return [
        NodeSpec("a", 32_000, 100_000, 4, "T4"),
        NodeSpec("b", 32_000, 100_000, 4, "T4"),
        NodeSpec("c", 96_000, 300_000, 8, "V100"),
    ]


def test_best_fit_packs_and_shared_gpus_go_to_the_fullest_that_fits():
    state = PackingState(cluster())
    rng = np.random.default_rng(1)
    node, gpus = state.choose(Task(4_000, 1_000, 1, 1_000), "bestfit", rng)
    state.bind(node, Task(4_000, 1_000, 1, 1_000), gpus)
    assert state.nodes[node].name in ("a", "b")  # the smaller nodes are the tighter fit
    half = Task(1_000, 1_000, 1, 600)
    node2, gpus2 = state.choose(half, "bestfit", rng)
    assert node2 == node  # the same node again: least room left
    state.bind(node2, half, gpus2)
    node3, gpus3 = state.choose(Task(1_000, 1_000, 1, 400), "bestfit", rng)
    assert (node3, gpus3) == (node2, gpus2)  # the 400 fills the GPU the 600 started


def test_filters_hold_cpu_memory_gpu_model_and_whole_gpus():
    state = PackingState(cluster())
    rng = np.random.default_rng(1)
    assert state.choose(Task(40_000, 1, 1, 1_000), "bestfit", rng)[0] == 2  # only c has the CPU
    assert state.choose(Task(1, 200_000, 0, 0), "bestfit", rng)[0] == 2  # only c has the memory
    typed = state.choose(Task(1, 1, 2, 1_000, frozenset({"V100"})), "bestfit", rng)
    assert typed[0] == 2
    assert len(typed[1]) == 2
    assert state.choose(Task(1, 1, 9, 1_000), "bestfit", rng) is None  # no node has 9 GPUs
    for gpu in range(4):  # a shared task on each of node a's GPUs: no whole GPU left there
        state.bind(0, Task(1, 1, 1, 100), (gpu,))
    assert 0 not in state.fits(Task(1, 1, 1, 1_000))
    assert 0 in state.fits(Task(1, 1, 1, 900))


def test_fragmentation_aware_policies_keep_whole_gpus_for_whole_gpu_work():
    workload = [Task(2_000, 1, 1, 1_000)] * 8 + [Task(2_000, 1, 1, 500)] * 2
    typical = typical_tasks(workload)
    assert {round(t.share, 2) for t in typical} == {0.8, 0.2}
    state = PackingState(cluster()[:2], typical)
    rng = np.random.default_rng(0)
    state.bind(0, Task(2_000, 1, 1, 500), (0,))  # node a: one GPU half used
    for policy in ("fgd", "aisc"):
        node, gpus = state.choose(Task(2_000, 1, 1, 500), policy, rng)
        assert (node, gpus) == (0, (0,)), policy  # fill the half GPU, break no whole one
    assert state.fragmentation() == pytest.approx(0.8 * 500)


def test_the_protocol_inflates_records_every_percent_and_repeats_by_seed():
    nodes = cluster()
    tasks = [Task(2_000, 1, 1, 1_000), Task(1_000, 1, 1, 500), Task(8_000, 1, 2, 1_000)]
    queue = inflate(tasks, 16_000, 1.3, np.random.default_rng(3))
    assert sum(t.total_milli for t in queue) >= 1.3 * 16_000
    first = run_openb(nodes, tasks, policy="aisc", seed=7)
    assert len(first.allocation_pct) == 131
    assert first.allocation_pct == sorted(first.allocation_pct)  # no departures
    assert 90 <= first.at(130) <= 100
    assert first.placed + first.failed == first.tasks
    assert run_openb(nodes, tasks, policy="aisc", seed=7).summary() == first.summary()
    assert run_openb(nodes, tasks, policy="random", seed=8).tasks > 0


# --- job replays ---------------------------------------------------------------------------


def test_strict_fifo_blocks_behind_a_big_job_and_backfill_does_not():
    # 1 node x 8 GPUs. A runs 100 s on 6 GPUs; B wants 8 (waits for A); C wants 2 for 50 s.
    trace = [
        TraceJob("A", 0, 100, 6, walltime=100),
        TraceJob("B", 1, 100, 8, walltime=100),
        TraceJob("C", 2, 50, 2, walltime=50),
    ]
    shape = ClusterShape(nodes=1, gpus_per_node=8)
    fifo = run_jobs(trace, policy="fifo", cluster=shape)
    backfill = run_jobs(trace, policy="fifo-backfill", cluster=shape)
    # FIFO: B starts at 100, C after B at 200. Backfill: C fits beside A and ends before 100.
    assert sorted(zip(fifo.submits, fifo.waits, strict=True)) == [(0, 0), (1, 99), (2, 198)]
    assert sorted(zip(backfill.submits, backfill.waits, strict=True)) == [(0, 0), (1, 99), (2, 0)]
    assert fifo.summary(8)["completed"] == 3


def test_walltime_ends_a_job_and_shapes_that_never_fit_are_rejected():
    trace = [TraceJob("long", 0, 500, 1, walltime=60), TraceJob("huge", 0, 10, 8, nodes=3)]
    result = run_jobs(trace, policy="aisc", cluster=ClusterShape(nodes=2, gpus_per_node=8))
    assert result.rejected == 1
    assert result.completed == 1
    assert result.jcts == [60]


def test_fair_share_lets_a_light_project_past_a_heavy_one():
    heavy = [TraceJob(f"h{i}", 0, 1000, 8, walltime=1000, project="heavy") for i in range(3)]
    light = [TraceJob("l0", 10, 1000, 8, walltime=1000, project="light")]
    shape = ClusterShape(nodes=1, gpus_per_node=8)
    fifo = run_jobs(heavy + light, policy="fifo", cluster=shape)
    fair = run_jobs(heavy + light, policy="aisc", cluster=shape)
    light_wait = {
        name: dict(zip(r.submits, r.waits, strict=True))[10] for name, r in (("fifo", fifo),
                                                                           ("aisc", fair))
    }  # fmt: skip
    assert light_wait["fifo"] == 2990
    assert light_wait["aisc"] == 990


def test_the_core_strict_order_stops_at_the_first_blocked_job():
    nodes = (core.Node("n", 8, "p", "g"),)
    running = (core.Running(core.Job(1, 1, "x", "p", "g", 1, 6, 100, 0), 0, (("n", 6),)),)
    pending = (
        core.Job(2, 2, "x", "p", "g", 1, 8, 100, 0),
        core.Job(3, 3, "x", "p", "g", 1, 2, 10, 0),
    )
    state = core.State(now=5, nodes=nodes, running=running, pending=pending)
    strict = core.schedule(state, core.Policy(backfill=False))
    easy = core.schedule(state, core.Policy())
    assert strict.starts == ()
    assert [s.job_id for s in easy.starts] == [3]
    kept_free = core.State(now=5, nodes=nodes, running=running, pending=pending, free={"n": 2})
    assert core.schedule(kept_free, core.Policy()) == easy  # the caller's free GPUs agree


# --- the planner and the command line -------------------------------------------------------


def test_more_committed_work_means_more_waiting_and_busier_gpus():
    profile = Profile.philly()
    light = simulate_load(installed_cards=64, busy_cards=20, profile=profile)
    heavy = simulate_load(installed_cards=64, busy_cards=62, profile=profile)
    over = simulate_load(installed_cards=64, busy_cards=90, profile=profile)
    assert light.busy_pct < heavy.busy_pct
    assert light.wait_mean_s <= heavy.wait_mean_s < over.wait_mean_s
    assert not heavy.overloaded
    assert over.overloaded
    assert simulate_load(installed_cards=64, busy_cards=62, profile=profile) == heavy


def test_simulate_commands_print_reports_plots_and_identical_json(cli_at, tmp_path):
    cli = cli_at("sqlite:///" + str(tmp_path / "unused.db"))
    nodes = write(tmp_path, "nodes.csv", NODES_CSV)
    pods = write(tmp_path, "pods.csv", PODS_CSV)
    args = ["simulate", "openb", "--pods", str(pods), "--nodes", str(nodes)]
    one = cli(*args, "--policy", "bestfit,aisc", "--seeds", "42,43", "--json").stdout
    two = cli(*args, "--policy", "bestfit,aisc", "--seeds", "42,43", "--json").stdout
    assert one == two
    report = json.loads(one)
    assert set(report["mean_over_seeds"]) == {"bestfit", "aisc"}
    assert len(report["runs"]) == 4
    table = cli(*args, "--plot", str(tmp_path / "alloc.png")).output
    assert "alloc@130%" in table
    assert (tmp_path / "alloc.png").read_bytes()[:4] == b"\x89PNG"
    assert "unknown best" in cli(*args, "--policy", "best", expect=2).output
    assert "not a list of integers" in cli(*args, "--seeds", "x", expect=2).output

    jobs = write(
        tmp_path,
        "jobs.csv",
        "submit_time,duration,gpus,nodes,walltime,project\n0,100,6,1,100,a\n1,100,8,1,100,b\n"
        "2,50,2,1,50,a\n",
    )
    jargs = ["simulate", "jobs", "--trace", str(jobs), "--nodes", "1"]
    first = cli(*jargs, "--json").stdout
    assert first == cli(*jargs, "--json").stdout
    policies = {p["policy"]: p for p in json.loads(first)["policies"]}
    assert policies["fifo"]["queueing_delay_s"]["mean"] == 99.0
    assert policies["fifo-backfill"]["queueing_delay_s"]["mean"] == 33.0
    assert "fifo-backfill" in cli(*jargs, "--plot", str(tmp_path / "jobs.svg")).output
    assert (tmp_path / "jobs.svg").read_text().lstrip().startswith("<?xml")
    assert "line 2" in cli(
        "simulate", "jobs", "--trace", str(write(tmp_path, "bad.csv", "submit_time,duration,gpus\n"
                                                 "x,1,1\n")), expect=2
    ).output  # fmt: skip
    assert "philly or csv" in cli(*jargs, "--format", "swf", expect=2).output


def test_the_what_if_forecasts_queueing_with_and_without_the_award(client, cli, uow):
    from tests.factories import World

    world = World(uow)
    world.approve(world.reviewed(compute={"gpu_cards": 40}))
    pending = world.to_review(
        title="Pending", compute={"gpu_cards": 16, "months": 2, "preferred_start": "2025-04-01"}
    )
    url = f"/api/v1/applications/{pending}/capacity-check"
    assert client.get(url).json()["forecast"] is None
    check = client.get(url, params={"forecast": "true"}).json()
    months = check["forecast"]["months"]
    assert [m["month"] for m in months] == ["2025-04", "2025-05"]
    for month in months:
        assert month["busy_pct_after"] > month["busy_pct_before"]
        assert month["wait_mean_s_after"] >= month["wait_mean_s_before"]
    assert check["forecast"]["assumptions"]["profile"] == "philly"
    shown = cli("alloc", "check", str(pending), "--forecast").output
    assert "forecast (simulated through the scheduling core" in shown
    assert "2025-05" in shown
    assert "philly or csv" in cli(
        "alloc", "check", str(pending), "--forecast", "--trace", "x.csv", "--format", "swf",
        expect=2,
    ).output  # fmt: skip
