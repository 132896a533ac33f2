"""Slurm host lists: ``rack[1-2]-node[01-02],gpu-a01`` <-> the host names, through
python-hostlist (the library Slurm sites maintain for exactly this), with Slurm's words for
"no nodes" read as none."""

from __future__ import annotations

import hostlist

_NONE = ("", "(null)", "None", "None assigned")


def expand(text: str) -> list[str]:
    """Every host name of a Slurm host list, in its order; raises ValueError for one that is
    not a host list."""
    text = text.strip()
    if text in _NONE:
        return []
    try:
        return list(hostlist.expand_hostlist(text))
    except hostlist.BadHostlist as exc:
        raise ValueError(f"not a Slurm host list: {text!r} ({exc})") from None


def compress(names: list[str]) -> str:
    """The shortest Slurm host list for ``names`` (sorted, numbers folded into ranges)."""
    return str(hostlist.collect_hostlist(sorted(set(names))))
