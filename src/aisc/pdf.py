"""PDF documents for people (statements today, letters tomorrow) in any script the platform stores.

A document whose text is all Latin-1 is printed in Helvetica, one of the PDF's built-in fonts:
nothing is embedded and no font file is needed. A document with any other character (an award
titled 粵語大模型, a Greek or Cyrillic name) is printed wholly in **Noto Sans CJK** (Hong Kong
forms), which covers Chinese, Japanese, Korean, Latin, Greek and Cyrillic; fpdf2 embeds only the
glyphs the document uses (a subset of some kilobytes). Nothing is ever printed as ``?``.

The font comes from the operating system's ``fonts-noto-cjk`` package (Debian and Ubuntu; other
distributions package the same files), found at its usual paths or through fontconfig: it is
maintained and updated by the distribution, shared with the Chromium that renders the portal's
Chinese pages in the browser tests, and keeps a 20 MB font out of the Python package. No font is
ever fetched at run time. Without it, a document that needs it is refused with ``NotReady``
naming the package, and Latin-1 documents are unaffected.

A Noto document has one weight: a second (bold) face would double the time to build it
(parsing and subsetting a CJK face takes about a second each); headings differ by size.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont
from fpdf import FPDF

from aisc.errors import NotReady

UNICODE_FAMILY = "NotoSansCJK"
# Preferred face first: Hong Kong's glyph forms, then Taiwan's (fonts older than 2.000 lack HK).
FACES = ("Noto Sans CJK HK", "Noto Sans CJK TC")
FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian, Ubuntu
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),  # Arch
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),  # Fedora (older)
    Path("/usr/share/fonts/noto/NotoSansCJK-Regular.ttc"),  # Alpine
)
MISSING = (
    "the PDF needs a font for its non-Latin text (Noto Sans CJK): install the operating "
    "system's fonts-noto-cjk package (apt-get install fonts-noto-cjk)"
)


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (a collection holds several)."""

    path: Path
    index: int
    name: str


def _faces(path: Path) -> list[str]:
    """The family names of a font file's faces, in order (empty if it cannot be read)."""
    collection = path.suffix.lower() in (".ttc", ".otc")
    try:
        with TTCollection(str(path), lazy=True) if collection else TTFont(str(path)) as opened:
            fonts = opened.fonts if collection else [opened]
            return [str(font["name"].getDebugName(1)) for font in fonts]
    except (OSError, ValueError, KeyError, AssertionError):
        return []


def _fontconfig(face: str) -> Path | None:
    """The file fontconfig gives for ``face`` (it answers its best substitute when it has none,
    so the caller checks the file's faces)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(
            [fc_match, "--format=%{file}", f"{face}:style=Regular"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if found else None


@cache
def unicode_font() -> FontFace | None:
    """The installed Noto Sans CJK face to print non-Latin text with, or None."""
    found = _search([p for p in FONT_PATHS if p.is_file()])
    if found is None:  # fontconfig only where the usual paths fail: a process per face
        found = _search([p for p in map(_fontconfig, FACES) if p is not None])
    return found


def _search(paths: list[Path]) -> FontFace | None:
    """The first of ``FACES`` (in order of preference) found in ``paths``."""
    for face in FACES:
        for path in paths:
            names = _faces(path)
            if face in names:
                return FontFace(path, names.index(face), face)
    return None


def needs_unicode(texts: Iterable[str]) -> bool:
    """Whether any character is beyond Latin-1 (the built-in fonts' repertoire)."""
    return any(ord(char) > 0xFF for text in texts for char in text)


class Document:
    """An A4 document in Helvetica, or in Noto Sans CJK when ``texts`` (every text it will
    print that is not fixed English) need it."""

    def __init__(self, title: str, texts: Iterable[str]) -> None:
        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_title(title)
        self.pdf.set_creator("aisc")
        self.unicode = needs_unicode([title, *texts])
        if self.unicode:
            face = unicode_font()
            if face is None:
                raise NotReady(MISSING, field="font")
            self.pdf.add_font(UNICODE_FAMILY, "", str(face.path), collection_font_number=face.index)
        self.pdf.add_page()

    def font(self, style: str, size: float) -> None:
        """Set the font for what follows (``style`` "" or "B"; one weight in Noto)."""
        if self.unicode:
            self.pdf.set_font(UNICODE_FAMILY, "", size)
        else:
            self.pdf.set_font("Helvetica", style, size)

    def fit(self, text: str, width: float) -> str:
        """``text`` cut to print within a cell ``width`` mm wide, marked where it was cut."""
        room = width - 2 * self.pdf.c_margin
        if self.pdf.get_string_width(text) <= room:
            return text
        mark = "…" if self.unicode else "..."
        while text and self.pdf.get_string_width(text + mark) > room:
            text = text[:-1]
        return text + mark

    def output(self) -> bytes:
        return bytes(self.pdf.output())
