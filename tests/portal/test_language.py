"""The portal's language: the ``aisc_lang`` cookie, else Accept-Language with its q-values."""

from __future__ import annotations

import pytest

from aisc.portal.language import MAX_HEADER, negotiate, parse_accept_language

CASES = [
    # the quality decides, not the order
    ("en;q=0.1, zh-HK;q=1.0", "zh_Hant"),
    ("zh-HK;q=0.2, en;q=0.9", "en"),
    ("en-GB,en;q=0.9,zh-TW;q=0.8", "en"),
    ("fr-FR, zh-TW;q=0.5, en;q=0.4", "zh_Hant"),
    # ties keep the header's order
    ("zh-MO;q=0.5, en;q=0.5", "zh_Hant"),
    ("en;q=0.5, zh-MO;q=0.5", "en"),
    # a region or script that writes Traditional Chinese
    ("zh-TW", "zh_Hant"),
    ("zh-Hant", "zh_Hant"),
    ("zh-HK", "zh_Hant"),
    ("zh-MO", "zh_Hant"),
    ("zh-Hant-HK", "zh_Hant"),
    ("ZH-hk", "zh_Hant"),
    ("yue-HK", "zh_Hant"),
    # Simplified Chinese readers get Traditional (see aisc.portal.language), unless they rank
    # English higher
    ("zh-CN", "zh_Hant"),
    ("zh-Hans", "zh_Hant"),
    ("zh", "zh_Hant"),
    ("zh-CN, en;q=0.9", "zh_Hant"),
    ("en, zh-CN;q=0.9", "en"),
    # q=0 means "not this one"
    ("zh-HK;q=0, en;q=0.1", "en"),
    ("en;q=0, zh-HK;q=0.001", "zh_Hant"),
    ("zh-HK;q=0.000", "en"),
    # languages the portal does not speak are passed over
    ("ja, de;q=0.9, zh-TW;q=0.1", "zh_Hant"),
    ("ja, de", "en"),
    # anything, nothing, garbage
    ("*", "en"),
    ("fr, *;q=0.5, zh-HK;q=0.4", "en"),
    ("", "en"),
    ("   ", "en"),
    (",,,;;;", "en"),
    ("zh-HK;q=2", "en"),
    ("zh-HK;q=0.5000", "en"),
    ("zh-HK;q=abc, en;q=0.1", "en"),
    ("zh-HK;q=-1", "en"),
    ("zh_HK", "en"),
    ("x-klingon, zh-TW;q=0.5", "zh_Hant"),
    ("\x00zh-HK", "en"),
    ("中文, zh-HK;q=0.3", "zh_Hant"),
    ("zh-HK" + "-abcdefgh" * 20, "en"),
    ("zh-HK;q=1;q=0.5", "en"),
    ("en-US-x-private, zh-HK;q=0.5", "zh_Hant"),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_accept_language_is_negotiated_with_quality_values(header, expected):
    assert negotiate(header) == expected


def test_an_overlong_header_is_ignored_whole():
    header = "zh-HK, " + ", ".join(["fr;q=0.5"] * 200)
    assert len(header) > MAX_HEADER
    assert parse_accept_language(header) == []
    assert negotiate(header) == "en"
    assert negotiate(header[:MAX_HEADER].rsplit(",", 1)[0]) == "zh_Hant"


def test_the_preferred_tags_come_first_and_refused_ones_not_at_all():
    assert parse_accept_language("a;q=0.3, b, c;q=0, d;q=0.3, e;q=1.0") == ["b", "e", "a", "d"]


def test_the_cookie_wins_over_the_header(browsers):
    anonymous = browsers("anonymous")
    chinese = {"Accept-Language": "en;q=0.1, zh-HK;q=1.0"}
    page = anonymous.get("/", headers=chinese).text
    assert '<html lang="zh-Hant">' in page
    assert "計劃概覽" in page
    anonymous.cookies.set("aisc_lang", "en")
    page = anonymous.get("/", headers=chinese).text
    assert '<html lang="en">' in page
    assert "計劃概覽" not in page
    anonymous.cookies.set("aisc_lang", "klingon")  # not a language: the header decides
    assert '<html lang="zh-Hant">' in anonymous.get("/", headers=chinese).text
    anonymous.cookies.clear()
    page = anonymous.get("/", headers={"Accept-Language": "x" * 5000}).text
    assert '<html lang="en">' in page
