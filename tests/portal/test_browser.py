"""The whole journey in a real headless Chromium (Playwright driving Debian's ``chromium``).

An applicant applies, the secretariat screens, two reviewers score, the committee approves, a
member submits a job that runs on the local executor, the month is billed and the invoice
downloads; then the same pages in Traditional Chinese, and each role kept to its own pages.
Screenshots of the main pages go to ``artifacts/screenshots/``.

``AISC_TEST_BROWSER=1`` (CI sets it) makes a missing browser a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from aisc.accounts import auth
from aisc.accounts import service as accounts
from aisc.accounts.models import Role
from aisc.accounts.schemas import PersonCreate
from aisc.app import create_app
from aisc.settings import Settings
from tests.conftest import BACKENDS
from tests.factories import World

ENABLED = os.environ.get("AISC_TEST_BROWSER", "").strip() not in ("", "0")
CHROMIUM = os.environ.get("AISC_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "Correct-Horse-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


class ShiftedClock:
    """Real time, shifted to a moment of the test's choosing (jobs run in real seconds)."""

    def __init__(self, start: datetime) -> None:
        self.jump(start)

    def jump(self, moment: datetime) -> None:
        self.offset = moment.timestamp() - time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if ENABLED:
            pytest.fail(f"AISC_TEST_BROWSER is set but there is no browser at {CHROMIUM}")
        pytest.skip("no chromium here (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Site:
    """The portal served by uvicorn on loopback, on a test database, with its job loop."""

    def __init__(self, engine: Any, tmp_path: Path) -> None:
        self.clock = ShiftedClock(datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
        settings = Settings(
            data_dir=tmp_path, run_dir=tmp_path / "runs", scheduler_interval_s=0.3,
            preemption_grace_s=1,
        )  # fmt: skip
        app = create_app(settings, engine=engine, clock=self.clock, with_worker=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("the portal did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def site(engine, tmp_path) -> Iterator[Site]:
    served = Site(engine, tmp_path)
    yield served
    served.stop()


@pytest.fixture
def people(uow) -> dict[str, Any]:
    world = World(uow)
    with uow() as ctx:
        member = accounts.create_person(
            ctx,
            data=PersonCreate(email="member@uni.example", name="Mei Member",
                              roles=[Role.APPLICANT], organisation_ids=[world.uni]),
        ).id  # fmt: skip
        finance = accounts.create_person(
            ctx, data=PersonCreate(email="fin@centre.example", name="Fin", roles=[Role.FINANCE])
        ).id
        operator = accounts.create_person(
            ctx, data=PersonCreate(email="ops@centre.example", name="Op", roles=[Role.OPERATOR])
        ).id
        ids = [world.applicant, world.secretariat, *world.reviewers[:2], member, finance,
               operator, world.other_pi]  # fmt: skip
        for person_id in ids:
            auth.set_password(ctx, person_id=person_id, password=PASSWORD)
        names = {p: accounts.get_person(ctx, person_id=p).name for p in world.reviewers[:2]}
    return {
        "pi": "pi@uni.example",
        "member": "member@uni.example",
        "secretariat": "sec@scheme.example",
        "reviewers": ["rev0@committee.example", "rev1@committee.example"],
        "reviewer_names": [names[p] for p in world.reviewers[:2]],
        "finance": "fin@centre.example",
        "operator": "ops@centre.example",
        "outsider": "pi@other.example",
    }


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# What the browser refused under the pages' Content-Security-Policy (inline script or style).
CSP_REFUSALS: list[str] = []


def sign_in(browser: Any, site: Site, email: str, lang: str | None = None) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    if lang:
        context.add_cookies([{"name": "aisc_lang", "value": lang, "url": site.url}])
    page = context.new_page()
    page.on(
        "console",
        lambda m: CSP_REFUSALS.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{site.url}/login")
    page.get_by_label("E-mail address" if lang is None else "電郵地址", exact=True).fill(email)
    page.get_by_label("Password" if lang is None else "密碼", exact=True).fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[-1500:]
    return page


# Once, on the production database when the run has one (PostgreSQL in CI), else on SQLite:
# every page is also rendered on both databases without a browser (test_pages.py).
@pytest.mark.parametrize("engine", [BACKENDS[-1]], indirect=True)
def test_the_whole_journey_in_the_browser(playwright_browser, site, people, tmp_path):
    from playwright.sync_api import expect

    browser = playwright_browser
    CSP_REFUSALS.clear()
    # --- the applicant applies; bad input first ---------------------------------------
    pi = sign_in(browser, site, people["pi"])
    pi.goto(f"{site.url}/applications/new")
    pi.get_by_label("Project title", exact=True).fill("")
    pi.get_by_label("GPU cards (dedicated)", exact=True).fill("-1")
    pi.get_by_role("button", name="Save draft").click()
    expect(pi.locator("#e-title")).to_be_visible()
    expect(pi.locator("#e-compute\\.gpu_cards")).to_be_visible()
    expect(pi.get_by_label("Project title", exact=True)).to_have_attribute("aria-invalid", "true")
    shot(pi, "application-errors")
    pi.goto(f"{site.url}/applications")
    expect(pi.locator(".empty")).to_be_visible()  # nothing was saved
    pi.goto(f"{site.url}/applications/new")
    pi.get_by_label("Project title", exact=True).fill(
        "Cantonese speech recognition for public services"
    )
    pi.get_by_label("Domain", exact=True).select_option("llm")
    pi.get_by_label("Summary", exact=True).fill("A speech model for Cantonese.")
    pi.get_by_label("Relevance to Hong Kong", exact=True).fill(
        "Public services answer in Cantonese."
    )
    pi.get_by_label("Local R&D staff", exact=True).fill("6")
    pi.get_by_label("GPU cards (dedicated)", exact=True).fill("8")
    pi.get_by_label("Months", exact=True).fill("2")
    pi.get_by_label("Preferred start", exact=True).fill("2025-04-01")
    expect(pi.locator("[data-key=list_value]")).to_have_text("HK$480,000.00")  # live estimate
    expect(pi.locator("[data-key=subsidy]")).to_have_text("HK$336,000.00")
    expect(pi.locator("[data-key=own_share]")).to_have_text("HK$144,000.00")
    for box in pi.locator("input[type=checkbox]").all():
        box.check()
    shot(pi, "application-form")
    pi.get_by_role("button", name="Save draft").click()
    expect(pi.locator(".notice[role=status]")).to_contain_text("Draft saved")
    pi.get_by_role("button", name="Submit").click()
    expect(pi.locator(".notice[role=status]")).to_contain_text("Submitted")
    app_url = pi.url.split("?")[0]
    pi.get_by_label("Add a member by e-mail", exact=True).fill(people["member"])
    pi.get_by_role("button", name="Add to the team").click()
    expect(pi.get_by_text("Mei Member (member)")).to_be_visible()

    # --- the secretariat screens and assigns two reviewers ----------------------------
    sec = sign_in(browser, site, people["secretariat"])
    sec.goto(f"{site.url}/secretariat")
    sec.get_by_role("link", name="Cantonese speech recognition for public services").click()
    sec.get_by_role("button", name="Screen now").click()
    expect(
        sec.get_by_text("No findings: the application is complete and eligible.")
    ).to_be_visible()
    sec.get_by_role("button", name="Pass to the reviewers").click()
    for name in people["reviewer_names"]:
        sec.get_by_label("Assign a reviewer", exact=True).select_option(label=name)
        sec.get_by_role("button", name="Assign", exact=True).click()
        expect(sec.locator(".notice[role=status]")).to_contain_text("Reviewer assigned")
    case_url = sec.url.split("?")[0]

    # --- two reviewers declare and score --------------------------------------------------
    for index, email in enumerate(people["reviewers"]):
        rev = sign_in(browser, site, email)
        rev.goto(f"{site.url}/reviews")
        rev.get_by_role("link", name="Cantonese speech recognition").click()
        rev.get_by_label("I have no conflict of interest", exact=True).check()
        rev.get_by_role("button", name="Declare").click()
        expect(rev.locator(".notice[role=status]")).to_contain_text("No conflict declared")
        for field in rev.locator("input[name$='.score']").all():
            field.fill(str(8 - index))
        rev.get_by_label("Overall comment", exact=True).fill("Strong local team.")
        if index == 0:
            shot(rev, "review-scores")
        rev.get_by_role("button", name="Save scores").click()
        expect(rev.locator(".notice[role=status]")).to_contain_text("Scores saved")
        rev.context.close()

    # --- the committee approves ---------------------------------------------------------------
    sec.goto(case_url)
    expect(sec.get_by_text(re.compile(r"Weighted total: 75(\.00)? / 100"))).to_be_visible()
    expect(sec.get_by_text("Fits:", exact=False)).to_be_visible()
    sec.get_by_label("Outcome", exact=True).select_option("approve")
    sec.get_by_label("Expected deliverables and impact for Hong Kong", exact=True).fill(
        "Clear public benefit."
    )
    shot(sec, "committee-case")
    sec.get_by_role("button", name="Record the decision").click()
    expect(sec.locator(".notice[role=status]")).to_contain_text("Decision recorded")

    # --- the PI accepts; a member runs a job -------------------------------------------------
    pi.goto(app_url)
    pi.get_by_role("button", name="Accept the award").click()
    expect(pi.locator(".notice[role=status]")).to_contain_text("Award accepted")
    site.clock.jump(datetime(2025, 4, 10, 9, 0, tzinfo=UTC))  # inside the allocation
    member = sign_in(browser, site, people["member"])
    member.goto(f"{site.url}/projects")
    member.get_by_role("link", name="Cantonese speech recognition").click()
    project_url = member.url
    member.get_by_label("Command", exact=True).fill(
        f"{sys.executable} -c \"print('hello from the GPU job')\""
    )
    member.get_by_label("Walltime", exact=True).fill("soon")
    member.get_by_role("button", name="Submit", exact=True).click()
    expect(member.locator("#e-walltime")).to_be_visible()  # bad input, named at its field
    member.get_by_label("Walltime", exact=True).fill("5m")
    member.get_by_role("button", name="Submit", exact=True).click()
    expect(member.locator(".notice[role=status]")).to_contain_text("Job submitted")
    deadline = time.time() + 40
    while member.locator("h1 .status").inner_text() != "Completed":
        assert time.time() < deadline, "the job did not run: " + member.locator("main").inner_text()
        time.sleep(0.5)
        member.reload()
    expect(member.locator("pre.log").first).to_contain_text("hello from the GPU job")
    member.goto(project_url)
    shot(member, "project")

    # --- finance bills April; the invoice downloads --------------------------------------------
    site.clock.jump(datetime(2025, 5, 2, 9, 0, tzinfo=UTC))
    fin = sign_in(browser, site, people["finance"])
    fin.goto(f"{site.url}/finance")
    fin.get_by_label("Month to bill (YYYY-MM)", exact=True).fill("2025-13")
    fin.get_by_role("button", name="Bill the month").click()
    expect(fin.locator("#e-month")).to_be_visible()
    fin.get_by_label("Month to bill (YYYY-MM)", exact=True).fill("2025-04")
    fin.get_by_role("button", name="Bill the month").click()
    expect(fin.locator(".notice[role=status]")).to_have_text("Month billed.")
    expect(fin.get_by_text("1 invoice(s) issued for 2025-04.")).to_be_visible()
    expect(fin.get_by_text("2025-04 reconciles")).to_be_visible()
    shot(fin, "finance")
    member = sign_in(browser, site, people["member"])  # three weeks on: sessions last 12 hours
    member.goto(project_url)
    with member.expect_download() as download:
        member.get_by_role("link", name="PDF").first.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    shutil.copy(download.value.path(), tmp_path / "invoice.pdf")

    ops = sign_in(browser, site, people["operator"])
    ops.goto(f"{site.url}/operator")
    expect(ops.get_by_role("img", name="Allocated % and busy % by month")).to_be_visible()
    shot(ops, "operator")

    # --- the same pages in Traditional Chinese ---------------------------------------------------
    member.goto(f"{site.url}/")
    member.locator("#lang-choice").select_option("zh_Hant")
    member.wait_for_url(f"{site.url}/")
    expect(member.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(member.get_by_role("link", name="我的項目")).to_be_visible()
    shot(member, "dashboard-zh")
    member.goto(project_url)
    expect(member.get_by_role("heading", name="提交作業")).to_be_visible()
    expect(member.get_by_text("已完成").first).to_be_visible()
    shot(member, "project-zh")
    zh_pi = sign_in(browser, site, people["pi"], lang="zh_Hant")
    zh_pi.goto(f"{site.url}/applications/new")
    expect(zh_pi.get_by_label("項目名稱", exact=True)).to_be_visible()
    expect(zh_pi.get_by_text("費用估算")).to_be_visible()
    zh_fin = sign_in(browser, site, people["finance"], lang="zh_Hant")
    zh_fin.goto(f"{site.url}/finance")
    expect(zh_fin.get_by_role("heading", name="每月帳單")).to_be_visible()
    shot(zh_fin, "finance-zh")
    en = sign_in(browser, site, people["secretariat"])
    en.goto(f"{site.url}/")
    shot(en, "dashboard")

    # --- every role keeps to its own pages -------------------------------------------------------
    pi = sign_in(browser, site, people["pi"])
    pi.goto(f"{site.url}/secretariat")
    expect(pi.get_by_role("heading", name="Not for your role")).to_be_visible()
    pi.goto(f"{site.url}/finance")
    expect(pi.get_by_role("heading", name="Not for your role")).to_be_visible()
    outsider = sign_in(browser, site, people["outsider"])
    outsider.goto(project_url)
    expect(outsider.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Cantonese" not in outsider.content()
    outsider.goto(app_url)
    assert "Cantonese" not in outsider.content()
    outsider.goto(f"{site.url}/projects")
    expect(outsider.locator(".empty")).to_be_visible()
    fin.goto(f"{site.url}/reviews")
    expect(fin.get_by_role("heading", name="Not for your role")).to_be_visible()
    # Every page worked under its policy: nothing inline was refused along the way.
    assert CSP_REFUSALS == []
