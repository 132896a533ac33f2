"""Decisions', allocations' and applications' JSON columns migration keeps every row and every
value, both ways, on each backend."""

import json

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from aisc.allocations.models import Allocation
from aisc.applications.models import Application
from aisc.db.engine import make_sessionmaker
from aisc.db.migrate import alembic_config, current_revision, head_revision, upgrade
from aisc.review.models import Decision

REVISION = "0017"

DECISIONS = [
    {
        "reasons": [
            {"code": "capability", "text": 'Strong team; "quoted" and 中文 text, a\\b.'},
            {"code": "other", "text": ""},
        ],
        "conditions": ["Report quarterly.", "  ", "Cite the centre: 'AISC'."],
    },
    {"reasons": [], "conditions": []},
    {"reasons": [{"code": "impact", "text": "1e3"}], "conditions": ["0", "null"]},
]
NODE_NAMES = [["h800-000", "h800-001"], [], ["gpu-a01"]]
# None: never screened (SQL NULL); [] screened without findings.
FINDINGS = [
    [
        {"code": "duplicate", "message": "Same title as application 1.", "field": "title"},
        {"code": "unverified", "message": 'Category "university" 未核實.', "field": None},
    ],
    [],
    None,
]


def _before() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


def _copy(connection, table: str, template: int, values: dict[str, str | None]) -> None:
    """Insert a copy of row ``template`` of ``table`` with ``values`` (raw column text)."""
    columns = [c["name"] for c in inspect(connection).get_columns(table) if c["name"] != "id"]
    chosen = ", ".join(f":{c}" if c in values else c for c in columns)
    connection.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {chosen} FROM {table} WHERE id = :template"
        ),
        {**values, "template": template},
    )


def _dump(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def _stored(engine, table: str, columns: str, ids: list[int]) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(f"SELECT {columns} FROM {table} WHERE id > :low ORDER BY id"),
                {"low": ids[-1]},
            )
        ]


@pytest.fixture
def world(uow):
    from tests.factories import World

    world = World(uow)
    world.approve(world.reviewed())
    return world


def test_json_columns_migrate_up_and_down_without_losing_a_row(engine, world):
    templates: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for table in ("decisions", "allocations", "applications"):
            templates[table] = list(
                connection.execute(text(f"SELECT id FROM {table} ORDER BY id")).scalars()
            )
            assert templates[table], table
    before = _before()
    config = alembic_config(engine)
    command.downgrade(config, before)
    try:
        assert current_revision(engine) == before
        with engine.begin() as connection:
            for row in DECISIONS:
                _copy(
                    connection,
                    "decisions",
                    templates["decisions"][0],
                    {"reasons": _dump(row["reasons"]), "conditions": _dump(row["conditions"])},
                )
            for names in NODE_NAMES:
                _copy(
                    connection,
                    "allocations",
                    templates["allocations"][0],
                    {"node_names": _dump(names)},
                )
            for findings in FINDINGS:
                _copy(
                    connection,
                    "applications",
                    templates["applications"][0],
                    {"screening_findings": _dump(findings)},
                )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with make_sessionmaker(engine)() as db:
            decisions = list(
                db.execute(
                    select(Decision)
                    .where(Decision.id > templates["decisions"][-1])
                    .order_by(Decision.id)
                ).scalars()
            )
            allocations = list(
                db.execute(
                    select(Allocation)
                    .where(Allocation.id > templates["allocations"][-1])
                    .order_by(Allocation.id)
                ).scalars()
            )
            applications = list(
                db.execute(
                    select(Application)
                    .where(Application.id > templates["applications"][-1])
                    .order_by(Application.id)
                ).scalars()
            )
            assert [(d.reasons, d.conditions) for d in decisions] == [
                (row["reasons"], row["conditions"]) for row in DECISIONS
            ]
            assert [a.node_names for a in allocations] == NODE_NAMES
            assert [a.screening_findings for a in applications] == FINDINGS
            # Not screened stays SQL NULL, not JSON null.
            assert db.execute(
                select(Application.id).where(
                    Application.id > templates["applications"][-1],
                    Application.screening_findings.is_(None),
                )
            ).scalars().all() == [applications[-1].id]

        command.downgrade(config, before)
        stored = _stored(engine, "decisions", "reasons, conditions", templates["decisions"])
        assert [(json.loads(r), json.loads(c)) for r, c in stored] == [
            (row["reasons"], row["conditions"]) for row in DECISIONS
        ]
        stored = _stored(engine, "allocations", "node_names", templates["allocations"])
        assert [json.loads(names) for (names,) in stored] == NODE_NAMES
        stored = _stored(engine, "applications", "screening_findings", templates["applications"])
        assert [None if f is None else json.loads(f) for (f,) in stored] == FINDINGS
    finally:
        upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_an_unbound_allocation_still_defaults_to_no_nodes(engine, world):
    """The database default survives the type change (rows inserted without the column)."""
    with engine.connect() as connection:
        template = connection.execute(text("SELECT min(id) FROM allocations")).scalar_one()
        columns = [
            c["name"]
            for c in inspect(connection).get_columns("allocations")
            if c["name"] not in ("id", "node_names")
        ]
    with engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO allocations ({', '.join(columns)}) "
                f"SELECT {', '.join(columns)} FROM allocations WHERE id = :template"
            ),
            {"template": template},
        )
    with make_sessionmaker(engine)() as db:
        newest = db.execute(select(Allocation).order_by(Allocation.id.desc())).scalars().first()
        assert newest is not None
        assert newest.node_names == []
