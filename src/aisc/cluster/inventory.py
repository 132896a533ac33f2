"""Import an inventory file (YAML with partitions, nodes and phases; or CSV of nodes).

All or nothing: every row is checked first, every problem is reported with its line number,
and nothing is written unless the whole file is valid. Re-importing a file updates what changed
and creates nothing twice (nodes, partitions and phases are matched by name).

A file is bounded before it is built into objects: YAML (and JSON) nested deeper than
``MAX_DEPTH`` or expanding through aliases to more than ``MAX_VALUES`` values is refused, so no
file can exhaust the stack or the processor.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from aisc.access import authorize
from aisc.cluster import service
from aisc.cluster.models import GpuModel, Partition
from aisc.cluster.schemas import ImportResult, NodeIn, PartitionIn, PhaseIn
from aisc.context import Ctx
from aisc.errors import ValidationFailed

CSV_COLUMNS = (
    "name",
    "gpu_model",
    "gpu_count",
    "cpu_cores",
    "memory_gb",
    "partition",
    "rack",
    "leaf_switch",
    "installed_on",
)


MAX_DEPTH = 16  # an inventory is three levels deep: sections, rows, fields
MAX_VALUES = 1_000_000  # values after aliases are expanded; a 20 MB file of rows has fewer


class Row:
    def __init__(self, section: str, line: int, data: Any) -> None:
        self.section, self.line, self.data = section, line, data


def _check_depth(text: str) -> None:
    """Refuse nesting beyond MAX_DEPTH from the parser's events (flat, unlike composing)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise ValidationFailed(
                    f"line {line}: nested more than {MAX_DEPTH} levels deep", field="file"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_size(data: Any) -> None:
    """Refuse a document whose aliases expand it beyond MAX_VALUES values ("billion laughs")."""
    seen = 0
    stack = [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ValidationFailed(
                f"the file expands to more than {MAX_VALUES:,} values", field="file"
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _yaml_rows(text: str) -> list[Row]:
    try:
        _check_depth(text)
        document = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ValidationFailed(f"{where}not valid YAML: {exc}", field="file") from exc
    if document is None or not isinstance(data, dict):
        raise ValidationFailed(
            "line 1: expected a mapping with partitions, nodes and phases", field="file"
        )
    _check_size(data)
    unknown = sorted(set(data) - {"partitions", "nodes", "phases"})
    if unknown:
        raise ValidationFailed(
            f"unknown section {unknown[0]!r} (expected partitions, nodes, phases)", field="file"
        )
    rows = []
    for key_node, value_node in document.value:
        section = key_node.value
        if not isinstance(value_node, yaml.SequenceNode):
            raise ValidationFailed(
                f"line {value_node.start_mark.line + 1}: {section} must be a list", field="file"
            )
        for index, item in enumerate(value_node.value):
            rows.append(Row(section, item.start_mark.line + 1, data[section][index]))
    return rows


def _csv_rows(text: str) -> list[Row]:
    # newline="": the csv module reads \r\n, \n and \r line ends itself (and inside quotes).
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationFailed(
                f"line 1: the CSV header lacks {', '.join(missing)}", field="file"
            )
        rows = []
        for record in reader:
            if None in record:
                raise ValidationFailed(
                    f"line {reader.line_num}: more fields than the header has", field="file"
                )
            cleaned = {k: v for k, v in record.items() if v not in ("", None)}
            rows.append(Row("nodes", reader.line_num, cleaned))
    except csv.Error as exc:
        raise ValidationFailed(
            f"line {reader.line_num + 1}: not readable as CSV ({exc})", field="file"
        ) from None
    return rows


def parse(text: str, *, fmt: str) -> list[Row]:
    if fmt == "csv":
        return _csv_rows(text)
    if fmt in ("yaml", "yml", "json"):
        return _yaml_rows(text)
    raise ValidationFailed(f"unknown inventory format {fmt!r} (yaml or csv)", field="format")


def _validate(row: Row, schema: type[BaseModel], errors: list[str]) -> Any:
    try:
        return schema.model_validate(row.data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or row.section
            errors.append(f"line {row.line}: {where}: {err['msg']}")
        return None


def import_inventory(ctx: Ctx, *, text: str, fmt: str) -> ImportResult:
    authorize(ctx, "cluster.manage")
    rows = parse(text, fmt=fmt)
    errors: list[str] = []
    partitions: list[PartitionIn] = []
    nodes: list[tuple[int, NodeIn]] = []
    phases: list[PhaseIn] = []
    for row in rows:
        if row.section == "partitions" and (p := _validate(row, PartitionIn, errors)):
            partitions.append(p)
        elif row.section == "phases" and (ph := _validate(row, PhaseIn, errors)):
            phases.append(ph)
        elif row.section == "nodes" and (n := _validate(row, NodeIn, errors)):
            nodes.append((row.line, n))

    known_models = set(ctx.db.execute(select(GpuModel.code)).scalars())
    known_partitions = set(ctx.db.execute(select(Partition.name)).scalars())
    known_partitions |= {p.name for p in partitions}
    seen: dict[str, int] = {}
    for line, node in nodes:
        if node.name in seen:
            errors.append(
                f"line {line}: name: node {node.name!r} also appears on line {seen[node.name]}"
            )
        seen.setdefault(node.name, line)
        if node.gpu_model not in known_models:
            errors.append(f"line {line}: gpu_model: unknown GPU model {node.gpu_model!r}")
        if node.partition not in known_partitions:
            errors.append(f"line {line}: partition: unknown partition {node.partition!r}")
        if node.state.value != "up" and not node.state_reason.strip():
            errors.append(
                f"line {line}: state_reason: a node that is {node.state.value} needs a reason"
            )
    if errors:
        raise ValidationFailed(
            f"inventory not imported ({len(errors)} problem{'s' if len(errors) > 1 else ''}): "
            + "; ".join(errors[:20])
            + (" ..." if len(errors) > 20 else ""),
            field="file",
            details=errors,
        )

    # Any error below propagates and the edge rolls the whole import back.
    counts = dict.fromkeys(ImportResult.model_fields, 0)
    for partition in partitions:
        _p, created = service.upsert_partition(ctx, data=partition)
        counts["partitions_created" if created else "partitions_updated"] += 1
    for line, node in nodes:
        _n, created = service.upsert_node(ctx, data=node, field_prefix=f"line {line}: ")
        counts["nodes_created" if created else "nodes_updated"] += 1
    for phase in phases:
        _ph, created = service.upsert_phase(ctx, data=phase)
        counts["phases_created" if created else "phases_updated"] += 1
    return ImportResult(**counts)
