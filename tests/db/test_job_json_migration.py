"""The jobs' JSON columns migration keeps every row and every value, both ways, on each backend."""

import json

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from aisc.db.engine import make_sessionmaker
from aisc.db.migrate import alembic_config, current_revision, head_revision, upgrade
from aisc.jobs.models import Backend, Job, StopReason
from aisc.jobs.placement import Placement, Slot

REVISION = "0014"

ROWS = [
    {
        "command": ["python", "-c", "print('héllo \"世界\"')", "--flag=a b", ""],
        "environment": {"A": "x y", "EMPTY": "", "QUOTE": "'\"\\"},
        "placement": [{"node": "h800-000", "gpus": [0, 1]}, {"node": "h800-001", "gpus": [6, 7]}],
        "processes": [
            {
                "node": "h800-000",
                "gpus": [0, 1],
                "pid": 4242,
                "start_ticks": 99,
                "exit_file": "/runs/job-1/1-0.exit",
                "stdout": "/runs/job-1/1-0.out",
                "stderr": "/runs/job-1/1-0.err",
            }
        ],
        "stop_reason": "walltime",
        "backend": "local",
    },
    {
        "command": ["/bin/true"],
        "environment": {},
        "placement": [{"node": "gpu-a01", "gpus": [], "gpu_count": 4}],
        "processes": [],
        "stop_reason": "",
        "backend": "slurm",
    },
    {
        "command": ["sleep", "1"],
        "environment": {"N": "1"},
        "placement": [],
        "processes": [],
        "stop_reason": "preempt",
        "backend": "local",
    },
]


def _before() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


def _stored(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT command, environment, placement, processes, stop_reason, backend "
                    "FROM jobs ORDER BY id"
                )
            )
        ]


@pytest.fixture
def world(uow):
    from tests.factories import World

    world = World(uow)
    world.approve(world.reviewed())
    with uow() as ctx:
        world.award_id = ctx.db.execute(text("SELECT max(id) FROM awards")).scalar_one()
    return world


def test_json_columns_migrate_up_and_down_without_losing_a_row(engine, world):
    with engine.connect() as connection:
        partition = connection.execute(
            text("SELECT id FROM partitions WHERE name = 'training'")
        ).scalar_one()
    before = _before()
    config = alembic_config(engine)
    command.downgrade(config, before)
    try:
        assert current_revision(engine) == before
        with engine.begin() as connection:
            for row in ROWS:
                connection.execute(
                    text(
                        "INSERT INTO jobs (award_id, submitted_by_id, name, partition_id, "
                        "gpu_model_code, nodes, gpus_per_node, walltime_s, command, environment, "
                        "workdir, qos, preemptible, state, reason, submitted_at, placement, "
                        "processes, attempt, cancel_requested, stop_reason, run_dir, backend, "
                        "backend_state) VALUES (:award, :person, 'j', :partition, "
                        "'H800-SXM5-80GB', 1, 2, 600, :command, :environment, '', 'standard', "
                        "false, 'running', '', :at, :placement, :processes, 1, false, "
                        ":stop_reason, '', :backend, '')"
                    ),
                    {
                        "award": world.award_id,
                        "person": world.applicant,
                        "partition": partition,
                        "at": "2025-03-10 09:00:00",
                        "command": json.dumps(row["command"]),
                        "environment": json.dumps(row["environment"]),
                        "placement": json.dumps(row["placement"]),
                        "processes": json.dumps(row["processes"]),
                        "stop_reason": row["stop_reason"],
                        "backend": row["backend"],
                    },
                )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with make_sessionmaker(engine)() as db:
            jobs = list(db.execute(select(Job).order_by(Job.id)).scalars())
        assert len(jobs) == len(ROWS)
        for job, row in zip(jobs, ROWS, strict=True):
            assert job.command == row["command"]
            assert job.environment == row["environment"]
            assert job.placement == Placement.from_json(row["placement"])
            assert job.placement.as_json() == row["placement"]
            assert job.processes == row["processes"]
            assert job.stop_reason is StopReason(row["stop_reason"])
            assert job.backend is Backend(row["backend"])
        assert jobs[1].placement.slots == (Slot("gpu-a01", (), gpu_count=4),)

        command.downgrade(config, before)
        stored = _stored(engine)
        assert len(stored) == len(ROWS)
        for values, row in zip(stored, ROWS, strict=True):
            assert [json.loads(v) for v in values[:4]] == [
                row["command"],
                row["environment"],
                row["placement"],
                row["processes"],
            ]
            assert values[4:] == (row["stop_reason"], row["backend"])
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()


@pytest.mark.parametrize(("stop_reason", "backend"), [("bored", "local"), ("", "cloud")])
def test_the_database_refuses_a_stop_reason_or_backend_it_does_not_know(
    engine, world, stop_reason, backend
):
    insert = text(
        "INSERT INTO jobs (award_id, submitted_by_id, name, partition_id, gpu_model_code, nodes, "
        "gpus_per_node, walltime_s, command, environment, workdir, qos, preemptible, state, "
        "reason, submitted_at, placement, processes, attempt, cancel_requested, stop_reason, "
        "run_dir, backend, backend_state) SELECT :award, :person, 'j', id, 'H800-SXM5-80GB', 1, "
        "2, 600, '[\"x\"]', '{}', '', 'standard', false, 'pending', '', :at, '[]', '[]', 0, "
        "false, :stop_reason, '', :backend, '' FROM partitions LIMIT 1"
    )
    values = {"award": world.award_id, "person": world.applicant, "at": "2025-03-10 09:00:00"}
    with engine.begin() as connection:  # the known values are accepted
        connection.execute(insert, {**values, "stop_reason": "", "backend": "local"})
    with engine.connect() as connection, pytest.raises(IntegrityError, match=r"(?i)check"):
        connection.execute(insert, {**values, "stop_reason": stop_reason, "backend": backend})
