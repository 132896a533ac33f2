"""Schemathesis over the OpenAPI document: generated requests against every operation, signed in
as each role (and anonymous) with real API tokens.

Bounded in examples so it stays quick (AISC_FUZZ_EXAMPLES raises the bound) and derandomized,
so that every run sends the same requests. A second test stretches every field of every operation
to its extremes, one at a time. Checks: no 5xx,
responses match their documented schemas and status codes. The database holds two tenants'
projects (tests/accounts/centre.py) so that ids in paths sometimes exist. Operations are driven
one by one through schemathesis' Hypothesis strategies (its pytest plugin does not run on the
pytest in use).
"""

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

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
            derandomize=True,  # the same requests every run: CI's answer does not vary
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=120)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


# --- every field at its extremes --------------------------------------------------------------
#
# Random generation seldom lands on the values that once made the platform answer 500: a year
# no calendar sum can leave, an integer past int64, NaN in a money field. Here every parameter
# and every body field of every operation gets each extreme of its type in turn, the rest of
# the request kept sensible (known ids where a field names one), as the CLI's all-rights
# principal so that each request gets past authorisation into the service. Any 5xx (or an
# exception out of the application) is a failure.

NAN, INF = float("nan"), float("inf")
EXTREMES: dict[str, list[Any]] = {
    "integer": [-1, 2**31, 2**63, 10**30, 1.5],
    "number": [-1, 1e308, 10**30, NAN, INF],
    "date": ["0001-01-01", "9999-12-31"],
    "date-time": ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    "string": ["", "x" * 10_000, "²٣𝟘 😀 \u202e\u200b 9999-12"],
}
# Query parameters are text: what a caller can type beyond the JSON numbers.
QUERY_EXTRA = {"integer": ["NaN", "²"], "number": ["NaN", "1e400"]}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(spec, o).get("type") != "null"]
            return _resolve(spec, options[0]) if options else {"type": "null"}
    return schema


def _kind(schema: dict[str, Any]) -> str | None:
    """Which extremes a field takes (None: a boolean, an enum, a list: nothing to stretch)."""
    if "enum" in schema or "const" in schema:
        return None
    kind = schema.get("type")
    if kind == "string" and schema.get("format") in ("date", "date-time"):
        return str(schema["format"])
    return kind if kind in ("integer", "number", "string") else None


class Sensible:
    """A plausible value for each field: the centre's own ids where a name says it is one."""

    def __init__(self, spec: dict[str, Any], centre: Centre) -> None:
        self.spec = spec
        self.ids = {
            "application_id": centre.app_a, "award_id": centre.award_a, "job_id": centre.job_a,
            "invoice_id": centre.invoice_a, "allocation_id": centre.alloc_a,
            "organisation_id": centre.uni, "person_id": centre.member,
            "created_by_id": centre.applicant, "submitted_by_id": centre.applicant,
            "reviewer_id": centre.reviewers[0], "decided_by_id": centre.secretariat,
            "viewer_id": centre.secretariat, "email": "someone@uni.example",
            "by_id": centre.secretariat, "request_id": centre.role_request,
            "token_id": centre.personas["pi"].spare_token_id, "name": "h800-000",
            "code": "H800-SXM5-80GB", "gpu_model": "H800-SXM5-80GB", "version": "v1",
            "partition": "training", "month": "2025-03", "previous_application_id": None,
        }  # fmt: skip

    def value(self, name: str, schema: dict[str, Any]) -> Any:
        schema = _resolve(self.spec, schema)
        if name in self.ids:
            return self.ids[name]
        if schema.get("default") is not None:
            return schema["default"]
        if "enum" in schema:
            return schema["enum"][0]
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "object":
            required = set(schema.get("required", ()))
            return {
                key: self.value(key, sub)
                for key, sub in schema.get("properties", {}).items()
                if key in required or self.ids.get(key) is not None
            }
        if kind == "array":
            return [self.value(name, schema.get("items", {}))] if schema.get("minItems") else []
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
        if kind == "number":
            return max(float(schema.get("minimum", 1)), 1.0)
        if kind == "boolean":
            return False
        if fmt == "date":
            return "2025-06-01"
        if fmt == "date-time":
            return "2025-04-01T00:00:00"
        return "x" * max(int(schema.get("minLength", 1)), 1)


def _body_fields(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path into the body, kind of extremes) of every field, nested objects included."""
    schema = _resolve(spec, schema)
    if schema.get("type") == "object" and "properties" in schema and len(path) < 3:
        for key, sub in schema["properties"].items():
            yield from _body_fields(spec, sub, (*path, key))
    elif path and (kind := _kind(schema)) is not None:
        yield path, kind


def _with(body: Any, path: tuple[str, ...], value: Any) -> Any:
    """``body`` with the field at ``path`` set to ``value`` (intermediate objects made)."""
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    return body


def _arguments(
    method: str, template: str, path: dict[str, Any], query: dict[str, Any], body: Any
) -> dict[str, Any]:
    """What ``TestClient.request`` takes; NaN and the infinities go out as JSON's extensions."""
    url = template.format(**{k: quote(str(v), safe="") for k, v in path.items()})
    arguments: dict[str, Any] = {"method": method.upper(), "url": url, "params": query}
    if body is not None:
        arguments["content"] = json.dumps(body, allow_nan=True)
        arguments["headers"] = {"content-type": "application/json"}
    return arguments


def _requests(spec: dict[str, Any], sensible: Sensible) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what is stretched, the request's arguments) for every field of every operation."""
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {template}"
            params = {p["name"]: p for p in operation.get("parameters", [])}
            path = {
                n: sensible.value(n, p["schema"]) for n, p in params.items() if p["in"] == "path"
            }
            query = {
                n: sensible.value(n, p["schema"])
                for n, p in params.items()
                if p["in"] == "query" and p.get("required")
            }
            content = operation.get("requestBody", {}).get("content", {})
            body_schema = content.get("application/json", {}).get("schema")
            body = sensible.value("", body_schema) if body_schema else None
            for name, param in params.items():
                kind = _kind(_resolve(spec, param["schema"]))
                if kind is None or param["in"] not in ("path", "query"):
                    continue
                for value in EXTREMES[kind] + QUERY_EXTRA.get(kind, []):
                    text = str(value)
                    if param["in"] == "path":
                        arguments = _arguments(method, template, {**path, name: text}, query, body)
                    else:
                        arguments = _arguments(method, template, path, {**query, name: text}, body)
                    yield f"{label} {name}={text[:24]!r}", arguments
            if body_schema is not None:
                for field_path, kind in _body_fields(spec, body_schema):
                    for value in EXTREMES[kind]:
                        changed = _with(body, field_path, value)
                        yield (f"{label} body.{'.'.join(field_path)}={str(value)[:24]!r}",
                               _arguments(method, template, path, query, changed))  # fmt: skip


def test_no_field_at_its_extremes_reaches_a_500(engine, clock, uow, client):
    centre = Centre(uow, clock)
    spec = client.app.openapi()
    failures, sent = [], 0
    for what, arguments in _requests(spec, Sensible(spec, centre)):
        sent += 1
        try:
            answer = client.request(**arguments)
        except Exception as exc:  # the application raised: what a server answers 500 to
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if answer.status_code >= 500:
            failures.append(f"{what}: {answer.status_code} {answer.text[:200]}")
    assert sent > 1000
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures)
