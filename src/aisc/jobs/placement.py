"""Where a job runs: a typed value, stored as JSON (``[{"node": ..., "gpus": [...]}, ...]``).

The local loop writes the GPU indices it chose; the Slurm loop writes the nodes Slurm chose, with
the indices once Slurm tells them (``gpu_count`` says how many there are before then). Nothing
else parses the stored form: the column hands back a :class:`Placement`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Dialect
from sqlalchemy.types import TypeDecorator


@dataclass(frozen=True)
class Slot:
    """The part of a job on one node."""

    node: str
    gpus: tuple[int, ...] = ()  # the node's GPU indices; empty while Slurm has not said
    gpu_count: int | None = None  # how many GPUs, when known before their indices (Slurm)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"node": self.node, "gpus": list(self.gpus)}
        if self.gpu_count is not None:
            data["gpu_count"] = self.gpu_count
        return data


@dataclass(frozen=True)
class Placement:
    """The slots of a job, one per node, in the order the job's slices are numbered."""

    slots: tuple[Slot, ...] = ()

    @classmethod
    def of(cls, slots: list[tuple[str, tuple[int, ...]]] | tuple[Slot, ...]) -> Placement:
        return cls(tuple(s if isinstance(s, Slot) else Slot(s[0], tuple(s[1])) for s in slots))

    @classmethod
    def from_json(cls, data: list[dict[str, Any]] | None) -> Placement:
        return cls(
            tuple(
                Slot(
                    node=str(item["node"]),
                    gpus=tuple(int(g) for g in item.get("gpus", ())),
                    gpu_count=item.get("gpu_count"),
                )
                for item in data or ()
            )
        )

    def as_json(self) -> list[dict[str, Any]]:
        return [slot.as_json() for slot in self.slots]

    def __iter__(self) -> Iterator[Slot]:
        return iter(self.slots)

    def __len__(self) -> int:
        return len(self.slots)

    def __bool__(self) -> bool:
        return bool(self.slots)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(slot.node for slot in self.slots)

    @property
    def knows_gpus(self) -> bool:
        """Whether the GPU indices are known on some node (Slurm tells them after the start)."""
        return any(slot.gpus for slot in self.slots)

    def pairs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(node, GPU indices) per slot: what the local executor starts slices on."""
        return [(slot.node, slot.gpus) for slot in self.slots]


NOWHERE = Placement()


class PlacementType(TypeDecorator[Placement]):
    """A :class:`Placement` in a JSON column (portable: JSON on PostgreSQL, text on SQLite)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Placement | None, dialect: Dialect) -> Any:
        return (value or NOWHERE).as_json()

    def process_result_value(self, value: Any, dialect: Dialect) -> Placement:
        return Placement.from_json(value)
