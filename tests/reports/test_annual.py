"""The annual report: a bilingual PDF with the year's figures in both languages."""

import io

from pypdf import PdfReader

from tests.factories import World


def test_the_annual_report_prints_the_years_figures_in_english_and_chinese(
    client, cli, uow, clock, tmp_path
):
    world = World(uow)
    app_id = world.reviewed()  # submitted 2025-01-10
    clock.advance(days=30)
    world.approve(app_id)  # HK$2,016,000 committed at 70%
    client.post(
        "/api/v1/ledger/earmark-spends",
        json={"earmark": "security", "vendor": "Harbour Red Team", "purpose": "pen test",
              "spent_on": "2025-02-01", "amount_hkd": "1500000"},
    )  # fmt: skip
    out = tmp_path / "annual-2025.pdf"
    assert "wrote" in cli("report", "annual", "--year", "2025", "--out", str(out)).output
    reader = PdfReader(io.BytesIO(out.read_bytes()))
    text = "".join(page.extract_text() for page in reader.pages).replace("\x00", "")
    for words in ("Annual Report 2025", "2025 年度報告", "Key figures", "主要數字",
                  "Approvals in the year", "年內批准", "Subsidy committed in the year",
                  "年內承諾資助", "HK$2,016,000.00", "70.0%", "平均資助比率",
                  "university", "大學", "保安", "HK$98,500,000.00", "2025-02"):  # fmt: skip
        assert words in text, words
    assert "Cantonese" not in text  # aggregates only: no project is named
    assert len(reader.pages) >= 2
    assert len([img for page in reader.pages for img in page.images]) >= 2  # the charts
    refused = cli("report", "annual", "--year", "2099", "--out", str(out), expect=2)
    assert "year" in refused.output
    # The same report through the API, as a download.
    served = client.get("/api/v1/scheme/annual-report/2025")
    assert served.headers["content-type"] == "application/pdf"
    assert "annual-report-2025.pdf" in served.headers["content-disposition"]
    assert "年度報告" in PdfReader(io.BytesIO(served.content)).pages[0].extract_text().replace(
        "\x00", ""
    )
    assert client.get("/api/v1/scheme/annual-report/2099").status_code == 422
    assert client.get("/api/v1/scheme/annual-report/1999").status_code == 422
