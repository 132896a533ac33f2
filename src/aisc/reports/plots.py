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


def _use_text_font(plt: Any, texts: Sequence[str]) -> None:
    """Noto Sans CJK for labels beyond Latin-1 (Traditional Chinese pages and reports), the
    same installed font the PDFs embed; matplotlib's default otherwise."""
    from aisc.pdf import MISSING, needs_unicode, unicode_font

    if not needs_unicode(texts):
        plt.rcParams["font.family"] = ["sans-serif"]
        return
    face = unicode_font()
    if face is None:
        from aisc.errors import NotReady

        raise NotReady(MISSING, field="font")
    from matplotlib import font_manager

    if not any(f.fname == str(face.path) for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(str(face.path))  # once per process
    names = {f.name for f in font_manager.fontManager.ttflist}
    family = face.name if face.name in names else next(n for n in names if "Sans CJK" in n)
    plt.rcParams["font.family"] = [family, "DejaVu Sans"]


def monthly_plot(
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal | int | None]]],
    *,
    fmt: str,
    kind: str = "bar",
    ylabel: str = "",
    title: str = "",
) -> bytes:
    """Figures month by month (``YYYY-MM``): grouped bars (counts) or lines (sums, %).

    Labels come in translated; a label in Chinese is drawn in Noto Sans CJK.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(f"format: {fmt!r} is not one of png, svg", field="format")
    plt = _pyplot()
    _use_text_font(plt, [ylabel, title, *(label for label, _ in series)])
    colours = ("#1d4ed8", "#c2410c", "#15803d", "#7c3aed")
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    width = 0.8 / max(len(series), 1)
    for index, (label, values) in enumerate(series):
        # Floats only here, as plot coordinates: the figures themselves stay exact.
        points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
        xs, ys = [x for x, _ in points], [y for _, y in points]
        colour = colours[index % len(colours)]
        if kind == "bar":
            offset = (index - (len(series) - 1) / 2) * width
            ax.bar([x + offset for x in xs], ys, width=width, label=label, color=colour)
        else:
            ax.plot(xs, ys, label=label, marker="o", color=colour)
    ax.set_xticks(range(len(months)), list(months), rotation=60, fontsize=8)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(series), frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight",
                metadata={"Date": None} if fmt == "svg" else None)  # fmt: skip
    plt.close(fig)
    return buffer.getvalue()
