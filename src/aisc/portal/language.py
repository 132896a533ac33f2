"""The portal's language from a browser's ``Accept-Language`` header (RFC 9110 §12.5.4).

The portal speaks English (``en``, the default) and Traditional Chinese (``zh_Hant``). The header
lists language tags with optional quality values; the tags are ordered by quality (highest first,
ties in the header's order), tags with ``q=0`` are refused ones and dropped, and the first tag the
portal can serve decides. Each tag is read by Babel (``Locale.parse``), whose CLDR likely-subtags
data gives a region its script: ``zh-HK``, ``zh-MO`` and ``zh-TW`` are ``zh_Hant``, ``zh-CN`` and
``zh-SG`` are ``zh_Hans``.

**Any Chinese is served in Traditional Chinese**, Simplified (``zh-CN``, ``zh-Hans``, bare ``zh``)
and Cantonese (``yue``) included: a reader who ranks Chinese above English reads the portal's
Traditional Chinese pages more easily than its English ones (the two scripts share most
characters and all grammar), and a reader who prefers English says so with a higher ``q`` for
``en``. ``*`` ("anything") is served in English.

Nothing in the header can raise: an unknown or malformed tag, a malformed ``q`` or a header longer
than ``MAX_HEADER`` characters (no browser sends one; a client that does is ignored rather than
parsed at length) leaves the entry or the whole header unused and the answer English.
"""

from __future__ import annotations

import re

from babel import Locale, UnknownLocaleError

DEFAULT = "en"
MAX_HEADER = 1024
# An entry is a tag (RFC 5646 shape: letters, then up to eight more alphanumeric subtags) or "*",
# optionally followed by a quality value of at most three decimals.
ENTRY = re.compile(
    r"^\s*(?P<tag>\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,8})\s*"
    r"(?:;\s*[qQ]\s*=\s*(?P<q>0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?\s*$"
)
CHINESE = frozenset({"zh", "yue"})


def parse_accept_language(header: str) -> list[str]:
    """The header's acceptable tags, the preferred first (malformed entries are skipped)."""
    if len(header) > MAX_HEADER:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")):
        match = ENTRY.match(entry)
        if match is None:
            continue
        quality = float(match["q"]) if match["q"] is not None else 1.0
        if quality > 0:
            ranked.append((-quality, position, match["tag"]))
    return [tag for _, _, tag in sorted(ranked)]


def portal_language(tag: str) -> str | None:
    """The portal language that serves ``tag``, or None if neither does."""
    if tag == "*":
        return DEFAULT
    try:
        locale = Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if locale.language in CHINESE or locale.script == "Hant":
        return "zh_Hant"
    if locale.language == "en":
        return "en"
    return None


def negotiate(header: str) -> str:
    """The portal language for an ``Accept-Language`` header (English if nothing fits)."""
    for tag in parse_accept_language(header):
        language = portal_language(tag)
        if language is not None:
            return language
    return DEFAULT
