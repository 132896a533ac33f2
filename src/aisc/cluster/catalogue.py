"""Published specifications of the GPU models the centre runs or plans to run.

Sources: NVIDIA H800 SXM5 and L40S data sheets (dense figures; sparse = 2x dense).
"""

from __future__ import annotations

from typing import Any

H800 = "H800-SXM5-80GB"
L40S = "L40S-48GB"

CATALOGUE: list[dict[str, Any]] = [
    {
        "code": H800,
        "name": "NVIDIA H800 SXM5 80 GB",
        "vendor": "NVIDIA",
        "memory_gb": 80,
        "memory_bandwidth_gbps": 3350,
        "interconnect_gbps": 400,
        "fp8_dense_gflops": 1_979_000,
        "bf16_dense_gflops": 989_000,
        "tf32_dense_gflops": 494_000,
        "fp64_dense_gflops": 1_000,
        "sparsity_2x": True,
        "inference_oriented": False,
    },
    {
        "code": L40S,
        "name": "NVIDIA L40S 48 GB",
        "vendor": "NVIDIA",
        "memory_gb": 48,
        "memory_bandwidth_gbps": 864,
        "interconnect_gbps": 64,
        "fp8_dense_gflops": 733_000,
        "bf16_dense_gflops": 362_000,
        "tf32_dense_gflops": 183_000,
        "fp64_dense_gflops": 1_400,
        "sparsity_2x": True,
        "inference_oriented": True,
    },
]
