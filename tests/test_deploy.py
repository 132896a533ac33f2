"""deploy/: the dashboard refers only to exported figures, the settings example only to real
settings, and the units, the proxy and the scrape config agree with them."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from aisc.app import create_app
from aisc.db.engine import make_sessionmaker
from aisc.db.lease import Lease
from aisc.metrics import worker_registry
from aisc.settings import Settings
from aisc.slurm.loop import SlurmJobLoop
from tests.factories import World
from tests.test_metrics_platform import _Backend, parse

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "aisc-dashboard.json"

# What PromQL spells that is not a metric: functions are recognised by their "(", these are not.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and",
    "or", "unless", "inf", "nan", "le",
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (sample names, as Prometheus stores them:
    ``_total``, ``_bucket``, ``_count`` and ``_sum`` included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        if match.start() > 0 and (
            text[match.start() - 1].isdigit() or text[match.start() - 1] == "."
        ):
            continue  # the exponent of a number (1e-9)
        names.add(word)
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def test_the_expression_reader_finds_metrics_and_nothing_else():
    assert metric_names(
        "histogram_quantile(0.99, sum by (le, route) "
        '(rate(aisc_x_bucket{job="a", route=~"/b.*"}[5m])))'
    ) == {"aisc_x_bucket"}
    assert metric_names(
        "sum(rate(a_count{status='5xx'}[5m])) / clamp_min(sum without (instance) (b_total), 1e-9)"
    ) == {"a_count", "b_total"}
    assert metric_names("time() - max(c_timestamp_seconds) offset 1h") == {"c_timestamp_seconds"}


def exported_names(engine: Any, clock: Any, uow: Any) -> set[str]:
    """Every sample name the platform exports: a server with its worker (after requests, with
    partitions in the inventory) and a Slurm worker's registry after a tick."""
    World(uow)
    app = create_app(Settings(metrics_public=True), engine=engine, clock=clock, with_worker=True)
    app.state.worker.lead()  # the leader's figures exist once a worker has led
    api = TestClient(app)
    for path in ("/healthz", "/api/v1/jobs/1", "/nowhere"):
        api.get(path)
    names = set(parse(api.get("/metrics").text))
    names |= set(parse(generate_latest(app.state.worker.registry).decode()))
    slurm = SlurmJobLoop(
        make_sessionmaker(engine),
        _Backend(),
        Settings(executor="slurm"),
        clock,  # type: ignore[arg-type]
    )
    slurm.tick()
    lease = Lease(engine, holder="slurm-worker", clock=clock)
    names |= set(parse(generate_latest(worker_registry(slurm, lease)).decode()))
    return names


def test_the_dashboard_refers_only_to_exported_metrics(engine, clock, uow):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    used = set().union(*(metric_names(expr) for expr in exprs))
    exported = exported_names(engine, clock, uow)
    assert used - exported == set(), (
        f"the dashboard reads figures nobody exports: {used - exported}"
    )
    # What the issue asks the dashboard to show
    for name in (
        "aisc_http_request_duration_seconds_bucket",
        "aisc_http_request_duration_seconds_count",
        "aisc_scheduler_pass_seconds_bucket",
        "aisc_queue_length",
        "aisc_queue_pending_jobs",
        "aisc_jobs",
        "aisc_running_gpus",
        "aisc_slurm_up",
        "aisc_slurm_last_sync_timestamp_seconds",
        "aisc_billing_last_run_seconds",
        "aisc_notifications_pending",
    ):
        assert name in used, name
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_the_settings_example_names_only_real_settings(monkeypatch):
    names = []
    for line in (DEPLOY / "aisc.env.example").read_text().splitlines():
        line = line.strip().removeprefix("#").strip()
        found = re.match(r"^(AISC_[A-Z0-9_]+)=(.*)$", line)
        if found:
            names.append((found.group(1), found.group(2)))
    fields = {f"AISC_{name.upper()}" for name in Settings.model_fields}
    assert {name for name, _ in names} - fields == set()
    assert len(names) >= 20
    # and the values are valid: the example as the environment makes a Settings
    for name, value in names:
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.executor == "slurm"
    assert settings.cookie_secure
    assert settings.effective_database_url.startswith("postgresql+psycopg://")
    assert settings.trusted_proxies == ["127.0.0.1"]


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's keys, each with its values in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def exec_start(name: str) -> list[str]:
    (command,) = unit(name)["ExecStart"]
    return shlex.split(command)


def test_the_units_run_the_commands_the_issue_names():
    assert exec_start("aisc-server.service")[1:] == ["serve", "--workers", "2"]
    assert exec_start("aisc-worker.service")[1:] == ["worker", "--metrics-port", "9101"]
    assert "aisc backup --out" in unit("aisc-backup.service")["ExecStart"][0]
    assert unit("aisc-backup.timer")["OnCalendar"]
    for name in ("aisc-server.service", "aisc-worker.service", "aisc-backup.service"):
        keys = unit(name)
        assert keys["User"] == ["aisc"], name
        assert keys["NoNewPrivileges"] == ["yes"], name
        assert keys["ProtectSystem"] == ["strict"], name
        assert keys["EnvironmentFile"] == ["/etc/aisc/aisc.env"], name
    data_dir = Settings(**{"data_dir": "/var/lib/aisc"}).data_dir
    assert str(data_dir) in unit("aisc-server.service")["ReadWritePaths"][0]
    root = unit("aisc-worker.service")["ReadWritePaths"][0].split()
    assert "/srv/shared/aisc-jobs" in root  # AISC_SLURM_JOB_ROOT of the example
    local = unit("aisc-worker.service.d/local-executor.conf")
    assert local["User"] == ["root"]


def test_the_proxy_accepts_what_the_server_accepts_and_hides_metrics():
    conf = (DEPLOY / "nginx" / "aisc.conf").read_text()
    (size,) = re.findall(r"client_max_body_size\s+(\d+)m;", conf)
    example = (DEPLOY / "aisc.env.example").read_text()
    (upload,) = re.findall(r"^AISC_MAX_UPLOAD_BYTES=(\d+)$", example, re.MULTILINE)
    assert int(size) * 1024 * 1024 == int(upload) == Settings().max_upload_bytes
    assert "location = /metrics { return 404; }" in conf
    assert "Strict-Transport-Security" in conf
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf
    assert "X-Forwarded-Proto $scheme" in conf


def test_the_scrape_config_reaches_the_servers_and_the_worker():
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["aisc-api"]["metrics_path"] == "/metrics"
    assert jobs["aisc-api"]["authorization"]["type"] == "Bearer"
    port = exec_start("aisc-worker.service")[-1]
    assert jobs["aisc-worker"]["static_configs"][0]["targets"][0].endswith(f":{port}")
    # the dashboard's job filter names a job of this config
    dashboard = DASHBOARD.read_text()
    for name in re.findall(r'job=\\"([a-z-]+)\\"', dashboard):
        assert name in jobs, name
