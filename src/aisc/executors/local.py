"""The local executor: real subprocesses on this machine.

Each job slice (one per node of the job) runs under ``aisc.executors.wrapper``, detached into
its own session (not a child of the platform, so it survives a platform restart), with
``CUDA_VISIBLE_DEVICES`` set to the GPU indices the scheduler assigned on that node. When the
machine has no GPUs the inventory is virtual: the indices are still assigned and exported, so
programs see the GPUs they would have been given. A slice is identified by its
pid and the process's start time (from /proc), so a recycled pid is never mistaken for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Slice:
    node: str
    gpus: tuple[int, ...]
    pid: int
    start_ticks: int
    exit_file: str
    stdout: str
    stderr: str


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the parenthesised command name.
    return int(stat.rsplit(")", 1)[1].split()[19])


class LocalExecutor:
    """Starts, watches and stops job slices as local processes."""

    def __init__(self, run_root: Path) -> None:
        # Absolute: each slice runs in its own working directory, where a relative path to its
        # exit and log files would point somewhere else.
        self.run_root = run_root.absolute()

    def launch(
        self,
        *,
        job_id: int,
        attempt: int,
        slices: list[tuple[str, tuple[int, ...]]],
        argv: list[str],
        env: dict[str, str],
        workdir: str,
    ) -> tuple[str, list[Slice]]:
        run_dir = self.run_root / f"job-{job_id}"
        run_dir.mkdir(parents=True, exist_ok=True)
        cwd = workdir or str(run_dir)
        started = []
        for index, (node, gpus) in enumerate(slices):
            stem = run_dir / f"{attempt}-{index}"
            exit_file = Path(f"{stem}.exit")
            exit_file.unlink(missing_ok=True)
            Path(f"{stem}.pid").unlink(missing_ok=True)
            child_env = {
                **os.environ,
                **env,
                "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus),
                "AISC_JOB_ID": str(job_id),
                "AISC_NODE": node,
                "AISC_NODE_INDEX": str(index),
                "AISC_NODE_COUNT": str(len(slices)),
            }
            launcher = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "aisc.executors.wrapper",
                    "--detach",
                    str(exit_file),
                    f"{stem}.out",
                    f"{stem}.err",
                    "--",
                    *argv,
                ],
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                timeout=60,
            )
            pid = int(launcher.stdout.decode().strip())
            started.append(
                Slice(
                    node,
                    gpus,
                    pid,
                    _start_ticks(pid) or 0,
                    str(exit_file),
                    f"{stem}.out",
                    f"{stem}.err",
                )
            )
        return str(run_dir), started

    def discover(
        self, *, job_id: int, attempt: int, slices: list[tuple[str, tuple[int, ...]]]
    ) -> list[Slice]:
        """The slices of an attempt found through their pid files (after a crash mid-start)."""
        run_dir = self.run_root / f"job-{job_id}"
        found = []
        for index, (node, gpus) in enumerate(slices):
            stem = run_dir / f"{attempt}-{index}"
            try:
                pid, ticks = Path(f"{stem}.pid").read_text().split()
            except (OSError, ValueError):
                continue
            found.append(
                Slice(
                    node, gpus, int(pid), int(ticks), f"{stem}.exit", f"{stem}.out", f"{stem}.err"
                )
            )
        return found

    def poll(self, item: Slice) -> int | None:
        """The slice's exit code; None while it runs; -1 if it vanished without one."""
        exit_file = Path(item.exit_file)
        if exit_file.exists():
            return int(exit_file.read_text().strip() or "-1")
        ticks = _start_ticks(item.pid)
        if ticks is not None and ticks == item.start_ticks and not _is_zombie(item.pid):
            return None
        if exit_file.exists():  # it may have finished between the two looks
            return int(exit_file.read_text().strip() or "-1")
        return -1

    def signal(self, item: Slice, signum: int) -> None:
        if _start_ticks(item.pid) != item.start_ticks:
            return  # already gone (or the pid now belongs to someone else)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(item.pid, signum)

    def terminate(self, item: Slice) -> None:
        self.signal(item, signal.SIGTERM)

    def kill(self, item: Slice) -> None:
        self.signal(item, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def dump_slices(slices: list[Slice]) -> str:
    return json.dumps([asdict(s) for s in slices])


def load_slices(text: str) -> list[Slice]:
    return [Slice(**{**item, "gpus": tuple(item["gpus"])}) for item in json.loads(text or "[]")]
