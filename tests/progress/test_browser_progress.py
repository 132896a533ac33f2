"""A progress report in a real headless Chromium: the lead submits (bad input first), the
secretariat asks for changes from its queue, the lead resubmits, the secretariat accepts.

Skipped without Chromium unless ``AISC_TEST_BROWSER=1`` (see tests/portal/test_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from aisc.accounts import auth
from aisc.awards import service as awards
from aisc.awards.models import Award
from tests.conftest import BACKENDS
from tests.factories import World
from tests.portal.test_browser import (  # noqa: F401 - fixtures
    CSP_REFUSALS,
    PASSWORD,
    playwright_browser,
    shot,
    sign_in,
    site,
)


@pytest.fixture
def award(uow) -> int:
    world = World(uow, capacity_headroom="0")
    app_id = world.reviewed()
    world.approve(app_id)
    with uow() as ctx:
        award_id = int(ctx.db.scalar(select(Award.id).where(Award.application_id == app_id)))
        awards.accept(ctx, award_id=award_id)
        for person in (world.applicant, world.secretariat):
            auth.set_password(ctx, person_id=person, password=PASSWORD)
    return award_id


@pytest.mark.parametrize("engine", [BACKENDS[-1]], indirect=True)
def test_a_report_is_submitted_sent_back_and_accepted_in_the_browser(
    playwright_browser: Any,  # noqa: F811
    site: Any,  # noqa: F811
    award: int,
) -> None:
    from playwright.sync_api import expect

    CSP_REFUSALS.clear()
    lead = sign_in(playwright_browser, site, "pi@uni.example")
    lead.goto(f"{site.url}/projects/{award}")
    expect(lead.locator("#h-reports")).to_be_visible()
    first = lead.locator("table a[href^='/progress/']").first
    report_url = f"{site.url}{first.get_attribute('href')}"
    lead.goto(report_url)
    # Bad input: no narrative and a DOI that is none; nothing is saved.
    lead.get_by_label("Papers", exact=True).fill("Cantonese ASR at scale | not-a-doi")
    lead.get_by_role("button", name="Submit report").click()
    expect(lead.locator("#e-narrative")).to_be_visible()
    expect(lead.locator("#e-papers")).to_be_visible()
    expect(lead.get_by_label("Papers", exact=True)).to_have_value(
        "Cantonese ASR at scale | not-a-doi"
    )
    lead.goto(report_url)
    expect(lead.locator("h1 .status-due")).to_be_visible()
    lead.get_by_label("Narrative", exact=True).fill("The corpus is collected; training began.")
    lead.get_by_label("Milestones", exact=True).fill("Corpus collected | done")
    lead.get_by_label("Papers", exact=True).fill("Cantonese ASR at scale | 10.1234/asr.2025")
    lead.get_by_label("Models", exact=True).fill("cantonese-asr-1")
    lead.get_by_label("Users reached", exact=True).fill("1200")
    lead.get_by_label("Attachments", exact=True).fill(f"report.pdf | 20480 | {'ab' * 32}")
    shot(lead, "progress-report-form")
    lead.get_by_role("button", name="Submit report").click()
    expect(lead.locator(".notice[role=status]")).to_contain_text("Report submitted")
    expect(lead.get_by_text("doi:10.1234/asr.2025")).to_be_visible()

    sec = sign_in(playwright_browser, site, "sec@scheme.example")
    sec.goto(f"{site.url}/progress")
    expect(sec.get_by_role("heading", name="Waiting for review")).to_be_visible()
    sec.locator("table a[href^='/progress/']").first.click()
    sec.get_by_role("button", name="Ask for changes").click()  # no note: refused by field
    expect(sec.locator("#e-note")).to_be_visible()
    sec.get_by_label("What should change", exact=True).fill("Say how many users, and who.")
    sec.get_by_role("button", name="Ask for changes").click()
    expect(sec.locator(".notice[role=status]")).to_contain_text("Changes requested")

    lead.goto(report_url)
    expect(lead.get_by_text("Say how many users, and who.")).to_be_visible()
    expect(lead.get_by_label("Narrative", exact=True)).to_have_value(
        "The corpus is collected; training began."
    )
    lead.get_by_label("Relevance to Hong Kong", exact=True).fill("Government hotlines.")
    lead.get_by_role("button", name="Submit report").click()
    expect(lead.locator(".notice[role=status]")).to_contain_text("Report submitted")

    sec.goto(report_url)
    sec.get_by_role("button", name="Accept report").click()
    expect(sec.locator(".notice[role=status]")).to_contain_text("Report accepted")
    expect(sec.locator("h1 .status-accepted")).to_be_visible()
    shot(sec, "progress-report-accepted")
    lead.goto(f"{site.url}/projects/{award}")
    expect(lead.locator("table .status-accepted").first).to_be_visible()
    assert not CSP_REFUSALS, CSP_REFUSALS
