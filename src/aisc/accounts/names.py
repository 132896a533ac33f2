"""Organisation names: one normal form, a key for duplicates and a skeleton for look-alikes.

Pure functions, no database. Three levels:

- ``normalise(name)``: what is stored and shown. Unicode NFKC, format characters (zero-width
  spaces and joiners, direction marks, soft hyphens: category Cf) removed, every run of
  whitespace one space, trimmed.
- ``name_key(name)``: the normal form case-folded. Two names with one key are the same name
  (``Harbour  University`` and ``harbour university``): the second is refused as a duplicate.
  It is stored, so the comparison never depends on the database's ``lower()`` (SQLite's folds
  ASCII only).
- ``skeleton(name)``: the key with every character replaced by a representative of the
  characters it can be confused with (Unicode's confusables data, as shipped by the
  ``confusable-homoglyphs`` package) and spaces dropped. Names with one skeleton and different
  keys look alike (a Cyrillic ``\u0456`` for a Latin ``i``): the new one is flagged for the
  secretariat, not refused, since some look-alikes are genuine.
"""

from __future__ import annotations

import unicodedata
from functools import cache

# Direction marks around right-to-left glyphs in the data; not part of the glyph.
_MARKS = frozenset({"\u200e", "\u200f"})


def normalise(name: str) -> str:
    """NFKC, format characters removed, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())


def name_key(name: str) -> str:
    """The normal form, case-folded (and normalised again: folding can denormalise)."""
    return unicodedata.normalize("NFKC", normalise(name).casefold())


@cache
def _representatives() -> dict[str, str]:
    """Each confusable character -> one member of its class (the lowest code point).

    The data lists, per character, the single characters it can be mistaken for; classes are
    the connected groups of that relation. Multi-character look-alikes (``rn`` for ``m``) are
    left out: flagging on them would flag too much.
    """
    # Loaded on first use, not at import: the data is a 900 kB JSON document.
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(char: str) -> str:
        root = char
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(char, char) != root:  # path compression
            parent[char], char = root, parent[char]
        return root

    for char, items in confusables_data.items():
        if len(char) != 1:
            continue
        for item in items:
            glyph = "".join(c for c in item["c"] if c not in _MARKS)
            if len(glyph) == 1:
                a, b = find(char), find(glyph)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent}


def skeleton(name: str) -> str:
    """What a name looks like: equal skeletons, names a reader could take for one another."""
    table = _representatives()
    key = name_key(name)
    mapped = "".join(table.get(c, c) for c in key if not c.isspace())
    return "".join(table.get(c, c) for c in mapped.casefold())
