"""Open data and the public statistics page: aggregates only, anyone may read them."""

import csv
import io
import json

from tests.factories import World

NAMES = ("Cantonese speech model", "Start-up vision model", "Harbour", "pi@", "uni.example")


def _history(world, client, clock):
    uni_app = world.reviewed()  # submitted 2025-01-10
    clock.advance(days=30)  # 2025-02-09
    world.approve(uni_app)  # 2,016,000 committed
    startup_app = world.reviewed(
        title="Start-up vision model",
        organisation_id=world.startup,
        created_by_id=world.startup_pi,
        domain="medical",
        compute={"gpu_cards": 8},
    )
    clock.advance(days=30)  # 2025-03-11
    world.approve(startup_app)  # 8 x 6 x 30,000 x 0.7 = 1,008,000
    award = next(
        a for a in client.get("/api/v1/awards").json() if a["application_id"] == startup_app
    )
    client.post(
        f"/api/v1/awards/{award['id']}/close",
        json={"outcome": "terminated", "reason": "offer never accepted"},
    )


def _no_names(text: str) -> None:
    for name in NAMES:
        assert name not in text, name


def test_open_data_is_aggregates_month_by_month(client, api, cli, uow, clock, tmp_path):
    world = World(uow)
    _history(world, client, clock)
    data = api.get("/api/v1/scheme/open-data", params={"as_of": "2025-03-31"}).json()
    _no_names(json.dumps(data))
    assert data["published"]
    assert data["stats"]["committed_hkd"] == "2016000.00"
    months = {m["month"]: m for m in data["months"]}
    assert list(months)[:2] == ["2024-10", "2024-11"]  # from the scheme's opening
    assert months["2025-01"]["applications_received"] == 1
    assert months["2025-02"]["applications_received"] == 1
    assert (months["2025-02"]["approvals"], months["2025-03"]["approvals"]) == (1, 1)
    assert months["2025-02"]["committed_in_month_hkd"] == "2016000.00"
    # approved 1,008,000 and released it again in March: nothing net in the month
    assert months["2025-03"]["committed_in_month_hkd"] == "0.00"
    assert months["2025-03"]["committed_cumulative_hkd"] == "2016000.00"
    assert list(months)[-1] == "2025-03"

    monthly = api.get("/api/v1/scheme/open-data/monthly.csv", params={"as_of": "2025-03-31"})
    assert monthly.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(monthly.text)))
    assert rows[-1]["committed_cumulative_hkd"] == "2016000.00"
    groups = api.get("/api/v1/scheme/open-data/groups.csv", params={"as_of": "2025-03-31"})
    by_group = {r["group"]: r for r in csv.DictReader(io.StringIO(groups.text))}
    assert by_group["category:university"]["committed_hkd"] == "2016000.00"
    assert by_group["category:ai_startup"]["committed_hkd"] == "0.00"
    assert by_group["domain:medical"]["average_subsidy_rate"] == "0.7000"
    _no_names(monthly.text + groups.text)

    out = tmp_path / "open"
    printed = cli("scheme", "open-data", "--out", str(out), "--as-of", "2025-03-31").output
    assert "monthly.csv" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt", "groups.csv", "monthly.csv", "open-data.json",
    ]  # fmt: skip
    assert (out / "monthly.csv").read_text() == monthly.text
    assert json.loads((out / "open-data.json").read_text()) == data
    assert "Aggregates only" in (out / "README.txt").read_text()


def test_the_public_statistics_page_needs_no_sign_in_and_names_nobody(client, api, uow, clock):
    world = World(uow)
    _history(world, client, clock)
    page = api.get("/statistics")  # anonymous: no cookie, no token
    assert page.status_code == 200
    assert "Statistics month by month" in page.text
    assert "2,016,000" in page.text  # the numbers beside the charts
    _no_names(page.text)
    for chart in ("applications", "committed", "utilisation"):
        svg = api.get(f"/statistics/{chart}.svg")
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
    api.cookies.set("aisc_lang", "zh_Hant")
    chinese = api.get("/statistics")
    assert "按月統計" in chinese.text
    svg = api.get("/statistics/committed.svg")
    assert svg.status_code == 200
    assert "已承諾資助" in svg.text  # drawn with the CJK font, its text kept in the SVG
    home = api.get("/")
    assert 'href="/statistics"' in home.text
