"""What the demo centre is made of: organisations, people, hardware, applications and jobs.

Names of organisations and people are fictional; dates, counts, rates and capacities follow the
public record of the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from aisc.accounts.models import OrgCategory, Role
from aisc.cluster.catalogue import H800, L40S

ACTOR = "demo"
# The demo tells the story up to mid-2025, when officials said >90% of capacity was allocated.
DEMO_PRESENT = date(2025, 7, 31)

ORGANISATIONS: list[tuple[str, OrgCategory, str | None]] = [
    ("Harbour University", OrgCategory.UNIVERSITY, "海港大學"),
    ("Lion Rock University of Science", OrgCategory.UNIVERSITY, "獅子山科技大學"),
    ("Victoria Polytechnic", OrgCategory.UNIVERSITY, "維多利亞理工"),
    ("Kowloon Generative AI Centre", OrgCategory.RESEARCH_INSTITUTE, "九龍生成式人工智能中心"),
    ("Pearl River Materials Institute", OrgCategory.RESEARCH_INSTITUTE, "珠江材料研究所"),
    ("Sai Kung BioDesign Lab", OrgCategory.RESEARCH_INSTITUTE, "西貢生物設計實驗室"),
    ("Junk Bay Robotics Ltd", OrgCategory.AI_STARTUP, "將軍澳機械人有限公司"),
    ("Tsim Sha Tsui Vision Ltd", OrgCategory.AI_STARTUP, "尖沙咀視覺有限公司"),
    ("Lantau Language Models Ltd", OrgCategory.AI_STARTUP, "大嶼山語言模型有限公司"),
    ("Central Harbour Bank Ltd", OrgCategory.ENTERPRISE, "中環海港銀行"),
    ("Peak Logistics Holdings", OrgCategory.ENTERPRISE, "山頂物流控股"),
    ("Tai Po Pharma Ltd", OrgCategory.ENTERPRISE, "大埔製藥有限公司"),
    ("Hong Kong Public Health Data Office", OrgCategory.PUBLIC_BODY, "香港公共衞生數據辦公室"),
    ("City Translation Services Department", OrgCategory.PUBLIC_BODY, "城市翻譯服務署"),
    ("Offshore Compute Brokers Inc", OrgCategory.OTHER, None),
]

REVIEWERS = [
    ("ada.cheung@committee.example", "Ada Cheung"),
    ("ben.ho@committee.example", "Ben Ho"),
    ("carmen.lau@committee.example", "Carmen Lau"),
    ("derek.ng@committee.example", "Derek Ng"),
]
SECRETARIAT = [("sam.wong@secretariat.example", "Sam Wong")]
OTHER_STAFF = [
    ("olivia.chan@ops.example", "Olivia Chan", Role.OPERATOR),
    ("frank.lee@finance.example", "Frank Lee", Role.FINANCE),
    ("alice.yip@audit.example", "Alice Yip", Role.AUDITOR),
]


def inventory_yaml() -> str:
    """The demo centre's hardware as an inventory file (imported through the real importer).

    Phase 1 (installed mid-November 2024, opened 9 December): 164 nodes of 8 H800 = 1,312 GPUs
    = 1,297.6 PFLOPS of dense BF16, the basis on which "1,300 PFLOPS" holds. Phase 2 (31
    December 2025): 215 more H800 nodes (3,032 H800 in all = 2,998.6 PFLOPS dense BF16) and an
    inference partition of 16 L40S nodes.
    """
    lines = [
        "partitions:",
        "  - {name: training, max_walltime_hours: 168, description: Dedicated and pooled training}",
        "  - {name: inference, max_walltime_hours: 24, description: Inference-oriented GPUs}",
        "  - {name: sandbox, max_walltime_hours: 8, description: Proof of concept and sandbox}",
        "phases:",
        "  - {name: phase 1, target_date: 2024-12-09, target_pflops: 1300, note: AISC opening}",
        "  - {name: phase 2, target_date: 2025-12-31, target_pflops: 3000,"
        " note: 'Expansion to 3,000 PFLOPS'}",
        "nodes:",
    ]

    def node(
        name: str, model: str, partition: str, installed: str, index: int, extra: str = ""
    ) -> None:
        cpus, memory = (128, 2048) if model == H800 else (64, 512)
        lines.append(
            f"  - {{name: {name}, gpu_model: {model}, gpu_count: 8, cpu_cores: {cpus}, "
            f"memory_gb: {memory}, partition: {partition}, rack: r{index // 4:03d}, "
            f"leaf_switch: leaf{index // 32:02d}, installed_on: {installed}{extra}}}"
        )

    for i in range(160):
        extra = ""
        if i == 17:
            extra = ", state: maintenance, state_reason: NVLink switch replacement"
        elif i == 42:
            extra = ", state: draining, state_reason: GPU 3 ECC errors"
        node(f"h800-{i + 1:04d}", H800, "training", "2024-11-15", i, extra)
    for i in range(4):
        node(f"h800-sbx-{i + 1:02d}", H800, "sandbox", "2024-11-15", 160 + i)
    for i in range(215):
        node(f"h800-{i + 161:04d}", H800, "training", "2025-12-31", 164 + i)
    for i in range(16):
        node(f"l40s-{i + 1:03d}", L40S, "inference", "2025-12-31", 380 + i)
    return "\n".join(lines) + "\n"


@dataclass
class Plan:
    """One demo application and what happens to it."""

    org: int  # index into ORGANISATIONS
    title: str
    domain: str
    cards: int | None = None
    hours: int | None = None
    months: int = 12
    start: date = date(2025, 1, 6)
    submitted: date = date(2024, 10, 21)
    fate: str = "approve"  # approve, conditions, reject_review, reject_screening, defer,
    # under_review, screening, submitted, incomplete, withdrawn, draft
    local_staff: int = 8
    hk_relevance: str = "Builds local capability in Hong Kong and serves Hong Kong users."
    grant_cards: int | None = None
    rate: str | None = None
    justification: str = ""
    scores: tuple[int, int, int, int] = (8, 8, 8, 8)
    reasons: list[tuple[str, str]] = field(default_factory=list)
    model: str = H800


PLANS: list[Plan] = [
    Plan(
        3,
        "Cantonese-English foundation language model",
        "llm",
        cards=320,
        grant_cards=256,
        submitted=date(2024, 10, 14),
        scores=(9, 8, 9, 9),
    ),
    Plan(
        0,
        "Real-time 3D scene generation",
        "media",
        cards=192,
        submitted=date(2024, 10, 18),
        scores=(8, 7, 8, 8),
    ),
    Plan(
        4,
        "Generative search for battery materials",
        "materials",
        cards=160,
        submitted=date(2024, 10, 25),
        start=date(2025, 2, 3),
        scores=(8, 8, 7, 8),
    ),
    Plan(
        5,
        "Protein design for synthetic biology",
        "synthetic_biology",
        cards=128,
        submitted=date(2024, 11, 4),
        start=date(2025, 2, 3),
        rate="0.85",
        justification="First local open protein-design model; unique impact on Hong Kong's "
        "biotech cluster.",
        scores=(9, 9, 8, 9),
    ),
    Plan(
        1,
        "Medical imaging foundation model for public hospitals",
        "medical",
        cards=128,
        submitted=date(2024, 11, 11),
        start=date(2025, 3, 3),
        fate="conditions",
        scores=(8, 8, 8, 9),
    ),
    Plan(
        12,
        "Population health forecasting with privacy-preserving models",
        "medical",
        cards=96,
        submitted=date(2024, 11, 20),
        start=date(2025, 3, 3),
        rate="0.60",
        scores=(7, 7, 8, 7),
    ),
    Plan(
        8,
        "Legal and financial document LLM for SMEs",
        "llm",
        cards=96,
        submitted=date(2024, 12, 2),
        start=date(2025, 4, 1),
        scores=(7, 8, 7, 8),
    ),
    Plan(
        6,
        "Embodied AI for elderly-care robots",
        "robotics",
        cards=64,
        submitted=date(2024, 12, 16),
        start=date(2025, 5, 5),
        scores=(8, 7, 7, 8),
    ),
    Plan(
        13,
        "Government speech translation service",
        "llm",
        cards=64,
        submitted=date(2025, 1, 13),
        start=date(2025, 6, 2),
        scores=(8, 8, 7, 8),
    ),
    Plan(
        2,
        "Climate downscaling for the Pearl River Delta",
        "climate",
        hours=250_000,
        months=12,
        submitted=date(2025, 2, 10),
        start=date(2025, 7, 1),
        scores=(7, 8, 7, 7),
    ),
    Plan(
        14,
        "GPU resale for overseas clients",
        "other",
        cards=64,
        fate="reject_screening",
        submitted=date(2024, 10, 30),
        reasons=[("category_ineligible", "The applicant is not one of the eligible categories.")],
    ),
    Plan(
        7,
        "Retail shelf analytics",
        "other",
        cards=32,
        fate="reject_screening",
        local_staff=0,
        submitted=date(2024, 11, 6),
        reasons=[("no_local_rnd_staff", "The project has no local R&D team in Hong Kong.")],
    ),
    Plan(
        10,
        "Global shipping route optimiser",
        "other",
        cards=48,
        fate="reject_screening",
        hk_relevance="",
        submitted=date(2024, 11, 27),
        reasons=[("hk_relevance_missing", "The proposal shows no relevance to Hong Kong.")],
    ),
    Plan(
        11,
        "Generic drug label summarisation",
        "medical",
        cards=64,
        fate="reject_review",
        submitted=date(2024, 12, 9),
        scores=(4, 3, 5, 3),
        reasons=[
            ("alignment", "Limited novelty or contribution to Hong Kong's AI needs."),
            (
                "compute_reasonableness",
                "The compute request is not justified by the model and data sizes.",
            ),
        ],
    ),
    Plan(
        9,
        "Fraud detection with graph neural networks",
        "finance",
        cards=48,
        fate="defer",
        submitted=date(2025, 3, 3),
        start=date(2025, 9, 1),
        scores=(7, 6, 7, 6),
        reasons=[
            ("capability", "Awaiting the bank's confirmation of its data-governance arrangements.")
        ],
    ),
    Plan(
        3,
        "Multimodal model for Hong Kong sign language",
        "llm",
        cards=64,
        fate="under_review",
        submitted=date(2025, 5, 12),
        start=date(2025, 10, 6),
    ),
    Plan(
        0,
        "Weather-aware traffic forecasting",
        "climate",
        cards=32,
        fate="under_review",
        submitted=date(2025, 5, 26),
        start=date(2025, 10, 6),
    ),
    Plan(
        6,
        "Warehouse picking robots with vision-language models",
        "robotics",
        cards=32,
        fate="under_review",
        submitted=date(2025, 6, 9),
        start=date(2025, 11, 3),
    ),
    Plan(
        10,
        "Port congestion prediction",
        "other",
        cards=16,
        fate="screening",
        submitted=date(2025, 6, 16),
        start=date(2025, 11, 3),
    ),
    Plan(
        1,
        "Chinese medicine knowledge graph",
        "medical",
        cards=24,
        fate="submitted",
        submitted=date(2025, 6, 23),
        start=date(2025, 12, 1),
    ),
    Plan(
        8,
        "Retrieval-augmented assistant for civil servants",
        "llm",
        cards=16,
        fate="incomplete",
        submitted=date(2025, 6, 2),
        start=date(2025, 11, 3),
    ),
    Plan(
        4,
        "Perovskite solar cell screening",
        "materials",
        cards=16,
        fate="withdrawn",
        submitted=date(2025, 4, 7),
        start=date(2025, 9, 1),
    ),
    Plan(
        2,
        "Campus energy optimisation",
        "climate",
        hours=20_000,
        fate="under_review",
        submitted=date(2025, 6, 20),
        start=date(2025, 12, 1),
        model=L40S,
    ),
    Plan(
        7,
        "Video moderation models",
        "media",
        cards=16,
        fate="draft",
        submitted=date(2025, 6, 25),
        start=date(2025, 12, 1),
    ),
]


DEMO_JOBS: list[tuple[str, list[str], int, int]] = [  # name, code, nodes, GPUs per node
    (
        "estimate-pi",
        [
            "import math",
            "n = 2_000_000",
            "s = sum((-1) ** k / (2 * k + 1) for k in range(n))",
            "print(f'pi ~ {4 * s:.6f} (error {abs(4 * s - math.pi):.1e})')",
        ],
        1,
        1,
    ),
    (
        "count-primes",
        [
            "limit = 200_000",
            "sieve = bytearray([1]) * limit",
            "sieve[:2] = b'\\0\\0'",
            "for i in range(2, int(limit ** 0.5) + 1):",
            "    if sieve[i]: sieve[i * i::i] = bytearray(len(sieve[i * i::i]))",
            "print(sum(sieve), 'primes below', limit)",
        ],
        1,
        4,
    ),
    (
        "two-node-hello",
        ["import os", "print(os.environ['AISC_NODE'], 'GPUs', os.environ['CUDA_VISIBLE_DEVICES'])"],
        2,
        8,
    ),
    (
        "bad-config",
        ["import sys", "print('config.yaml not found', file=sys.stderr)", "sys.exit(2)"],
        1,
        1,
    ),
]
