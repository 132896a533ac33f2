"""Charts rendered with matplotlib (no display, no network): PNG or SVG bytes.

Drawing only: the figures come in already read (and authorised) by the services. matplotlib is
imported when a chart is drawn, not with this module, so the command line and the server start
without it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aisc.errors import ValidationFailed

if TYPE_CHECKING:
    from aisc.allocations.schemas import Utilisation

FORMATS = ("png", "svg")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def capacity_plot(data: Utilisation, *, fmt: str) -> bytes:
    """Installed and allocatable GPU cards against committed cards, month by month."""
    if fmt not in FORMATS:
        raise ValidationFailed(f"format: {fmt!r} is not one of png, svg", field="format")
    plt = _pyplot()
    labels = [m.month for m in data.months]
    x = range(len(labels))
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    ax.fill_between(
        x,
        [float(m.committed_cards) for m in data.months],
        step="mid",
        alpha=0.45,
        color="#c2410c",
        label="committed (allocations)",
    )
    ax.step(
        x,
        [float(m.installed_cards) for m in data.months],
        where="mid",
        color="#1d4ed8",
        linewidth=2,
        label="installed",
    )
    ax.step(
        x,
        [float(m.allocatable_cards) for m in data.months],
        where="mid",
        color="#1d4ed8",
        linestyle="--",
        linewidth=1.2,
        label=f"allocatable (installed less {data.headroom_pct}% headroom)",
    )
    if data.now is not None:
        ax.axvline(labels.index(data.now.month), color="#374151", linestyle=":", linewidth=1)
        ax.annotate(
            f"now: {data.now.allocated_pct}% allocated",
            (labels.index(data.now.month), float(data.now.installed_cards)),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    ax.set_xticks(list(x)[::3], labels[::3], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("GPU cards (monthly average)")
    ax.set_title("GPU supply against commitments")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buffer.getvalue()


def utilisation_plot(
    allocated: Sequence[tuple[str, Decimal | None]],
    busy: Sequence[tuple[str, Decimal | None]],
    *,
    fmt: str,
    allocated_label: str = "allocated % (committed cards of installed)",
    busy_label: str = "busy % (GPU time used of reserved)",
) -> bytes:
    """Allocated % and busy % month by month (``(YYYY-MM, percent)``), on one month axis.

    The two are different figures and the chart keeps them apart: allocated is what the
    awards commit of the installed cards, busy what the dedicated allocations used of the GPU
    time they reserved. Labels come in translated.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(f"format: {fmt!r} is not one of png, svg", field="format")
    plt = _pyplot()
    months = sorted({m for m, _ in allocated} | {m for m, _ in busy})
    where = {m: i for i, m in enumerate(months)}
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    for series, label, marker, color, line in (
        (allocated, allocated_label, "o", "#1d4ed8", "-"),
        (busy, busy_label, "s", "#c2410c", "--"),
    ):
        # Floats only here, as plot coordinates: the figures themselves stay Decimal.
        points = [(where[m], float(v)) for m, v in series if v is not None]
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], label=label, marker=marker,
                    color=color, linestyle=line)  # fmt: skip
    ax.set_xticks(range(len(months)), months, rotation=60, fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("%")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # below the month labels: the lines stay clear
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight",
                metadata={"Date": None} if fmt == "svg" else None)  # fmt: skip
    plt.close(fig)
    return buffer.getvalue()
