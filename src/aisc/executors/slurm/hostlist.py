"""Slurm host lists: ``node[1-3,7],gpu-a01`` <-> ``["node1", "node2", "node3", "node7", ...]``."""

from __future__ import annotations

import re

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def expand(text: str) -> list[str]:
    """Every host name of a Slurm host list (one level of brackets, as Slurm writes them)."""
    text = text.strip()
    if not text or text in ("(null)", "None"):
        return []
    names: list[str] = []
    for part in _split_top(text):
        if "[" not in part:
            names.append(part)
            continue
        prefix, rest = part.split("[", 1)
        body, suffix = rest.split("]", 1)
        for item in body.split(","):
            found = _RANGE.match(item.strip())
            if found is None:
                raise ValueError(f"not a Slurm host list: {text!r}")
            low, high = found.group(1), found.group(2) or found.group(1)
            width = len(low)
            for number in range(int(low), int(high) + 1):
                names.append(f"{prefix}{number:0{width}d}{suffix}")
    return names


def compress(names: list[str]) -> str:
    """A Slurm host list for ``names`` (sorted, consecutive numbers folded into ranges)."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    for name in sorted(set(names)):
        found = re.match(r"^(.*?)(\d+)$", name)
        if found is None:
            plain.append(name)
            continue
        digits = found.group(2)
        width = len(digits) if digits.startswith("0") else 0
        groups.setdefault((found.group(1), width), []).append(int(digits))
    parts = list(plain)
    for (prefix, width), numbers in sorted(groups.items()):
        numbers.sort()
        ranges: list[str] = []
        start = prev = numbers[0]
        for number in [*numbers[1:], None]:
            if number is not None and number == prev + 1:
                prev = number
                continue
            ranges.append(
                f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}"
            )
            if number is not None:
                start = prev = number
        if len(numbers) == 1:
            parts.append(f"{prefix}{ranges[0]}")
        else:
            parts.append(f"{prefix}[{','.join(ranges)}]")
    return ",".join(parts)
