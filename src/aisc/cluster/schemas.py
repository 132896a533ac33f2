from __future__ import annotations

from aisc.schemas import ReadSchema


class GpuModelRead(ReadSchema):
    code: str
    name: str
    vendor: str
    memory_gb: int
    memory_bandwidth_gbps: int
    interconnect_gbps: int
    fp8_dense_gflops: int
    bf16_dense_gflops: int
    tf32_dense_gflops: int
    fp64_dense_gflops: int
    sparsity_2x: bool
    inference_oriented: bool
