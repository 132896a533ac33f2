# ruff: noqa: RUF001  (Chinese text is printed with its own full-width punctuation)
"""The committee's annual report: a bilingual (English and Traditional Chinese) PDF.

Figures are the published statistics (``aisc.reports.stats``, ``aisc.reports.opendata``) as of
the end of the year (or of today, for the year in progress), with the year's own activity
(applications received, approvals and subsidy committed in the year, month by month) and the
earmarks' spending. Every label is printed in both languages, in Noto Sans CJK (``aisc.pdf``);
charts are drawn with the same font and embedded as images, each beside its table.

Aggregates only, as the open data: no applicant, organisation or project is named.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from aisc.access import authorize
from aisc.context import Ctx
from aisc.errors import ValidationFailed
from aisc.ledger.earmarks.service import earmarks
from aisc.money import format_hkd, hkd_to_cents
from aisc.pdf import Document
from aisc.reports.opendata import OpenData, open_data
from aisc.reports.plots import monthly_plot
from aisc.reports.stats import end_of

CATEGORY_ZH = {
    "university": "大學",
    "research_institute": "研究機構",
    "ai_startup": "人工智能初創企業",
    "enterprise": "企業",
    "public_body": "公營機構",
    "other": "其他",
}
DOMAIN_ZH = {
    "llm": "大型語言模型",
    "materials": "材料科學",
    "synthetic_biology": "合成生物學",
    "medical": "醫療",
    "finance": "金融",
    "robotics": "機械人",
    "climate": "氣候",
    "media": "媒體",
    "other": "其他",
}
EARMARK_ZH = {"security": "保安", "promotion and education": "推廣及教育"}


def _hkd(amount: Decimal) -> str:
    return format_hkd(hkd_to_cents(amount))


def _pct(rate: Decimal | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


class _Report:
    def __init__(self, doc: Document) -> None:
        self.doc, self.pdf = doc, doc.pdf

    def heading(self, english: str, chinese: str) -> None:
        if self.pdf.get_y() > 250:
            self.pdf.add_page()
        self.pdf.ln(4)
        self.doc.font("B", 13)
        self.pdf.cell(0, 8, f"{english}  {chinese}", new_x="LMARGIN", new_y="NEXT")

    def line(self, text: str, size: float = 10) -> None:
        self.doc.font("", size)
        self.pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        self.doc.font("B", 8)
        for width, title in zip(widths, header, strict=True):
            self.pdf.cell(width, 7, self.doc.fit(title, width), border=1)
        self.pdf.ln()
        self.doc.font("", 8)
        for row in rows:
            if self.pdf.get_y() > 270:
                self.pdf.add_page()
            for index, (width, text) in enumerate(zip(widths, row, strict=True)):
                self.pdf.cell(width, 6, self.doc.fit(text, width), border=1,
                              align="L" if index == 0 else "R")  # fmt: skip
            self.pdf.ln()

    def chart(self, png: bytes) -> None:
        if self.pdf.get_y() > 190:
            self.pdf.add_page()
        self.pdf.image(io.BytesIO(png), w=self.pdf.epw)


def annual_report(ctx: Ctx, *, year: int) -> bytes:
    """The annual report for ``year`` as PDF bytes (``scheme.read`` and ``earmark.read``)."""
    authorize(ctx, "scheme.read")
    authorize(ctx, "earmark.read")
    today = ctx.now.date()
    if not 2000 <= year <= today.year:
        raise ValidationFailed(f"year: {year} is not a year of the scheme so far", field="year")
    as_of = min(date(year, 12, 31), today)
    data = open_data(ctx, today=as_of)
    spent = earmarks(ctx, before=end_of(as_of))
    return _render(year, as_of, data, spent)


def _render(year: int, as_of: date, data: OpenData, spent: list) -> bytes:  # type: ignore[type-arg]
    stats = data.stats
    title = f"Annual Report {year}  {year} 年度報告"
    doc = Document(title, ["年度報告"])
    report = _Report(doc)
    pdf = doc.pdf
    doc.font("B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    report.line("AI Subsidy Scheme: the committee's report  人工智能資助計劃：委員會報告", 11)
    report.line(f"Figures as of {as_of}  數字截至 {as_of}")

    months = [m for m in data.months if m.month.startswith(f"{year}-")]
    received = sum(m.applications_received for m in months)
    approvals = sum(m.approvals for m in months)
    committed = sum((m.committed_in_month_hkd for m in months), Decimal("0"))

    report.heading("Key figures", "主要數字")
    rows = [
        ["Applications received in the year", "年內收到申請", str(received)],
        ["Approvals in the year", "年內批准", str(approvals)],
        ["Subsidy committed in the year", "年內承諾資助", _hkd(committed)],
        ["Applications received, all to date", "累計收到申請", str(stats.applications_received)],
        ["Approved, all to date", "累計批准", str(stats.approved)],
        ["Rejected", "拒絕", str(stats.rejected)],
        ["Pending a decision", "待決定", str(stats.pending)],
        ["Withdrawn", "撤回", str(stats.withdrawn)],
        ["Fund", "基金", _hkd(stats.total_fund_hkd)],
        ["Earmarked", "預留", _hkd(stats.earmarked_hkd)],
        ["Subsidy committed (net of releases)", "已承諾資助（扣除撥回）",
         _hkd(stats.committed_hkd)],
        ["Subsidy paid out", "已支付資助", _hkd(stats.disbursed_hkd)],
        ["Available to commit", "可供承諾", _hkd(stats.available_hkd)],
        ["Average subsidy rate", "平均資助比率", _pct(stats.average_subsidy_rate)],
        ["GPUs allocated, " + (stats.allocated_month or "-"), "GPU 分配率",
         "-" if stats.allocated_pct_now is None else f"{stats.allocated_pct_now}%"],
    ]  # fmt: skip
    report.table(["Figure", "項目", "Value 數值"], rows, [85, 60, 45])

    report.heading("By category of applicant", "按申請者類別")
    report.table(
        ["Category 類別", "Received 收到", "Approved 批准", "Committed 承諾", "Rate 比率"],
        [
            [f"{k.value} {CATEGORY_ZH.get(k.value, '')}", str(v.applications_received),
             str(v.approved), _hkd(v.committed_hkd), _pct(v.average_subsidy_rate)]
            for k, v in stats.by_category.items()
        ],
        [62, 26, 26, 46, 30],
    )  # fmt: skip
    report.heading("By domain", "按研究領域")
    report.table(
        ["Domain 領域", "Received 收到", "Approved 批准", "Committed 承諾", "Rate 比率"],
        [
            [f"{k.value} {DOMAIN_ZH.get(k.value, '')}", str(v.applications_received),
             str(v.approved), _hkd(v.committed_hkd), _pct(v.average_subsidy_rate)]
            for k, v in stats.by_domain.items()
        ],
        [62, 26, 26, 46, 30],
    )  # fmt: skip

    report.heading("Month by month", "按月數字")
    labels = [m.month for m in months]
    report.chart(
        monthly_plot(
            labels,
            [("Received 收到", [m.applications_received for m in months]),
             ("Approved 批准", [m.approvals for m in months])],
            fmt="png", kind="bar",
        )
    )  # fmt: skip
    report.chart(
        monthly_plot(
            labels,
            [("Allocated % 分配率", [m.allocated_pct for m in months]),
             ("Busy % 使用率", [m.busy_pct for m in months])],
            fmt="png", kind="line", ylabel="%",
        )
    )  # fmt: skip
    report.table(
        ["Month 月份", "Received 收到", "Approved 批准", "Committed 承諾", "Alloc. 分配",
         "Busy 使用"],
        [
            [m.month, str(m.applications_received), str(m.approvals),
             _hkd(m.committed_in_month_hkd),
             "-" if m.allocated_pct is None else f"{m.allocated_pct}%",
             "-" if m.busy_pct is None else f"{m.busy_pct}%"]
            for m in months
        ],
        [26, 26, 26, 52, 30, 30],
    )  # fmt: skip

    report.heading("Earmarks", "預留款項")
    report.table(
        ["Earmark 預留", "Set aside 預留額", "Spent 已用", "Remaining 餘額"],
        [
            [f"{p.earmark} {EARMARK_ZH.get(p.earmark, '')}", format_hkd(p.earmarked),
             format_hkd(p.spent), format_hkd(p.remaining)]
            for p in spent
        ],
        [60, 45, 40, 45],
    )  # fmt: skip

    report.heading("Outcomes", "成果")
    if stats.outcomes:
        report.table(
            ["Outcome 成果", "Count 數目"],
            [[kind, str(count)] for kind, count in sorted(stats.outcomes.items())],
            [100, 40],
        )
    else:
        report.line(
            "Outputs of accepted progress reports (papers, models, patents) are not reported "
            "yet.  尚未有已接納進度報告的成果（論文、模型、專利）。"
        )
    report.line(
        "Aggregates only: no applicant or project is named.  只列總數，不列任何申請者或項目名稱。",
        8,
    )
    return doc.output()
