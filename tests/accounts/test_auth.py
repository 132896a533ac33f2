import json

import pytest
from sqlalchemy import select

from aisc.accounts import auth
from aisc.accounts.models import ApiToken, Person
from aisc.accounts.schemas import PersonCreate
from aisc.accounts.service import create_person
from aisc.audit.models import AuditEvent
from aisc.errors import InvalidTransition, ValidationFailed
from tests.helpers import refused

GOOD = "Harbour-Lights-2025"


@pytest.fixture
def person_id(uow):
    with uow() as ctx:
        return create_person(ctx, data=PersonCreate(email="ada@lab.example", name="Ada")).id


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("short1!A", "at least 12 characters"),
        ("Password1234", "too easy to guess (This is similar to a commonly used password)"),
        ("qwertyuiop123", "too easy to guess"),
        ("Lovelace2025!", "too easy to guess"),
        ("ada-Secret-Passw0rd", "must not contain your e-mail address"),
        ("x" * 257, "at most 256 characters"),
    ],
)
def test_the_password_policy_says_what_is_wrong(uow, person_id, bad, why):
    with uow() as ctx:
        ctx.db.get(Person, person_id).name = "Ada Lovelace"
    with uow() as ctx, pytest.raises(ValidationFailed) as info:
        auth.set_password(ctx, person_id=person_id, password=bad)
    assert info.value.field == "password"
    assert why in info.value.message


@pytest.mark.parametrize("good", ["alllowercaseletters", "violet staple harbour", "Z" + "q7" * 127])
def test_long_plain_passphrases_pass_without_composition_rules(uow, person_id, good):
    with uow() as ctx:
        auth.set_password(ctx, person_id=person_id, password=good)


def test_passwords_are_stored_as_argon2_hashes_and_never_audited(uow, person_id):
    with uow() as ctx:
        auth.set_password(ctx, person_id=person_id, password=GOOD)
    with uow() as ctx:
        stored = ctx.db.get(Person, person_id).password_hash
        assert stored.startswith("$argon2")
        assert GOOD not in stored
        trail = " ".join(e.after for e in ctx.db.execute(select(AuditEvent)).scalars())
        assert GOOD not in trail
        assert "$argon2" not in trail


def test_production_hashes_cost_what_rfc_9106_recommends():
    # The suite hashes at the lowest cost (tests/conftest.py); production must not.
    from tests.conftest import PRODUCTION_HASHER

    assert PRODUCTION_HASHER.type.name == "ID"
    assert PRODUCTION_HASHER.time_cost >= 3
    assert PRODUCTION_HASHER.memory_cost >= 64 * 1024
    assert auth._hasher is not PRODUCTION_HASHER


def test_sign_in_locks_after_five_failures_for_fifteen_minutes(uow, person_id, clock):
    with uow() as ctx:
        auth.set_password(ctx, person_id=person_id, password=GOOD)
    with uow() as ctx:
        assert auth.authenticate(ctx, email="ADA@lab.example", password=GOOD).id == person_id
    for _ in range(auth.MAX_FAILURES):
        with uow() as ctx:
            assert auth.authenticate(ctx, email="ada@lab.example", password="wrong") is None
    with uow() as ctx:  # locked: even the right password is refused
        assert auth.authenticate(ctx, email="ada@lab.example", password=GOOD) is None
    clock.advance(minutes=16)
    with uow() as ctx:
        assert auth.authenticate(ctx, email="ada@lab.example", password=GOOD) is not None
    with uow() as ctx:
        assert auth.authenticate(ctx, email="nobody@lab.example", password=GOOD) is None


def test_tokens_are_hashed_scoped_expiring_and_revocable(uow, person_id, clock):
    with uow() as ctx:
        secret, _token = auth.create_token(
            ctx, person_id=person_id, name="ci", scopes=["read"], days=1
        )
    assert secret.startswith("aisc_")
    with uow() as ctx:
        stored = ctx.db.execute(select(ApiToken)).scalar_one()
        assert secret not in (stored.secret_hash, stored.prefix)
        person, scopes = auth.resolve_token(ctx, secret=secret)
        assert (person.id, scopes) == (person_id, frozenset({"read"}))
        assert auth.resolve_token(ctx, secret=secret + "x") is None
        assert auth.resolve_token(ctx, secret="Bearer nonsense") is None
        trail = " ".join(e.after for e in ctx.db.execute(select(AuditEvent)).scalars())
        assert secret not in trail
    clock.advance(days=1, seconds=1)
    with uow() as ctx:
        assert auth.resolve_token(ctx, secret=secret) is None  # expired
        secret2, token2 = auth.create_token(
            ctx, person_id=person_id, name="ci2", scopes=["read", "write"]
        )
    with uow() as ctx:
        auth.revoke_token(ctx, token_id=token2.id)
    with uow() as ctx:
        assert auth.resolve_token(ctx, secret=secret2) is None
        with pytest.raises(InvalidTransition):
            auth.revoke_token(ctx, token_id=token2.id)
        with pytest.raises(ValidationFailed):
            auth.create_token(ctx, person_id=person_id, name="x", scopes=["root"])
        with pytest.raises(ValidationFailed):
            auth.create_token(ctx, person_id=person_id, name="x", scopes=["read"], days=999)


def test_token_and_password_cli(cli, person_id, uow):
    assert "password set" in cli("person", "set-password", str(person_id), input=GOOD + "\n").output
    refused(
        cli, "person", "set-password", str(person_id), input="weak\n", expect=2,
        says="password: needs at least 12 characters", uow=uow,
    )  # fmt: skip
    created = json.loads(
        cli(
            "token",
            "create",
            "--person",
            str(person_id),
            "--name",
            "laptop",
            "--scope",
            "read",
            "--scope",
            "write",
            "--json",
        ).output
    )
    assert created["secret"].startswith("aisc_")
    assert created["scopes"] == "read write"
    listed = json.loads(cli("token", "list", "--person", str(person_id), "--json").output)
    assert [t["id"] for t in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert created["secret"] not in cli("token", "list").output
    assert "revoked" in cli("token", "revoke", str(created["id"])).output
    refused(cli, "token", "revoke", str(created["id"]), expect=4, says="already revoked", uow=uow)
    refused(
        cli, "token", "create", "--person", str(person_id), "--name", "x", "--scope", "god",
        expect=2, says="scopes: choose from read, write", uow=uow,
    )  # fmt: skip
    assert len(json.loads(cli("token", "list", "--person", str(person_id), "--json").output)) == 1
    assert "aisc_" in cli("token", "create", "--person", str(person_id), "--name", "y").output


def test_a_callers_lookup_is_one_statement_and_agrees_with_resolve(uow, clock, engine):
    """What every API request runs: the token or session, the person's roles and
    organisations, in one statement; refused exactly when ``resolve_token``/``resolve_session``
    refuse (wrong, expired, revoked, the person inactive)."""
    from sqlalchemy import event

    from aisc.accounts.models import OrgCategory, Role
    from aisc.accounts.schemas import OrganisationCreate
    from aisc.accounts.service import create_organisation

    with uow() as ctx:
        orgs = [
            create_organisation(
                ctx, data=OrganisationCreate(name=f"Lab {n}", category=OrgCategory.UNIVERSITY)
            ).id
            for n in range(2)
        ]
        person = create_person(
            ctx,
            data=PersonCreate(
                email="grace@lab.example",
                name="Grace",
                roles=[Role.APPLICANT, Role.REVIEWER],
                organisation_ids=orgs,
            ),
        )
        lonely = create_person(ctx, data=PersonCreate(email="lin@lab.example", name="Lin"))
        secret, _ = auth.create_token(
            ctx, person_id=person.id, name="ci", scopes=["read", "write"], days=1
        )
        bare, _ = auth.create_token(ctx, person_id=lonely.id, name="ci", scopes=["read"], days=2)
        cookie, session = auth.start_session(ctx, person=person)
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with uow() as ctx:
            statements.clear()
            caller = auth.caller_by_token(ctx, secret=secret)
            assert len(statements) == 1
            assert caller == auth.Caller(
                person_id=person.id,
                roles=frozenset({Role.APPLICANT, Role.REVIEWER}),
                organisation_ids=frozenset(orgs),
                scopes=frozenset({"read", "write"}),
            )
            by_cookie = auth.caller_by_session(ctx, secret=cookie)
            assert (by_cookie.person_id, by_cookie.session_id) == (person.id, session.id)
            assert by_cookie.csrf_token == session.csrf_token
            assert by_cookie.roles == caller.roles
            plain = auth.caller_by_token(ctx, secret=bare)
            assert (plain.roles, plain.organisation_ids) == (frozenset(), frozenset())
            assert plain.scopes == frozenset({"read"})
            for wrong in (secret + "x", "Bearer nonsense", ""):
                assert auth.caller_by_token(ctx, secret=wrong) is None
            assert auth.caller_by_session(ctx, secret=cookie + "x") is None
    finally:
        event.remove(engine, "before_cursor_execute", count)
    clock.advance(days=1, seconds=1)  # the first token expired, the second not
    with uow() as ctx:
        assert auth.caller_by_token(ctx, secret=secret) is None
        assert auth.resolve_token(ctx, secret=secret) is None
        assert auth.caller_by_token(ctx, secret=bare) is not None
    with uow() as ctx:
        ctx.db.get(Person, lonely.id).is_active = False
    with uow() as ctx:
        assert auth.caller_by_token(ctx, secret=bare) is None
        assert auth.resolve_token(ctx, secret=bare) is None
