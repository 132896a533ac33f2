"""Readiness: /readyz and `aisc status` say whether the database answers, the schema is at head
and a worker leads, and why not; the leader on /metrics."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from aisc.app import create_app
from aisc.db.engine import make_engine
from aisc.db.lease import LEASE_TTL_S, Lease


def checks(response) -> dict[str, bool]:
    return {name: check["ok"] for name, check in response.json()["checks"].items()}


def test_ready_only_while_a_worker_leads(api, clock):
    response = api.get("/readyz")  # no credentials needed
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert checks(response) == {"database": True, "schema": True, "worker": False}
    assert "no worker has ever led" in response.json()["checks"]["worker"]["reason"]
    worker = api.app.state.worker
    assert worker.lead()
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert worker.lease.holder not in response.text  # no worker's identity to anyone
    clock.advance(seconds=LEASE_TTL_S + 1)  # the worker stopped renewing
    response = api.get("/readyz")
    assert response.status_code == 503
    assert checks(response)["worker"] is False
    assert response.headers["content-type"] == "application/json"  # never the portal's page


def test_not_ready_without_a_schema_or_a_database(tmp_path: Path, clock):
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(engine=empty, clock=clock)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert checks(response) == {"database": True, "schema": False, "worker": False}
    assert "aisc db upgrade" in response.json()["checks"]["schema"]["reason"]

    missing = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    with TestClient(create_app(engine=missing, clock=clock)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert checks(response) == {"database": False, "schema": False, "worker": False}
    assert response.json()["checks"]["database"]["reason"] == "the database does not answer"
    assert str(tmp_path) not in response.text  # the driver's error text stays inside


def test_readyz_is_kept_out_of_the_api_document(client):
    assert "/readyz" not in client.get("/api/v1/openapi.json").json()["paths"]


def test_aisc_status_says_the_same_and_exits_6_when_not_ready(cli, engine):
    result = cli("status", expect=6)
    assert "worker:    NOT OK" in result.output
    assert result.output.strip().endswith("NOT READY")
    lease = Lease(engine)  # a worker on the wall clock, as `aisc status` reads it
    assert lease.acquire()
    report = json.loads(cli("status", "--json").output)
    assert report["ready"] is True
    assert report["schema"]["revision"] == report["schema"]["head"]
    assert report["leader"]["holder"] == lease.holder
    assert report["leader"]["token"] == 1
    assert report["leader"]["heartbeat_age_s"] < LEASE_TTL_S
    lease.release()
    assert json.loads(cli("status", "--json", expect=6).output)["checks"]["worker"]["ok"] is False


def test_the_leader_on_metrics(client):
    assert "aisc_worker_leader_token" not in client.get("/metrics").text  # nobody led yet
    worker = client.app.state.worker
    assert worker.lead()
    text = client.get("/metrics").text
    assert "aisc_worker_leader_token 1.0" in text
    assert "# TYPE aisc_worker_heartbeat_age_seconds gauge" in text
