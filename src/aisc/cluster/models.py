"""GPU models with their published specifications.

Throughput is stored as dense GFLOPS (integers, so no float creeps into capacity arithmetic);
sparse figures are twice dense where the vendor states structured sparsity.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aisc.db.base import Base


class GpuModel(Base):
    __tablename__ = "gpu_models"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    vendor: Mapped[str] = mapped_column(String(100), nullable=False)
    memory_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_bandwidth_gbps: Mapped[int] = mapped_column(Integer, nullable=False)
    interconnect_gbps: Mapped[int] = mapped_column(Integer, nullable=False)
    fp8_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bf16_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tf32_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fp64_dense_gflops: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sparsity_2x: Mapped[bool] = mapped_column(Boolean, nullable=False)
    inference_oriented: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
