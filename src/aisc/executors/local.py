"""The local executor: real subprocesses on this machine.

Each job slice (one per node of the job) runs under ``aisc/executors/wrapper.py``, detached into
its own session (not a child of the platform, so it survives a platform restart), with
``CUDA_VISIBLE_DEVICES`` set to the GPU indices the scheduler assigned on that node. When the
machine has no GPUs the inventory is virtual: the indices are still assigned and exported, so
programs see the GPUs they would have been given. A slice is identified by its
pid and the process's start time (from /proc), so a recycled pid is never mistaken for it.

How a slice is kept from the platform and other tenants: ``aisc.executors.sandbox``. The
platform's files of a slice (pid, exit, stdout, stderr) live in the job's run directory,
``RUN_ROOT/job-N`` (readable by the platform alone); the job works in its project's space,
``RUN_ROOT/projects/p<project>``, the one directory its sandbox may write.
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
from typing import Any

from aisc.executors.sandbox import (
    SANDBOX_PATH,
    SPACE_MOUNT,
    Account,
    Isolation,
    SandboxError,
    bwrap_path,
    check_environment,
    check_workdir,
    ensure_account,
    sandbox_args,
    setpriv_argv,
    write_etc,
)

WRAPPER = str(Path(__file__).with_name("wrapper.py"))


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
    """Starts, watches and stops job slices as local processes.

    ``isolation="sandbox"`` (the default) runs every slice under its project's account in a
    Bubblewrap sandbox (``aisc.executors.sandbox``); ``"none"`` is the single-user development
    mode, where slices run as the platform's user. In both, a slice's environment is built from
    an allowlist and the job's own checked variables, never inherited from the platform.
    ``private`` names directories a sandbox must never show (the data directory).
    """

    def __init__(
        self,
        run_root: Path,
        *,
        isolation: Isolation = "sandbox",
        private: tuple[Path, ...] = (),
        readonly: tuple[Path, ...] = (),
    ) -> None:
        # Absolute: each slice runs in its own working directory, where a relative path to its
        # exit and log files would point somewhere else.
        self.run_root = run_root.absolute()
        self.isolation = isolation
        self.private = tuple(p.absolute() for p in private)
        self.readonly = tuple(p.absolute() for p in readonly)

    def space(self, project_id: int) -> Path:
        """The project's own directory: the only place its jobs may write."""
        return self.run_root / "projects" / f"p{project_id}"

    def launch(
        self,
        *,
        job_id: int,
        attempt: int,
        slices: list[tuple[str, tuple[int, ...]]],
        argv: list[str],
        env: dict[str, str],
        workdir: str,
        project_id: int = 0,
    ) -> tuple[str, list[Slice]]:
        """Start every slice, or none: raises SandboxError (the job's reason) when it cannot."""
        try:
            check_environment(env)
            relative = check_workdir(workdir)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        if not argv or not argv[0]:
            raise SandboxError("the command is empty")
        self.run_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        run_dir = self.run_root / f"job-{job_id}"
        run_dir.mkdir(exist_ok=True, mode=0o700)
        account = ensure_account(project_id) if self.isolation == "sandbox" else None
        space = self.space(project_id)
        cwd = self._working_directory(space, relative, job_id, account)
        started: list[Slice] = []
        try:
            for index, (node, gpus) in enumerate(slices):
                started.append(
                    self._launch_slice(
                        run_dir / f"{attempt}-{index}",
                        node=node,
                        gpus=gpus,
                        argv=argv,
                        env={
                            **self._base_env(space),
                            **env,
                            "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus),
                            "AISC_JOB_ID": str(job_id),
                            "AISC_NODE": node,
                            "AISC_NODE_INDEX": str(index),
                            "AISC_NODE_COUNT": str(len(slices)),
                        },
                        cwd=cwd,
                        space=space,
                        account=account,
                    )
                )
        except BaseException:
            for item in started:  # all or nothing
                self.kill(item)
            raise
        return str(run_dir), started

    def _base_env(self, space: Path) -> dict[str, str]:
        # The allowlist: nothing else of the platform's environment reaches a job.
        base = {
            "PATH": SANDBOX_PATH
            if self.isolation == "sandbox"
            else os.environ.get("PATH", SANDBOX_PATH),
            "HOME": str(SPACE_MOUNT if self.isolation == "sandbox" else space),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        if os.environ.get("TZ"):
            base["TZ"] = os.environ["TZ"]
        return base

    def _working_directory(
        self, space: Path, relative: str, job_id: int, account: Account | None
    ) -> Path:
        def own(path: Path) -> None:
            if account is not None:
                os.chown(path, account.uid, account.gid)
                path.chmod(0o700)

        space.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not space.exists():
            space.mkdir(mode=0o700)
            own(space)
        if not relative:
            cwd = space / f"job-{job_id}"
            if not cwd.exists():
                cwd.mkdir(mode=0o700)
                own(cwd)
            return cwd
        cwd = space / relative
        resolved = cwd.resolve()
        if not resolved.is_relative_to(space.resolve()):
            raise SandboxError(f"workdir {relative!r} leads out of the project's space")
        if not resolved.is_dir():
            raise SandboxError(f"workdir {relative!r} does not exist in the project's space")
        return resolved

    def _launch_slice(
        self,
        stem: Path,
        *,
        node: str,
        gpus: tuple[int, ...],
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        space: Path,
        account: Account | None,
    ) -> Slice:
        exit_file = Path(f"{stem}.exit")
        exit_file.unlink(missing_ok=True)
        Path(f"{stem}.pid").unlink(missing_ok=True)
        spec: dict[str, object] = {
            "exit_file": str(exit_file),
            "stdout": f"{stem}.out",
            "stderr": f"{stem}.err",
            "cwd": str(cwd),
        }
        if account is None:
            spec.update(argv=argv, env=env, sandbox_args=None)
        else:
            etc_dir = Path(f"{stem}.etc")
            write_etc(etc_dir, account)
            spec.update(
                bwrap=bwrap_path(),
                argv=setpriv_argv(account, argv),
                env={},
                sandbox_args=sandbox_args(
                    account=account,
                    space=space,
                    cwd=cwd,
                    etc_dir=etc_dir,
                    env=env,
                    private=[*self.private, self.run_root],
                    readonly=list(self.readonly),
                ),
            )
        spec_file = Path(f"{stem}.spec")
        # Readable by the platform alone: it holds the job's variables until the wrapper reads it.
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(spec, handle)
        launcher = subprocess.run(
            [sys.executable, "-I", WRAPPER, "--detach", str(spec_file)],
            cwd=stem.parent,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=60,
        )
        if launcher.returncode != 0:
            spec_file.unlink(missing_ok=True)
            raise SandboxError(
                "the slice could not be started: "
                + (launcher.stderr.decode(errors="replace").strip()[-300:] or "no reason given")
            )
        pid = int(launcher.stdout.decode().strip())
        return Slice(
            node, gpus, pid, _start_ticks(pid) or 0, str(exit_file), f"{stem}.out", f"{stem}.err"
        )

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
            return read_exit(exit_file).code
        ticks = _start_ticks(item.pid)
        if ticks is not None and ticks == item.start_ticks and not _is_zombie(item.pid):
            return None
        if exit_file.exists():  # it may have finished between the two looks
            return read_exit(exit_file).code
        return -1

    def reason(self, item: Slice) -> str:
        """What the wrapper said beyond the exit code (why a sandbox could not be set up)."""
        return read_exit(Path(item.exit_file)).reason

    def run_span(self, item: Slice) -> tuple[float, float] | None:
        """When the slice's command started and ended (epoch seconds, this machine's clock), as
        the wrapper recorded them; None when it did not (it vanished, or an older wrapper)."""
        found = read_exit(Path(item.exit_file))
        if found.started is None or found.ended is None:
            return None
        return found.started, found.ended

    def signal(self, item: Slice, signum: int) -> None:
        if _start_ticks(item.pid) != item.start_ticks:
            return  # already gone (or the pid now belongs to someone else)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(item.pid, signum)

    def terminate(self, item: Slice) -> None:
        self.signal(item, signal.SIGTERM)

    def kill(self, item: Slice) -> None:
        self.signal(item, signal.SIGKILL)


@dataclass(frozen=True)
class Exit:
    """What the wrapper wrote when its command ended."""

    code: int
    reason: str = ""
    started: float | None = None
    ended: float | None = None


def read_exit(exit_file: Path) -> Exit:
    """The exit file: one JSON object, or (from a wrapper of an earlier release, still running
    across an upgrade) the code on a line and the reason on the next. Unreadable: code -1."""
    try:
        text = exit_file.read_text()
    except OSError:
        return Exit(-1)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        try:
            return Exit(
                int(data["code"]),
                str(data.get("reason") or ""),
                float(data["started"]) if data.get("started") is not None else None,
                float(data["ended"]) if data.get("ended") is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            return Exit(-1)
    lines = text.splitlines()
    try:
        code = int(lines[0].strip()) if lines else -1
    except ValueError:
        return Exit(-1)
    return Exit(code, lines[1].strip() if len(lines) > 1 else "")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def dump_slices(slices: list[Slice]) -> list[dict[str, Any]]:
    """The slices as the job's ``processes`` column keeps them (JSON objects)."""
    return [{**asdict(s), "gpus": list(s.gpus)} for s in slices]


def load_slices(stored: list[dict[str, Any]]) -> list[Slice]:
    return [Slice(**{**item, "gpus": tuple(item["gpus"])}) for item in stored or ()]
