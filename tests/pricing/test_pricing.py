import json

from aisc.cluster.catalogue import H800, L40S
from aisc.cluster.service import ensure_catalogue
from tests.helpers import audit_count, error_field, refused

PRICES = {
    "version": "2024-10",
    "effective_from": "2024-10-01",
    "items": [{"gpu_model": H800, "card_month_hkd": "30000", "gpu_hour_hkd": "45"}],
}


def seed(uow):
    with uow() as ctx:
        ensure_catalogue(ctx)


def test_gpu_catalogue_has_published_h800_figures_and_an_inference_model(client, uow):
    seed(uow)
    h800 = client.get(f"/api/v1/gpu-models/{H800}").json()
    assert h800["fp8_dense_gflops"] == 1_979_000
    assert h800["bf16_dense_gflops"] == 989_000
    assert h800["tf32_dense_gflops"] == 494_000
    assert h800["memory_gb"] == 80
    assert h800["memory_bandwidth_gbps"] == 3350
    assert h800["interconnect_gbps"] == 400
    models = client.get("/api/v1/gpu-models").json()
    assert any(m["inference_oriented"] for m in models)
    assert client.get("/api/v1/gpu-models/A100").status_code == 404
    with uow() as ctx:
        assert ensure_catalogue(ctx) == []  # idempotent


def test_price_lists_are_versioned_and_the_latest_effective_one_is_in_force(client, uow):
    seed(uow)
    assert client.post("/api/v1/price-lists", json=PRICES).status_code == 201
    later = {
        **PRICES,
        "version": "2025-07",
        "effective_from": "2025-07-01",
        "items": [
            {"gpu_model": H800, "card_month_hkd": "28000", "gpu_hour_hkd": "40"},
            {"gpu_model": L40S, "card_month_hkd": "9000", "gpu_hour_hkd": "13.50"},
        ],
    }
    assert client.post("/api/v1/price-lists", json=later).status_code == 201
    assert [p["version"] for p in client.get("/api/v1/price-lists").json()] == [
        "2024-10",
        "2025-07",
    ]
    in_force = client.get("/api/v1/price-lists/in-force", params={"on": "2025-06-30"}).json()
    assert in_force["version"] == "2024-10"
    assert in_force["items"][0]["card_month_hkd"] == "30000.00"
    assert (
        client.get("/api/v1/price-lists/in-force", params={"on": "2025-07-01"}).json()["version"]
        == "2025-07"
    )
    assert (
        client.get("/api/v1/price-lists/in-force", params={"on": "2024-01-01"}).status_code == 404
    )
    assert client.get("/api/v1/price-lists/2025-07").json()["items"][1]["gpu_hour_hkd"] == "13.50"
    assert client.get("/api/v1/price-lists/1999").status_code == 404


def test_bad_price_lists_are_refused_whole(client, uow):
    seed(uow)
    client.post("/api/v1/price-lists", json=PRICES)
    before = audit_count(uow)
    cases = [
        ({**PRICES}, 409, "version"),
        ({**PRICES, "version": "b"}, 409, "effective_from"),
        (
            {
                **PRICES,
                "version": "c",
                "effective_from": "2025-01-01",
                "items": [{"gpu_model": "TPUv9", "card_month_hkd": "1", "gpu_hour_hkd": "1"}],
            },
            422,
            "items[0].gpu_model",
        ),
        (
            {
                **PRICES,
                "version": "d",
                "effective_from": "2025-01-01",
                "items": [PRICES["items"][0], PRICES["items"][0]],
            },
            422,
            "items[1].gpu_model",
        ),
        (
            {
                **PRICES,
                "version": "e",
                "effective_from": "2025-01-01",
                "items": [{"gpu_model": H800, "card_month_hkd": "0", "gpu_hour_hkd": "1"}],
            },
            422,
            "items.0.card_month_hkd",
        ),
        (
            {
                **PRICES,
                "version": "f",
                "effective_from": "2025-01-01",
                "items": [{"gpu_model": H800, "card_month_hkd": "1.001", "gpu_hour_hkd": "1"}],
            },
            422,
            "items.0.card_month_hkd",
        ),
        ({**PRICES, "version": "g", "items": []}, 422, "items"),
    ]
    for body, status, field in cases:
        response = client.post("/api/v1/price-lists", json=body)
        assert response.status_code == status, body
        assert error_field(response) == field
    assert len(client.get("/api/v1/price-lists").json()) == 1
    assert audit_count(uow) == before


def test_pricing_cli(cli, uow, tmp_path):
    seed(uow)
    assert json.loads(cli("gpu", "show", H800, "--json").output)["fp8_dense_gflops"] == 1_979_000
    refused(cli, "gpu", "show", "nope", expect=3, says="GPU model 'nope' is not in the catalogue")
    spec = tmp_path / "prices.json"
    spec.write_text(json.dumps(PRICES))
    created = json.loads(cli("price", "create", "--file", str(spec), "--json").output)
    assert created["version"] == "2024-10"
    refused(cli, "price", "create", "--file", str(spec), expect=4, says="already exists", uow=uow)
    assert json.loads(cli("price", "show", "2024-10", "--json").output) == created
    assert json.loads(cli("price", "list", "--json").output) == [created]
    refused(cli, "price", "show", "none", expect=3, says="price list 'none' not found")
