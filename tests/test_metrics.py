"""/metrics through the Prometheus client: its format, the request histogram's labels, access.

The scheduling pass's histogram is tested where jobs run (tests/jobs/test_jobs.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aisc.app import create_app
from aisc.settings import Settings
from tests.accounts.centre import Centre

REQUESTS = "aisc_http_request_duration_seconds"


def scrape(client: TestClient, **headers: str) -> dict[str, Any]:
    """The samples of one scrape: {name: [(labels, value), ...]} (the exposition must parse)."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def requests_counted(samples: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    return {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in samples.get(f"{REQUESTS}_count", [])
    }


def test_the_exposition_parses_and_holds_every_figure(client):
    samples = scrape(client)
    jobs = {labels["state"]: value for labels, value in samples["aisc_jobs"]}
    assert jobs["pending"] == 0
    assert jobs["running"] == 0
    assert samples["aisc_queue_length"] == [({}, 0.0)]
    assert samples["aisc_running_gpus"] == [({}, 0.0)]
    # The job loop's own figures come from the process that runs it: not this API-only server.
    assert "aisc_scheduler_passes_total" not in samples
    # OpenMetrics for a scraper that asks for it
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")


def test_a_server_with_its_worker_exports_the_job_loops_figures(engine, clock):
    app = create_app(Settings(metrics_public=True), engine=engine, clock=clock, with_worker=True)
    samples = scrape(TestClient(app))
    for name in (
        "aisc_scheduler_last_tick_seconds",
        "aisc_scheduler_passes_total",
        "aisc_jobs_started_total",
        "aisc_jobs_finished_total",
        "aisc_jobs_preempted_total",
        "aisc_scheduler_pass_seconds_count",
    ):
        assert samples[name] == [({}, 0.0)], name


def test_a_request_is_counted_under_its_route_template(client):
    assert client.get("/api/v1/jobs/424242").status_code == 404
    assert client.get("/api/v1/jobs/434343").status_code == 404
    assert client.get("/api/v1/jobs").status_code == 200
    counted = requests_counted(scrape(client))
    assert counted[("GET", "/api/v1/jobs/{job_id}", "4xx")] == 2
    assert counted[("GET", "/api/v1/jobs", "2xx")] == 1
    assert not [route for _, route, _ in counted if "424242" in route]
    buckets = scrape(client)[f"{REQUESTS}_bucket"]
    assert {labels["le"] for labels, _ in buckets} >= {"0.005", "1.0", "+Inf"}


def test_unknown_paths_and_methods_create_no_new_label_values(client):
    for n in range(5):
        client.get(f"/api/v1/nowhere-{n}")
        client.get(f"/no/such/page/{n}")
        client.request(f"BREW{n}", "/api/v1/jobs")
    counted = requests_counted(scrape(client))
    routes = {route for _, route, _ in counted}
    assert not [route for route in routes if "nowhere" in route or "such" in route]
    assert counted[("GET", "unmatched", "4xx")] == 10
    assert counted[("other", "/api/v1/jobs", "4xx")] == 5
    assert {method for method, _, _ in counted} == {"GET", "other"}
    assert {status for _, _, status in counted} <= {"2xx", "4xx"}


def test_requests_refused_before_routing_are_timed_too(client):
    big = client.post("/api/v1/organisations", content=b"x" * (3 * 1024 * 1024))
    assert big.status_code == 413
    assert requests_counted(scrape(client))[("POST", "unmatched", "4xx")] == 1


def test_each_application_has_its_own_registry(engine, clock):
    settings = Settings(metrics_public=True)
    first = TestClient(create_app(settings, engine=engine, clock=clock))
    second = TestClient(create_app(settings, engine=engine, clock=clock))
    first.get("/healthz")
    assert requests_counted(scrape(first))[("GET", "/healthz", "2xx")] == 1
    assert ("GET", "/healthz", "2xx") not in requests_counted(scrape(second))


def test_tenants_and_anonymous_callers_are_refused(engine, clock, uow):
    centre = Centre(uow, clock)
    with TestClient(create_app(engine=engine, clock=clock), base_url="https://testserver") as api:
        for persona in ("anonymous", "pi", "member", "outsider", "reviewer", "finance"):
            answer = api.get("/metrics", headers=centre.personas[persona].headers)
            assert answer.status_code == (401 if persona == "anonymous" else 403), persona
            assert "aisc_" not in answer.text
        operator = centre.personas["operator"].headers
        assert "aisc_jobs" in scrape(api, **operator)
