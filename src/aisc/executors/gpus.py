"""The GPUs of this machine, found through NVML's command-line client (nvidia-smi).

The local executor runs on whatever inventory is configured. When this machine has NVIDIA GPUs,
`aisc cluster detect-local` records them as a node, so the GPU indices the scheduler assigns are
real devices; without GPUs the inventory is virtual (indices are assigned and exported all the
same). The command runner is injectable, so parsing is tested without a GPU.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

QUERY = ["nvidia-smi", "--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader,nounits"]
RunCommand = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class LocalGpu:
    index: int
    name: str
    memory_mib: int
    uuid: str


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)


def detect_gpus(run: RunCommand = _run) -> list[LocalGpu]:
    """This machine's NVIDIA GPUs; an empty list when there are none (or no driver)."""
    try:
        result = run(QUERY)
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    gpus = []
    for line in result.stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4 or not fields[0].isdigit():
            continue
        memory = int(fields[2]) if fields[2].isdigit() else 0
        gpus.append(LocalGpu(int(fields[0]), fields[1], memory, fields[3]))
    return gpus


def catalogue_code(name: str, known: list[str]) -> str | None:
    """The catalogue entry a device name belongs to (e.g. 'NVIDIA H800' -> 'H800-SXM5-80GB')."""
    upper = name.upper().replace("NVIDIA", "").strip()
    for code in known:
        family = code.split("-")[0].upper()
        if family and family in upper.split():
            return code
    return None
