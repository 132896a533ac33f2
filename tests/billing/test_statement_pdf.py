"""PDF statements print every script as written: a Chinese award title is Chinese, not ``?``.

The Chinese tests need the operating system's fonts-noto-cjk (``aisc.pdf``). Without it they
skip, unless AISC_TEST_BROWSER=1 (CI installs the font with the browser): then they fail.
"""

from __future__ import annotations

import io
import os

import pytest
from pypdf import PdfReader

import aisc.pdf
from aisc.awards import service as awards
from aisc.pdf import Document, unicode_font
from tests.billing.test_billing import MARCH, Billed

TITLE = "粵語大模型"  # "a large Cantonese language model"


@pytest.fixture
def cjk_font():
    face = unicode_font()
    if face is None:
        message = "fonts-noto-cjk is not installed"
        if os.environ.get("AISC_TEST_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return face


@pytest.fixture
def world(uow, clock):
    clock.advance(days=120)  # 10 May 2025: March has ended
    built = Billed(uow, clock)
    chinese = built.reviewed(
        title=TITLE, compute={"gpu_cards": 8, "months": 6, "preferred_start": "2025-03-10"}
    )
    built.approve(chinese)
    with uow() as ctx:
        [award] = [a for a in awards.list_awards(ctx) if a.application_id == chinese]
        awards.accept(ctx, award_id=award.id)
    built.chinese = award.id
    built.run(MARCH)
    return built


def read(pdf: bytes) -> tuple[str, set[str]]:
    """The PDF's text and the names of its fonts."""
    reader = PdfReader(io.BytesIO(pdf))
    [page] = reader.pages
    fonts = {str(f.get_object()["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    # pypdf reads fpdf2's embedded two-byte encoding CMap one byte at a time and puts a NUL
    # before each character; the characters themselves come from the font's ToUnicode map.
    return page.extract_text().replace("\x00", ""), fonts


def test_a_chinese_award_title_prints_in_chinese_with_an_embedded_subset(world, client, cjk_font):
    invoice, _ = world.invoice(world.chinese, MARCH)
    answer = client.get(f"/api/v1/invoices/{invoice.id}/statement.pdf")
    assert answer.status_code == 200
    text, fonts = read(answer.content)
    assert f"Award {world.chinese}: {TITLE}" in text
    assert f"Statement {invoice.number}" in text
    assert "?" not in text
    [font] = fonts
    assert font.endswith("+NotoSansCJKHK")  # a subset ("ABCDEF+"), of the Hong Kong face
    # Only the glyphs used are embedded: the font file itself is about 20 MB.
    assert len(answer.content) < 60_000


def test_english_statements_use_the_built_in_font_and_embed_nothing(world, client):
    invoice, _ = world.invoice(world.dedicated, MARCH)
    answer = client.get(f"/api/v1/invoices/{invoice.id}/statement.pdf")
    text, fonts = read(answer.content)
    assert f"Statement {invoice.number}" in text
    assert "340645.16" in text
    assert fonts == {"/Helvetica", "/Helvetica-Bold"}
    assert len(answer.content) < 5_000


def test_without_the_font_a_chinese_statement_is_refused_naming_the_package(
    world, client, monkeypatch
):
    monkeypatch.setattr(aisc.pdf, "unicode_font", lambda: None)
    chinese, _ = world.invoice(world.chinese, MARCH)
    refused = client.get(f"/api/v1/invoices/{chinese.id}/statement.pdf")
    assert refused.status_code == 503
    assert refused.json()["detail"]["code"] == "not_ready"
    assert "fonts-noto-cjk" in refused.json()["detail"]["message"]
    english, _ = world.invoice(world.dedicated, MARCH)
    assert client.get(f"/api/v1/invoices/{english.id}/statement.pdf").status_code == 200


def test_the_installed_collection_gives_the_hong_kong_face(cjk_font):
    assert cjk_font.name == "Noto Sans CJK HK"
    assert aisc.pdf._faces(cjk_font.path)[cjk_font.index] == "Noto Sans CJK HK"
    assert aisc.pdf._faces(cjk_font.path.with_suffix(".missing")) == []


def test_fontconfig_finds_the_font_where_the_usual_paths_do_not(cjk_font, monkeypatch):
    monkeypatch.setattr(aisc.pdf, "FONT_PATHS", (cjk_font.path.with_name("absent.ttc"),))
    found = aisc.pdf.unicode_font.__wrapped__()
    assert found is not None
    assert found.name == "Noto Sans CJK HK"
    monkeypatch.setattr(aisc.pdf.shutil, "which", lambda _name: None)
    assert aisc.pdf.unicode_font.__wrapped__() is None


@pytest.mark.parametrize(
    ("texts", "needed"),
    [
        (["Award 1: Pooled fine-tuning", "café, naïve, £5"], False),
        (["Ωμέγα"], True),
        ([TITLE], True),
    ],
)
def test_a_font_is_embedded_only_for_text_beyond_latin_1(texts, needed):
    assert aisc.pdf.needs_unicode(texts) is needed


def test_text_too_wide_for_its_cell_is_cut_and_marked(cjk_font):
    doc = Document("t", [TITLE])
    doc.font("", 8)
    cut = doc.fit(TITLE * 20, 40)
    assert cut.endswith("…")
    assert cut.startswith(TITLE)
    assert doc.pdf.get_string_width(cut) <= 40
    assert doc.fit(TITLE, 40) == TITLE
    latin = Document("t", ["plain"])
    latin.font("", 8)
    assert latin.fit("x" * 200, 40).endswith("...")
