"""The scheduling core on plain data: table-driven cases and properties."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aisc.scheduling.core import Job, Node, Policy, Project, Qos, Running, State, schedule

H = 3600


def nodes(count, gpus=8, leaf_size=4, partition="training", reserved_for=None, prefix="n"):
    return tuple(
        Node(
            f"{prefix}{i:02d}",
            gpus,
            partition,
            "H800",
            leaf=f"leaf{i // leaf_size}",
            reserved_for=reserved_for,
        )
        for i in range(count)
    )


def job(
    id,
    project="a",
    nodes=1,
    gpus=1,
    walltime=H,
    submit=0,
    qos=Qos.STANDARD,
    preemptible=False,
    partition="training",
):
    return Job(
        id=id,
        seq=id,
        project=project,
        partition=partition,
        gpu_model="H800",
        nodes=nodes,
        gpus_per_node=gpus,
        walltime=walltime,
        submit_time=submit,
        qos=qos,
        preemptible=preemptible,
    )


def state(node_list, pending=(), running=(), projects=None, now=0):
    projects = projects or {"a": Project("a", 1, 0), "b": Project("b", 1, 0)}
    return State(
        now=now,
        nodes=tuple(node_list),
        running=tuple(running),
        pending=tuple(pending),
        projects=projects,
    )


def placement_of(decisions, job_id):
    return next(s.placement for s in decisions.starts if s.job_id == job_id)


# --- gang scheduling -------------------------------------------------------------------------


def test_gang_jobs_get_all_their_nodes_or_none():
    cluster = nodes(4)
    busy = Running(job(90, gpus=8), 0, (("n00", 8),))
    result = schedule(state(cluster, [job(1, nodes=4, gpus=8)], [busy]))
    assert result.starts == ()
    assert result.reservations[0].job_id == 1
    assert result.reservations[0].start == H  # when the busy node's walltime runs out
    done = schedule(state(cluster, [job(1, nodes=4, gpus=8)]))
    assert len(placement_of(done, 1)) == 4


def test_gang_jobs_are_placed_within_one_leaf_switch_when_possible():
    cluster = nodes(8, leaf_size=4)  # leaf0: n00-n03, leaf1: n04-n07
    busy = Running(job(90, gpus=8), 0, (("n00", 8),))  # leaf0 has 3 free nodes, leaf1 has 4
    result = schedule(state(cluster, [job(1, nodes=3, gpus=8)], [busy]))
    chosen = {name for name, _ in placement_of(result, 1)}
    assert chosen == {"n01", "n02", "n03"}  # the fullest leaf that still fits: leaf1 stays whole
    wide = schedule(state(cluster, [job(2, nodes=6, gpus=8)]))
    leaves = Counter(int(name[1:]) // 4 for name, _ in placement_of(wide, 2))
    assert sorted(leaves.values()) == [2, 4]  # too big for one leaf: spread over the fewest


# --- best fit --------------------------------------------------------------------------------


def test_best_fit_packs_sub_node_jobs_so_whole_nodes_stay_free():
    cluster = nodes(2)
    partly = Running(job(90, gpus=6), 0, (("n00", 6),))  # n00 has 2 free, n01 has 8
    result = schedule(state(cluster, [job(1, gpus=2), job(2, nodes=1, gpus=8)], [partly]))
    assert placement_of(result, 1) == (("n00", 2),)
    assert placement_of(result, 2) == (("n01", 8),)


# --- EASY backfill ---------------------------------------------------------------------------


def test_backfill_runs_short_jobs_that_do_not_delay_the_reserved_one():
    cluster = nodes(2, leaf_size=2)
    busy = Running(job(90, gpus=8, walltime=2 * H), 0, (("n00", 8),))
    big = job(1, nodes=2, gpus=8, walltime=H, submit=0)
    short = job(2, gpus=8, walltime=H, submit=10)  # ends at 1h, before the 2h reservation
    long = job(3, gpus=8, walltime=3 * H, submit=20)  # would end after 2h: not allowed
    result = schedule(state(cluster, [big, short, long], [busy]))
    assert [r.job_id for r in result.reservations] == [1]
    assert result.reservations[0].start == 2 * H
    started = {s.job_id for s in result.starts}
    assert started == {2}
    assert result.estimates[1] == 2 * H


def test_backfill_never_delays_the_reserved_job_property_style():
    cluster = nodes(4, leaf_size=4)
    running = [
        Running(job(90 + i, gpus=8, walltime=(i + 1) * H), 0, ((f"n0{i}", 8),)) for i in range(3)
    ]
    pending = [job(1, nodes=4, gpus=8)] + [
        job(10 + i, gpus=8, walltime=(i % 5 + 1) * H, submit=i + 1) for i in range(20)
    ]
    result = schedule(state(cluster, pending, running))
    reservation = result.reservations[0]
    for start in result.starts:
        started = next(j for j in pending if j.id == start.job_id)
        if {n for n, _ in start.placement} & set(reservation.nodes):
            assert started.walltime <= reservation.start


# --- fair share and pacing ------------------------------------------------------------------


def test_fair_share_orders_projects_by_usage_against_share():
    cluster = nodes(1)
    projects = {"heavy": Project("heavy", 1, 1_000_000), "light": Project("light", 1, 10)}
    pending = [job(1, project="heavy", gpus=8), job(2, project="light", gpus=8, submit=5)]
    result = schedule(state(cluster, pending, projects=projects))
    assert [s.job_id for s in result.starts] == [2]
    # Share matters: a project far over its small share sinks below a big one within its share.
    bigger_share = {"heavy": Project("heavy", 100, 1_000), "light": Project("light", 1, 500)}
    assert [s.job_id for s in schedule(state(cluster, pending, projects=bigger_share)).starts] == [
        1
    ]


def test_pacing_lifts_a_project_behind_its_planned_burn():
    cluster = nodes(1)
    projects = {
        "ahead": Project("ahead", 1, 100, planned=0.5, used=0.9),
        "behind": Project("behind", 1, 100, planned=0.5, used=0.1),
    }
    pending = [job(1, project="ahead", gpus=8), job(2, project="behind", gpus=8, submit=5)]
    assert [s.job_id for s in schedule(state(cluster, pending, projects=projects)).starts] == [2]


def test_qos_tier_outranks_everything_else_and_ties_break_by_submission():
    cluster = nodes(1)
    pending = [job(1, gpus=8), job(2, gpus=8, qos=Qos.HERO), job(3, gpus=8)]
    assert [s.job_id for s in schedule(state(cluster, pending)).starts] == [2]
    tie = [job(5, gpus=8), job(4, gpus=8)]
    assert [s.job_id for s in schedule(state(cluster, tie)).starts] == [4]


# --- dedicated allocations and preemption -------------------------------------------------------


def test_dedicated_nodes_run_their_project_and_lend_only_to_preemptible_work():
    cluster = nodes(1, reserved_for="a")
    other = schedule(state(cluster, [job(1, project="b", gpus=8)]))
    assert other.starts == ()
    borrowed = schedule(state(cluster, [job(2, project="b", gpus=8, preemptible=True)]))
    assert [s.job_id for s in borrowed.starts] == [2]
    owner = schedule(state(cluster, [job(3, project="a", gpus=8)]))
    assert [s.job_id for s in owner.starts] == [3]


def test_only_preemptible_work_is_preempted_for_the_owner():
    cluster = nodes(1, reserved_for="a")
    lender = Running(job(90, project="b", gpus=8, preemptible=True), 0, (("n00", 8),))
    result = schedule(state(cluster, [job(1, project="a", gpus=8)], [lender]))
    assert result.preemptions == (90,)
    assert result.reservations[0].start == Policy().grace_seconds
    steady = Running(job(91, project="b", gpus=8), 0, (("n00", 8),))
    kept = schedule(state(nodes(1), [job(2, project="a", gpus=8)], [steady]))
    assert kept.preemptions == ()


def test_over_budget_work_is_preemptible_and_budgets_refuse_new_jobs():
    cluster = nodes(1)
    projects = {
        "a": Project("a", 1, 0, budget_gpu_seconds=4 * H),
        "b": Project("b", 1, 0, budget_gpu_seconds=0),
    }
    spent = Running(job(90, project="b", gpus=8), 0, (("n00", 8),))
    result = schedule(state(cluster, [job(1, project="a", gpus=2, walltime=H)], [spent], projects))
    assert result.preemptions == (90,)
    too_big = schedule(state(cluster, [job(2, project="a", gpus=8, walltime=H)], projects=projects))
    assert too_big.starts == ()
    assert "GPU-seconds" in too_big.refused[2]


def test_impossible_shapes_are_refused_with_a_reason():
    result = schedule(state(nodes(2), [job(1, nodes=3, gpus=8), job(2, gpus=16)]))
    assert set(result.refused) == {1, 2}


# --- properties ---------------------------------------------------------------------------


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 6))
    cluster = nodes(count, leaf_size=2)
    running, free = [], {n.name: n.gpus for n in cluster}
    for i in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from([n.name for n in cluster]))
        gpus = draw(st.integers(1, 8))
        if free[name] >= gpus:
            free[name] -= gpus
            running.append(
                Running(
                    job(
                        900 + i,
                        project=draw(st.sampled_from("ab")),
                        gpus=gpus,
                        walltime=draw(st.integers(1, 10)) * H,
                        preemptible=draw(st.booleans()),
                    ),
                    0,
                    ((name, gpus),),
                )
            )
    pending = []
    for i in range(draw(st.integers(0, 25))):
        width = draw(st.integers(1, 3))
        per = 8 if width > 1 else draw(st.integers(1, 8))
        pending.append(
            job(
                i + 1,
                project=draw(st.sampled_from("ab")),
                nodes=width,
                gpus=per,
                walltime=draw(st.integers(1, 10)) * H,
                submit=i,
                qos=draw(st.sampled_from(list(Qos))),
                preemptible=draw(st.booleans()),
            )
        )
    budget = draw(st.one_of(st.none(), st.integers(0, 50 * H)))
    projects = {"a": Project("a", 1, 0, budget_gpu_seconds=budget), "b": Project("b", 2, 0)}
    return state(cluster, pending, running, projects, now=30)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_gpu_is_double_booked_no_node_overfilled_no_job_started_without_budget(scenario):
    result = schedule(scenario)
    assert result == schedule(scenario)  # deterministic
    used = Counter()
    for run in scenario.running:
        if run.job.id not in result.preemptions:
            for name, gpus in run.placement:
                used[name] += gpus
    capacity = {n.name: n.gpus for n in scenario.nodes}
    jobs = {j.id: j for j in scenario.pending}
    spent = 0
    for start in result.starts:
        placed = jobs[start.job_id]
        assert len(start.placement) == placed.nodes  # gang: all or nothing
        assert len({n for n, _ in start.placement}) == placed.nodes
        for name, gpus in start.placement:
            assert gpus == placed.gpus_per_node
            used[name] += gpus
        if placed.project == "a":
            spent += placed.gpus * placed.walltime
    for name, gpus in used.items():
        assert gpus <= capacity[name], f"{name} over-filled"
    budget = scenario.projects["a"].budget_gpu_seconds
    if budget is not None:
        assert spent <= budget
    for victim in result.preemptions:
        run = next(r for r in scenario.running if r.job.id == victim)
        assert run.job.preemptible or (run.job.project == "a" and budget == 0)


def test_a_dedicated_projects_concurrent_gpus_are_capped_at_its_cards():
    projects = {"a": Project("a", 1, 0, max_gpus=16), "b": Project("b", 1, 0)}
    pending = [
        job(1, nodes=2, gpus=8),
        job(2, nodes=2, gpus=8),
        job(3, project="b", gpus=8),
        job(4, gpus=8, preemptible=True),
    ]
    result = schedule(state(nodes(8), pending, projects=projects))
    assert {s.job_id for s in result.starts} == {1, 3, 4}  # preemptible work is not capped
    assert "16 concurrent GPUs" in result.held[2]


def test_a_full_pass_considers_every_pending_job():
    # More pending jobs than the estimate depth: the last one still starts if it fits.
    pending = [job(i, gpus=8, submit=i) for i in range(1, 151)]
    pending.append(job(999, gpus=1, submit=1000))
    busy = [Running(job(900, gpus=7), 0, (("n00", 7),))]
    result = schedule(state(nodes(1), pending, busy))
    assert [s.job_id for s in result.starts] == [999]


def test_dedicated_nodes_are_not_lent_while_their_owner_waits():
    cluster = nodes(1, reserved_for="a")
    both = [
        job(1, project="b", gpus=8, preemptible=True, submit=0),
        job(2, project="a", gpus=8, submit=5),
    ]
    result = schedule(state(cluster, both))
    assert [s.job_id for s in result.starts] == [2]
