import json
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal

from fastapi.testclient import TestClient

from aisc.app import create_app
from aisc.db.engine import make_engine
from aisc.demo import is_demo_database
from tests.conftest import COMMANDS_RUN
from tests.factories import World


def test_stats_are_computed_from_applications_decisions_and_the_ledger(client, cli, uow, clock):
    world = World(uow)
    world.create(title="Never submitted")  # a draft: not received
    approved = world.reviewed()  # 16 cards x 6 months: list 2,880,000, 70%
    clock.advance(days=30)
    world.approve(approved)
    exceptional = world.reviewed(title="Exceptional project", compute={"gpu_cards": 8})
    clock.advance(days=10)
    world.approve(exceptional, subsidy_rate="0.9", exceptional_justification="unique")
    rejected = world.reviewed(title="Weak project", scores=2)
    clock.advance(days=20)
    client.post(
        f"/api/v1/applications/{rejected}/decision",
        json={
            "outcome": "reject",
            "decided_by_id": world.secretariat,
            "reasons": [{"code": "impact", "text": "unclear"}],
        },
    )
    withdrawn = world.create(title="Withdrawn project")
    client.post(f"/api/v1/applications/{withdrawn}/submit")
    client.post(f"/api/v1/applications/{withdrawn}/withdraw")
    world.to_review(
        title="Pending project",
        organisation_id=world.startup,
        created_by_id=world.startup_pi,
        domain="medical",
    )
    award_id = client.get("/api/v1/awards").json()[0]["id"]
    client.post("/api/v1/ledger/disbursements", json={"award_id": award_id, "amount_hkd": "1000"})
    client.post("/api/v1/ledger/releases", json={"award_id": award_id, "amount_hkd": "16000"})

    stats = client.get("/api/v1/scheme/stats").json()
    today = clock().date().isoformat()
    assert stats == json.loads(cli("scheme", "stats", "--json", "--as-of", today).output)
    assert (
        stats["applications_received"],
        stats["approved"],
        stats["rejected"],
        stats["pending"],
        stats["withdrawn"],
        stats["drafts"],
    ) == (5, 2, 1, 1, 1, 1)
    # commitments 2,016,000 + 8 x 6 x 30,000 x 0.9 = 1,296,000; minus the 16,000 released
    assert stats["committed_hkd"] == "3296000.00"
    assert stats["disbursed_hkd"] == "1000.00"
    assert stats["available_hkd"] == "2896704000.00"
    # (2,880,000 x 0.7 + 1,440,000 x 0.9) / 4,320,000
    assert Decimal(stats["average_subsidy_rate"]) == Decimal("0.7667")
    # days from submission to decision: 30, 10 and 20
    assert stats["median_days_to_decision"] == "20.0"
    assert stats["by_category"]["university"]["approved"] == 2
    assert stats["by_category"]["ai_startup"]["pending"] == 1
    # Net of the 16,000 released: the domains add up to the scheme's committed figure.
    assert stats["by_domain"]["llm"]["committed_hkd"] == "3296000.00"
    assert stats["by_domain"]["llm"]["average_subsidy_rate"] == "0.7667"
    assert stats["by_domain"]["medical"]["applications_received"] == 1
    human = cli("scheme", "stats").output
    assert "applications_received        5" in human
    assert "by category" in human


def _figures(stats):
    return (
        stats["applications_received"],
        stats["approved"],
        stats["rejected"],
        stats["pending"],
        stats["withdrawn"],
        stats["committed_hkd"],
    )


def test_stats_as_of_any_past_day_come_from_the_records(client, cli, uow, clock):
    """A history built day by day, then asked about each day afterwards (hand-computed)."""
    world = World(uow)
    uni_app = world.reviewed()  # submitted 2025-01-10; 16 cards x 6 x 30,000 = 2,880,000
    clock.advance(days=30)  # 2025-02-09
    world.approve(uni_app)  # cap 2,016,000 at 70%
    startup_app = world.reviewed(
        title="Start-up vision model",
        organisation_id=world.startup,
        created_by_id=world.startup_pi,
        domain="medical",
        compute={"gpu_cards": 8},
    )  # submitted 2025-02-09; 8 x 6 x 30,000 = 1,440,000
    clock.advance(days=10)  # 2025-02-19
    world.approve(startup_app, subsidy_rate="0.8", exceptional_justification="unique")
    withdrawn = world.create(title="Withdrawn project")
    client.post(f"/api/v1/applications/{withdrawn}/submit")
    clock.advance(days=5)  # 2025-02-24
    client.post(f"/api/v1/applications/{withdrawn}/withdraw")
    clock.advance(days=6)  # 2025-03-02: the start-up never accepted its offer
    startup_award = next(
        a for a in client.get("/api/v1/awards").json() if a["application_id"] == startup_app
    )
    closed = client.post(
        f"/api/v1/awards/{startup_award['id']}/close",
        json={"outcome": "terminated", "reason": "offer never accepted"},
    )
    assert closed.status_code == 200, closed.text

    def as_of(day: str) -> dict:
        stats = client.get("/api/v1/scheme/stats", params={"as_of": day}).json()
        assert stats["as_of"] == day
        return stats

    # (received, approved, rejected, pending, withdrawn, committed)
    assert _figures(as_of("2025-01-09")) == (0, 0, 0, 0, 0, "0.00")
    assert as_of("2025-01-09")["average_subsidy_rate"] is None
    assert _figures(as_of("2025-01-10")) == (1, 0, 0, 1, 0, "0.00")
    feb9 = as_of("2025-02-09")
    assert _figures(feb9) == (2, 1, 0, 1, 0, "2016000.00")
    assert feb9["average_subsidy_rate"] == "0.7000"
    assert feb9["median_days_to_decision"] == "30.0"
    assert "ai_startup" in feb9["by_category"]
    assert feb9["by_category"]["ai_startup"]["committed_hkd"] == "0.00"
    feb19 = as_of("2025-02-19")
    # the start-up's cap: 1,440,000 x 0.8 = 1,152,000
    assert _figures(feb19) == (3, 2, 0, 1, 0, "3168000.00")
    # (2,880,000 x 0.7 + 1,440,000 x 0.8) / 4,320,000
    assert feb19["average_subsidy_rate"] == "0.7333"
    assert feb19["by_category"]["ai_startup"]["average_subsidy_rate"] == "0.8000"
    assert feb19["by_category"]["university"]["average_subsidy_rate"] == "0.7000"
    assert feb19["by_domain"]["medical"]["committed_hkd"] == "1152000.00"
    assert feb19["median_days_to_decision"] == "20.0"  # 30 and 10 days
    assert _figures(as_of("2025-02-24")) == (3, 2, 0, 0, 1, "3168000.00")
    march = as_of("2025-03-02")
    assert _figures(march) == (3, 2, 0, 0, 1, "2016000.00")
    assert march["released_hkd"] == "1152000.00"
    # After the termination's release the categories still add up to the scheme's figure.
    for group in ("by_category", "by_domain"):
        total = sum(Decimal(row["committed_hkd"]) for row in march[group].values())
        assert total == Decimal(march["committed_hkd"]), group
    assert march["by_category"]["ai_startup"]["committed_hkd"] == "0.00"
    assert set(march["outcomes"].values()) == {0}  # no progress report accepted yet
    # The same day asked later, and through the command line, gives the same figures.
    clock.advance(days=100)
    assert as_of("2025-02-19") == feb19
    assert json.loads(cli("scheme", "stats", "--as-of", "2025-02-19", "--json").output) == feb19
    assert "average rate 0.8000" in cli("scheme", "stats", "--as-of", "2025-02-19").output


def test_demo_reproduces_the_public_record(tmp_path, cli_at):
    db = tmp_path / "demo.db"
    cli = cli_at(f"sqlite:///{db}")
    # Built on a pinned day: the public record replayed, then carried on to that day.
    built = cli("demo", "--db", str(db), "--no-serve", "--today", "2026-12-03")
    record = re.search(
        r"the public record as of 2025-07-31: (\d+) applications received, (\d+) approved, "
        r"HK\$([\d,.]+) committed at an average rate of ([\d.]+), ([\d.]+)% of installed",
        built.output,
    )
    assert record is not None, built.output
    assert int(record[1]) > 20
    assert int(record[2]) == 10
    assert Decimal(record[3].replace(",", "")) > Decimal("300000000")
    assert Decimal("0.68") <= Decimal(record[4]) <= Decimal("0.72")
    assert Decimal(record[5]) > 90
    # Six months billed (the first awards started in January 2025), a credit note, every month
    # reconciled; about 80% measured use.
    assert "record billed 2025-01 to 2025-06" in built.output
    assert "every month reconciles to the cent" in built.output
    # The centre today: busy, billed through last month.
    now = re.search(
        r"carried on to 2026-12-03: .* ([\d.]+)% of installed GPUs allocated this month, "
        r"dedicated allocations ([\d.]+)% busy; billed through 2026-11",
        built.output,
    )
    assert now is not None, built.output
    assert Decimal("70") <= Decimal(now[1]) <= Decimal("95")
    assert Decimal("70") <= Decimal(now[2]) <= Decimal("95")
    today = json.loads(cli("scheme", "stats", "--as-of", "2026-12-03", "--json").output)
    assert Decimal("70") <= Decimal(today["allocated_pct_now"]) <= Decimal("95")
    for month in ("2025-01", "2025-03", "2025-06", "2026-11"):
        assert "balanced to the cent" in cli("billing", "reconcile", "--month", month).output
    busy = json.loads(cli("billing", "busy", "--as-of", "2025-07-01", "--json").output)
    assert Decimal("75") <= Decimal(busy["busy_pct"]) <= Decimal("85")
    invoices = json.loads(cli("billing", "invoices", "--json").output)
    assert len(invoices) > 20
    assert any(i["credit_notes"] for i in invoices)
    logins = re.findall(r"^  (\w+) +(\S+@\S+) +(\S+)$", built.output, re.MULTILINE)
    roles = {"applicant", "secretariat", "reviewer", "operator", "finance", "auditor"}
    assert {role for role, _e, _p in logins} == roles
    assert len([role for role, _e, _p in logins if role == "reviewer"]) >= 2  # a quorum
    # Each printed login signs in, and sees what its role may see.
    api = TestClient(create_app(engine=make_engine(f"sqlite:///{db}")), base_url="https://demo")
    for role, email, password in logins:
        signed = api.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert signed.status_code == 200, (role, signed.text)
        api.cookies.clear()
    wrong = api.post("/api/v1/auth/login", json={"email": logins[0][1], "password": "x"})
    assert wrong.status_code == 401
    # The scheme since: more approved, at the same rates (none above the published ones).
    stats = json.loads(cli("scheme", "stats", "--json").output)
    assert stats["applications_received"] > 20
    # The record as of the end of June 2025, as officials quote it.
    june = json.loads(cli("scheme", "stats", "--as-of", "2025-06-30", "--json").output)
    assert june["applications_received"] > 20
    assert june["approved"] == 10
    assert Decimal(june["committed_hkd"]) > Decimal("300000000")
    assert Decimal("0.68") <= Decimal(june["average_subsidy_rate"]) <= Decimal("0.72")
    assert sum(Decimal(r["committed_hkd"]) for r in june["by_category"].values()) == Decimal(
        june["committed_hkd"]
    )
    assert stats["approved"] > 10  # the centre carried on: more approved since
    assert Decimal(stats["committed_hkd"]) > Decimal("300000000")
    assert Decimal("0.68") <= Decimal(stats["average_subsidy_rate"]) <= Decimal("0.72")
    assert stats["rejected"] >= 3
    assert stats["pending"] >= 3
    assert {"university", "research_institute", "ai_startup", "enterprise", "public_body"} <= set(
        stats["by_category"]
    )
    assert len(stats["by_domain"]) >= 5
    reasons = set()
    for app in json.loads(cli("app", "list", "--status", "rejected", "--json").output):
        for decision in json.loads(cli("review", "decisions", str(app["id"]), "--json").output):
            reasons.update(r["code"] for r in decision["reasons"])
    assert {"no_local_rnd_staff", "hk_relevance_missing"} <= reasons
    assert "audit chain intact" in cli("audit", "verify").output
    # The hardware: phase 1 is about 1,300 PFLOPS of dense BF16, phase 2 about 3,000.
    opening = json.loads(cli("cluster", "capacity", "--as-of", "2024-12-09", "--json").output)
    assert opening["installed_gpus"] == 1312
    assert opening["installed_pflops"]["bf16_dense"] == "1297.6"
    phase2 = json.loads(cli("cluster", "capacity", "--as-of", "2025-12-31", "--json").output)
    assert Decimal(phase2["by_model"][0]["pflops"]["bf16_dense"]) == Decimal("2998.6")
    assert {m["gpu_model"] for m in phase2["by_model"]} == {"H800-SXM5-80GB", "L40S-48GB"}
    # More than 90% of the available GPUs allocated in mid-2025, as officials said.
    mid_2025 = json.loads(cli("scheme", "stats", "--as-of", "2025-07-31", "--json").output)
    assert Decimal(mid_2025["allocated_pct_now"]) > 90
    assert len(json.loads(cli("alloc", "list", "--json").output)) > 10
    # A few real jobs ran through the local executor.
    jobs = json.loads(cli("jobs", "list", "--json").output)
    assert sorted(j["state"] for j in jobs) == ["completed", "completed", "completed", "failed"]
    assert "pi ~ 3.14159" in cli("jobs", "logs", str(jobs[0]["id"])).output
    # Rebuilding needs --replace; a database that is not a demo is never replaced.
    built = db.stat().st_mtime_ns
    assert "pass --replace" in cli("demo", "--db", str(db), "--no-serve", expect=4).output
    assert db.stat().st_mtime_ns == built
    # Built on the record's own date, the demo stops there (nothing to carry on).
    rebuilt = cli("demo", "--db", str(db), "--no-serve", "--replace", "--today", "2025-07-31")
    assert "10 approved" in rebuilt.output
    assert "carried on" not in rebuilt.output
    real = tmp_path / "real.db"
    fresh = cli_at(f"sqlite:///{real}")
    assert "aisc db upgrade" in fresh("scheme", "init", expect=6).output
    fresh("db", "upgrade")
    fresh("scheme", "init")
    refused = cli("demo", "--db", str(real), "--no-serve", "--replace", expect=4)
    assert "not the demo" in refused.output


def test_a_demo_database_is_told_from_any_other_file(tmp_path, cli_at):
    """What ``aisc demo --replace`` asks before deleting a file: only a demo centre goes."""
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 100)
    assert is_demo_database(notes) is None
    assert notes.read_text() == "not a database\n" * 100
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE schemes (id INTEGER)")
    assert is_demo_database(other) is None
    centre = tmp_path / "centre.db"
    cli = cli_at(f"sqlite:///{centre}")
    cli("db", "upgrade")
    assert is_demo_database(centre) is False  # migrated, no scheme yet
    cli("scheme", "init")
    assert is_demo_database(centre) is False
    with sqlite3.connect(centre) as connection:
        connection.execute("UPDATE schemes SET is_demo = 1")
    assert is_demo_database(centre) is True


def test_serve_and_demo_run_as_real_processes(tmp_path):
    """``aisc serve`` and ``aisc demo`` start a server that answers on loopback."""
    import socket
    import time

    import httpx2

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def wait_for(url: str, process: subprocess.Popen) -> httpx2.Response:
        deadline = time.monotonic() + 240  # the demo builds its centre first
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return httpx2.get(url, timeout=2)
            except httpx2.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"{url} did not answer")

    aisc = [sys.executable, "-m", "aisc.cli"]
    runs = {
        "serve": [*aisc, "--database-url", f"sqlite:///{tmp_path / 'serve.db'}", "serve"],
        "demo": [*aisc, "demo", "--db", str(tmp_path / "demo.db")],
    }
    for name, command in runs.items():
        port = free_port()
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        try:
            openapi = wait_for(f"http://127.0.0.1:{port}/api/v1/openapi.json", process)
            assert openapi.status_code == 200
            scheme = httpx2.get(f"http://127.0.0.1:{port}/api/v1/scheme", timeout=5)
            home = httpx2.get(f"http://127.0.0.1:{port}/", timeout=5)
            if name == "serve":
                assert scheme.status_code == 404
                assert "No scheme is set up yet" in home.text
            else:
                assert scheme.json()["is_demo"] is True
                assert "Applications received" in home.text
        finally:
            process.terminate()
            process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()
        COMMANDS_RUN.add(name)
