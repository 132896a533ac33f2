"""Schemathesis over the OpenAPI document: generated requests against every operation, signed in
as each role (and anonymous) with real API tokens.

Bounded in examples so it stays quick (AISC_FUZZ_EXAMPLES raises the bound). Checks: no 5xx,
responses match their documented schemas and status codes. The database holds two tenants'
projects (tests/accounts/centre.py) so that ids in paths sometimes exist. Operations are driven
one by one through schemathesis' Hypothesis strategies (its pytest plugin does not run on the
pytest in use).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from aisc.app import create_app
from tests.accounts.centre import Centre

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# More examples for a deeper hunt (AISC_FUZZ_EXAMPLES=50 make test); CI runs the default.
EXAMPLES = int(os.environ.get("AISC_FUZZ_EXAMPLES", "4"))
ROLES = ["anonymous", "pi", "reviewer", "secretariat", "operator", "finance", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_generated_requests(engine, clock, uow, role):
    centre = Centre(uow, clock)
    headers = centre.personas[role].headers
    # The schema is built on the first request (about a second alone, far more on a loaded
    # two-core machine): the loader's default 10 s once timed out in CI.
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", create_app(engine=engine, clock=clock), timeout=120
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=120)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
