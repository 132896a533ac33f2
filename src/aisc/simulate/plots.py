"""Charts of simulation results (matplotlib, no display): PNG or SVG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from aisc.errors import ValidationFailed

FORMATS = ("png", "svg")


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValidationFailed(f"format: {fmt!r} is not one of png, svg", field="format")


def _bytes(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    # No timestamps in the files: the same result gives the same picture.
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buffer, format=fmt, metadata=metadata, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def openb_plot(
    curves: Mapping[str, Sequence[float]],
    frag: Mapping[str, Sequence[float]],
    *,
    title: str,
    fmt: str,
) -> bytes:
    """Allocation ratio (mean over seeds) against arrived GPU request, one line per policy;
    fragmented GPUs below for the fragmentation-aware policies."""
    _check(fmt)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 7), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for policy, values in curves.items():
        top.plot(range(len(values)), values, label=policy)
    top.plot([0, 100], [0, 100], color="#999", linestyle=":", linewidth=1, label="ideal")
    top.set_ylabel("GPU allocation ratio (% of capacity)")
    top.set_ylim(0, 100)
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(loc="lower right")
    for policy, values in frag.items():
        bottom.plot(range(len(values)), values, label=policy)
    bottom.set_xlabel("arrived GPU request (% of cluster capacity)")
    bottom.set_ylabel("fragmented GPUs")
    bottom.grid(alpha=0.3)
    if frag:
        bottom.legend(loc="upper left")
    return _bytes(fig, fmt)


def jobs_plot(
    hourly: Mapping[str, Sequence[float]],
    waits: Mapping[str, Sequence[int]],
    *,
    title: str,
    fmt: str,
) -> bytes:
    """GPUs allocated over time (daily means) and the distribution of queueing delays."""
    _check(fmt)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), dpi=110)
    for policy, values in hourly.items():
        days = [
            sum(values[i : i + 24]) / len(values[i : i + 24]) for i in range(0, len(values), 24)
        ]
        top.plot(range(len(days)), days, label=policy)
    top.set_xlabel("day of the trace")
    top.set_ylabel("GPUs allocated (% of cluster, daily mean)")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend()
    for policy, values in waits.items():
        ordered = sorted(values)
        if not ordered:
            continue
        count = len(ordered)
        bottom.plot(
            [max(v, 1) for v in ordered], [(i + 1) / count for i in range(count)], label=policy
        )
    bottom.set_xscale("log")
    bottom.set_xlabel("queueing delay (s, log scale; 0 shown at 1 s)")
    bottom.set_ylabel("share of jobs (CDF)")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower right")
    return _bytes(fig, fmt)
