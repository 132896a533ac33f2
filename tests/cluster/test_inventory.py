import json

import pytest

from aisc.cluster.service import ensure_catalogue
from tests.helpers import audit_count, error_field, refused

INVENTORY = """\
partitions:
  - {name: training, max_walltime_hours: 168}
  - {name: inference, max_walltime_hours: 24}
phases:
  - {name: phase 1, target_date: 2024-12-09, target_pflops: 1300}
nodes:
  - {name: h800-001, gpu_model: H800-SXM5-80GB, gpu_count: 8, cpu_cores: 128, memory_gb: 2048,
     partition: training, rack: r01, leaf_switch: leaf01, installed_on: 2024-11-15}
  - {name: h800-002, gpu_model: H800-SXM5-80GB, gpu_count: 8, cpu_cores: 128, memory_gb: 2048,
     partition: training, rack: r01, leaf_switch: leaf01, installed_on: 2024-11-15,
     state: maintenance, state_reason: fan tray}
  - {name: l40s-001, gpu_model: L40S-48GB, gpu_count: 8, cpu_cores: 64, memory_gb: 512,
     partition: inference, installed_on: 2025-12-31}
"""

BAD_INVENTORY = """\
partitions:
  - {name: training, max_walltime_hours: 168}
nodes:
  - {name: ok-001, gpu_model: H800-SXM5-80GB, gpu_count: 8, cpu_cores: 128, memory_gb: 2048,
     partition: training, installed_on: 2024-11-15}
  - {name: bad-002, gpu_model: A100, gpu_count: 8, cpu_cores: 128, memory_gb: 2048,
     partition: training, installed_on: 2024-11-15}
  - {name: bad-003, gpu_model: H800-SXM5-80GB, gpu_count: -1, cpu_cores: 128, memory_gb: 2048,
     partition: nowhere, installed_on: 2024-11-15}
  - {name: ok-001, gpu_model: H800-SXM5-80GB, gpu_count: 8, cpu_cores: 128, memory_gb: 2048,
     partition: training, installed_on: 2024-11-15, state: down}
"""

CSV = """name,gpu_model,gpu_count,cpu_cores,memory_gb,partition,rack,leaf_switch,installed_on
h800-101,H800-SXM5-80GB,8,128,2048,training,r09,leaf03,2025-12-31
h800-102,H800-SXM5-80GB,8,128,2048,training,r09,leaf03,2025-12-31
h800-103,H800-SXM5-80GB,eight,128,2048,training,r09,leaf03,2025-12-31
"""


@pytest.fixture
def catalogue(uow):
    with uow() as ctx:
        ensure_catalogue(ctx)


def test_yaml_import_creates_then_reimport_changes_nothing(client, uow, catalogue):
    result = client.post("/api/v1/cluster/import", json={"format": "yaml", "content": INVENTORY})
    assert result.status_code == 200
    assert result.json() == {
        "partitions_created": 2,
        "partitions_updated": 0,
        "nodes_created": 3,
        "nodes_updated": 0,
        "phases_created": 1,
        "phases_updated": 0,
    }
    events = audit_count(uow)
    again = client.post("/api/v1/cluster/import", json={"format": "yaml", "content": INVENTORY})
    assert again.json()["nodes_updated"] == 3
    assert audit_count(uow) == events + 1  # only the phase rewrite is recorded; nodes unchanged
    nodes = client.get("/api/v1/cluster/nodes").json()
    assert [n["name"] for n in nodes] == ["h800-001", "h800-002", "l40s-001"]
    assert nodes[1]["state"] == "maintenance"
    assert nodes[1]["state_reason"] == "fan tray"
    assert (
        client.get("/api/v1/cluster/nodes", params={"state": "maintenance"}).json()[0]["name"]
        == "h800-002"
    )
    assert len(client.get("/api/v1/cluster/nodes", params={"partition": "inference"}).json()) == 1
    assert client.get("/api/v1/cluster/phases").json()[0]["target_pflops"] == 1300


def test_a_bad_file_names_every_problem_by_line_and_imports_nothing(client, uow, catalogue):
    before = audit_count(uow)
    response = client.post(
        "/api/v1/cluster/import", json={"format": "yaml", "content": BAD_INVENTORY}
    )
    assert response.status_code == 422
    problems = response.json()["detail"]["details"]
    assert "line 6: gpu_model: unknown GPU model 'A100'" in problems
    assert any(p.startswith("line 8: gpu_count") for p in problems)
    assert "line 8: partition: unknown partition 'nowhere'" not in problems  # row already invalid
    assert "line 10: name: node 'ok-001' also appears on line 4" in problems
    assert "line 10: state_reason: a node that is down needs a reason" in problems
    assert client.get("/api/v1/cluster/partitions").json() == []
    assert client.get("/api/v1/cluster/nodes").json() == []
    assert audit_count(uow) == before


def test_csv_import_and_its_errors(client, cli, tmp_path, catalogue):
    client.put("/api/v1/cluster/partitions", json={"name": "training", "max_walltime_hours": 168})
    bad = tmp_path / "nodes.csv"
    bad.write_text(CSV)
    refused = cli("cluster", "import", str(bad), expect=2)
    assert "line 4: gpu_count" in refused.output
    assert json.loads(cli("cluster", "nodes", "--json").output) == []
    bad.write_text(CSV.replace("eight", "8"))
    done = json.loads(cli("cluster", "import", str(bad), "--json").output)
    assert done["nodes_created"] == 3
    headerless = tmp_path / "x.csv"
    headerless.write_text("name,gpu_model\nn1,H800-SXM5-80GB\n")
    assert "header lacks" in cli("cluster", "import", str(headerless), expect=2).output
    old_mac = tmp_path / "cr.csv"  # lone carriage returns end lines too
    old_mac.write_text(CSV.replace("eight", "8").replace("h800-1", "h800-2").replace("\n", "\r"))
    assert json.loads(cli("cluster", "import", str(old_mac), "--json").output)["nodes_created"] == 3
    huge = {"format": "csv", "content": CSV.replace("eight", "9" * 200_000)}
    refused = client.post("/api/v1/cluster/import", json=huge)
    assert refused.status_code == 422
    assert "line 4: not readable as CSV" in refused.text
    garbled = tmp_path / "x.yaml"
    garbled.write_text("nodes: [\n")
    assert "not valid YAML" in cli("cluster", "import", str(garbled), expect=2).output
    assert (
        "cannot read" in cli("cluster", "import", str(tmp_path / "missing.yaml"), expect=2).output
    )
    assert "format 'xml'" in cli("cluster", "import", str(bad), "--format", "xml", expect=2).output
    assert len(json.loads(cli("cluster", "nodes", "--json").output)) == 6


def test_node_states_need_reasons_and_are_audited(client, uow, catalogue):
    client.post("/api/v1/cluster/import", json={"format": "yaml", "content": INVENTORY})
    refused = client.put("/api/v1/cluster/nodes/h800-001/state", json={"state": "down"})
    assert refused.status_code == 422
    assert error_field(refused) == "reason"
    down = client.put(
        "/api/v1/cluster/nodes/h800-001/state", json={"state": "down", "reason": "PSU failure"}
    ).json()
    assert (down["state"], down["state_reason"]) == ("down", "PSU failure")
    up = client.put("/api/v1/cluster/nodes/h800-001/state", json={"state": "up"}).json()
    assert up["state"] == "up"
    assert client.get("/api/v1/cluster/nodes/h800-001").json()["state"] == "up"
    assert client.get("/api/v1/cluster/nodes/nope").status_code == 404
    assert client.put("/api/v1/cluster/nodes/nope/state", json={"state": "up"}).status_code == 404
    events = client.get(
        "/api/v1/audit/events", params={"object_type": "node", "object_id": "h800-001"}
    ).json()
    assert [e["action"] for e in events] == ["node.create", "node.state", "node.state"]


def test_nodes_and_partitions_are_managed_one_by_one(client, catalogue):
    assert (
        client.put(
            "/api/v1/cluster/partitions", json={"name": "training", "max_walltime_hours": 0}
        ).status_code
        == 422
    )
    assert (
        client.put(
            "/api/v1/cluster/partitions", json={"name": "training", "max_walltime_hours": 72}
        ).json()["max_walltime_hours"]
        == 72
    )
    node = {
        "name": "h800-009",
        "gpu_model": "H800-SXM5-80GB",
        "gpu_count": 8,
        "cpu_cores": 96,
        "memory_gb": 1024,
        "partition": "training",
        "installed_on": "2025-01-01",
    }
    assert client.put("/api/v1/cluster/nodes", json=node).json()["cpu_cores"] == 96
    unknown = client.put("/api/v1/cluster/nodes", json={**node, "partition": "gpu"})
    assert unknown.status_code == 422
    assert error_field(unknown) == "partition"
    retired = client.put("/api/v1/cluster/nodes", json={**node, "retired_on": "2024-01-01"})
    assert retired.status_code == 422


def test_capacity_report_explains_pflops_on_each_basis(client, uow, catalogue, cli):
    client.post("/api/v1/cluster/import", json={"format": "yaml", "content": INVENTORY})
    report = client.get("/api/v1/cluster/capacity", params={"as_of": "2025-01-01"}).json()
    assert report["installed_gpus"] == 16  # the L40S node arrives at the end of 2025
    # 16 x 989 TFLOPS dense BF16; x 1,979 dense FP8; sparse doubles both.
    assert report["installed_pflops"] == {
        "fp8_dense": "31.7",
        "fp8_sparse": "63.3",
        "bf16_dense": "15.8",
        "bf16_sparse": "31.6",
    }
    phase = report["phases"][0]
    implied = {i["basis"]: (i["gpus"], i["nodes"]) for i in phase["implies"]}
    # 1,300 PFLOPS / 0.989 = 1,314.5 -> 1,315 H800 = 165 nodes of 8 on dense BF16
    assert implied["bf16_dense"] == (1315, 165)
    assert implied["fp8_sparse"] == (329, 42)  # 1,300 / 3.958
    later = client.get("/api/v1/cluster/capacity", params={"as_of": "2026-01-01"}).json()
    assert later["installed_gpus"] == 24
    assert {m["gpu_model"] for m in later["by_model"]} == {"H800-SXM5-80GB", "L40S-48GB"}
    assert (
        client.get("/api/v1/cluster/capacity", params={"reference_model": "A100"}).status_code
        == 404
    )
    text = cli("cluster", "capacity", "--as-of", "2025-01-01").output
    assert "1315 H800-SXM5-80GB GPUs =  165 8-GPU nodes" in text
    assert (
        json.loads(cli("cluster", "capacity", "--json", "--as-of", "2025-01-01").output)[
            "installed_gpus"
        ]
        == 16
    )


def test_cluster_cli(cli, catalogue, uow):
    cli("cluster", "partition-set", "training", "--max-walltime-hours", "168")
    assert json.loads(cli("cluster", "partitions", "--json").output)[0]["name"] == "training"
    created = json.loads(
        cli(
            "cluster",
            "node-set",
            "h800-001",
            "--gpu-model",
            "H800-SXM5-80GB",
            "--cpu-cores",
            "128",
            "--memory-gb",
            "2048",
            "--partition",
            "training",
            "--installed-on",
            "2024-11-15",
            "--json",
        ).output
    )
    assert created["gpu_count"] == 8
    before = audit_count(uow)
    unknown = cli(
        "cluster",
        "node-set",
        "h800-002",
        "--gpu-model",
        "nope",
        "--cpu-cores",
        "1",
        "--memory-gb",
        "1",
        "--partition",
        "training",
        "--installed-on",
        "2024-11-15",
        expect=2,
    )
    assert "gpu_model: unknown GPU model 'nope'" in unknown.output
    refused(cli, "cluster", "node-state", "h800-001", "down", expect=2, says="needs a reason")
    assert audit_count(uow) == before
    down = json.loads(
        cli("cluster", "node-state", "h800-001", "down", "--reason", "PSU", "--json").output
    )
    assert down["state"] == "down"
    assert "PSU" in cli("cluster", "nodes").output
    assert json.loads(cli("cluster", "node", "h800-001", "--json").output)["state"] == "down"
    refused(cli, "cluster", "node", "nope", expect=3, says="node 'nope' not found")
    assert json.loads(cli("cluster", "phases", "--json").output) == []
