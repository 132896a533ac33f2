"""Slurm's command-line tools (sbatch, squeue, sacct, scancel, scontrol, sacctmgr) as typed calls.

Every command is an argument list run without a shell, through an injectable runner, with
``TZ=UTC`` and ``SLURM_TIME_FORMAT=%s`` so that times come back as epoch seconds whatever the
host's time zone. A command that cannot reach its daemon raises ``SlurmUnavailable``; one that
Slurm answers with a refusal raises ``SlurmRefused``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aisc.slurm import hosts
from aisc.slurm.types import JobSpec, SlurmJob, SlurmUnavailable, failure


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


RunCommand = Callable[[Sequence[str], Mapping[str, str], str | None], Completed]


def run_process(argv: Sequence[str], env: Mapping[str, str], stdin: str | None) -> Completed:
    """Run one Slurm command (never through a shell)."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SlurmUnavailable(f"Slurm is unavailable: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise SlurmUnavailable(f"Slurm is unavailable: {argv[0]} timed out") from exc
    return Completed(done.returncode, done.stdout, done.stderr)


SACCT_FIELDS = (
    "JobID,JobName,Account,User,Partition,State,ExitCode,Submit,Start,End,ElapsedRaw,"
    "NodeList,AllocTRES,Reason"
)
SQUEUE_FORMAT = "%i|%j|%a|%u|%T|%r|%N|%V|%S|%e|%P|%b"


def _epoch(text: str) -> int | None:
    text = text.strip()
    if not text or not text.lstrip("-").isdigit():
        return None  # Unknown, None, N/A
    value = int(text)
    return value if value > 0 else None


def parse_tres(text: str) -> tuple[int, str]:
    """GPUs and their type from a TRES string (``billing=2,gres/gpu:h800=2,gres/gpu=2,...``)."""
    count, typed, gpu_type = 0, 0, ""
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu" and value.isdigit():
            count = int(value)
        elif key.startswith("gres/gpu:") and value.isdigit() and int(value) > typed:
            typed, gpu_type = int(value), key.split(":", 1)[1]
    return (count or typed), gpu_type


def parse_sacct(text: str) -> list[SlurmJob]:
    """Rows of ``sacct -X -P -n -o SACCT_FIELDS`` (with ``-D``, one row per run of a job)."""
    jobs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) < 14:
            continue
        (job_id, name, account, user, partition, state, exit_code, submit, start, end,
         elapsed, nodes, tres, reason) = cells[:14]  # fmt: skip
        gpus, gpu_type = parse_tres(tres)
        code = exit_code.split(":", 1)[0]
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                account=account,
                user=user,
                # "CANCELLED by 1001" -> CANCELLED
                state=state.split()[0] if state else "",
                reason=reason if reason not in ("None", "") else "",
                nodes=tuple(hosts.expand(nodes)) if nodes != "None assigned" else (),
                submit=_epoch(submit),
                start=_epoch(start),
                end=_epoch(end),
                elapsed=int(elapsed) if elapsed.isdigit() else 0,
                exit_code=int(code) if code.isdigit() else None,
                gpus=gpus,
                gpu_type=gpu_type,
                partition=partition,
            )
        )
    return jobs


def parse_squeue(text: str) -> list[SlurmJob]:
    """Rows of ``squeue -h -o SQUEUE_FORMAT``."""
    jobs = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < 12:
            continue
        job_id, name, account, user, state, reason, nodes, submit, start, end, part, gres = cells[
            :12
        ]
        per_node = 0
        for item in gres.split(","):
            parts = item.split(":")  # gres:gpu:h800:2 or gres/gpu:h800=2 ...
            if "gpu" in parts and parts[-1].isdigit():
                per_node = int(parts[-1])
        names = tuple(hosts.expand(nodes))
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                account=account,
                user=user,
                state=state,
                reason=reason if reason not in ("None", "") else "",
                nodes=names,
                submit=_epoch(submit),
                start=_epoch(start) if state != "PENDING" else None,
                end=_epoch(end) if state not in ("PENDING", "RUNNING") else None,
                gpus=per_node * max(len(names), 1) if names else 0,
                partition=part,
            )
        )
    return jobs


def parse_gpu_indices(text: str) -> dict[str, tuple[int, ...]]:
    """Node -> GPU indices from ``scontrol -d show job`` (``GRES=gpu:h800:2(IDX:0-1)``)."""
    found: dict[str, tuple[int, ...]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("Nodes=") or "IDX:" not in line:
            continue
        nodes = line.split()[0].split("=", 1)[1]
        indices: list[int] = []
        for chunk in line.split("IDX:")[1:]:
            body = chunk.split(")", 1)[0]
            for item in body.split(","):
                low, _, high = item.partition("-")
                if low.isdigit():
                    indices.extend(range(int(low), int(high or low) + 1))
        for name in hosts.expand(nodes):
            found[name] = tuple(indices)
    return found


def parse_key_values(line: str) -> dict[str, str]:
    """``Key=Value Key2=Value2`` (one ``scontrol -o`` record)."""
    result = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            result[key] = value
    return result


class SlurmCommands:
    """The Slurm client tools, called with argument lists through ``runner``."""

    def __init__(
        self,
        runner: RunCommand = run_process,
        *,
        bin_dir: Path | None = None,
        submit_as_user: bool | None = None,
    ) -> None:
        self.runner = runner
        self.bin_dir = bin_dir
        # Root may submit in another user's name (sbatch --uid); anyone else submits as itself.
        self.submit_as_user = os.geteuid() == 0 if submit_as_user is None else submit_as_user

    def _argv(self, command: str, *args: str) -> list[str]:
        program = str(self.bin_dir / command) if self.bin_dir else command
        return [program, *args]

    def run(
        self, command: str, *args: str, stdin: str | None = None, env: Mapping[str, str] = {}
    ) -> str:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TZ": "UTC",
            "SLURM_TIME_FORMAT": "%s",
        }
        done = self.runner(self._argv(command, *args), {**base, **env}, stdin)
        if done.returncode != 0:
            raise failure(done.stderr.strip() or done.stdout.strip() or f"{command} failed")
        return done.stdout

    # --- jobs -------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        args = [
            "--parsable",
            f"--job-name={spec.name}",
            f"--account={spec.account}",
            f"--partition={spec.partition}",
            f"--nodes={spec.nodes}",
            "--ntasks-per-node=1",
            f"--time={spec.time_limit_min}",
            f"--chdir={spec.workdir}",
            f"--output={spec.stdout}",
            f"--error={spec.stderr}",
            "--export=ALL",
        ]
        if spec.gres:
            args.append(f"--gres={spec.gres}")
        if spec.qos:
            args.append(f"--qos={spec.qos}")
        if spec.reservation:
            args.append(f"--reservation={spec.reservation}")
        if self.submit_as_user:
            args.append(f"--uid={spec.user}")
        # The job's environment travels in sbatch's own environment (--export=ALL): no values
        # are ever written into the script.
        out = self.run("sbatch", *args, stdin=spec.script(), env=spec.environment)
        return out.strip().split(";", 1)[0]

    def accounting(
        self,
        *,
        job_ids: Iterable[str] = (),
        names: Iterable[str] = (),
        since: int | None = None,
        until: int | None = None,
        states: Sequence[str] = (),
    ) -> list[SlurmJob]:
        """``sacct`` rows (allocations only, every run of a requeued job)."""
        args = ["-X", "-P", "-n", "-D", "-a", "-o", SACCT_FIELDS]
        ids, wanted = list(job_ids), list(names)
        if ids:
            args.append("--jobs=" + ",".join(ids))
        if wanted:
            args.append("--name=" + ",".join(wanted))
        if since is not None:
            args.append(f"--starttime={_iso(since)}")
        if until is not None:
            args.append(f"--endtime={_iso(until)}")
        if states:
            args.append("--state=" + ",".join(states))
        return parse_sacct(self.run("sacct", *args))

    def queue(self, *, job_ids: Iterable[str] = (), names: Iterable[str] = ()) -> list[SlurmJob]:
        """The controller's view (jobs it still holds)."""
        args = ["-h", "-a", "-t", "all", "-o", SQUEUE_FORMAT]
        ids, wanted = list(job_ids), list(names)
        if ids:
            args.append("--jobs=" + ",".join(ids))
        if wanted:
            args.append("--name=" + ",".join(wanted))
        try:
            return parse_squeue(self.run("squeue", *args))
        except SlurmUnavailable as exc:
            if "invalid job id" in exc.message.lower():
                return []  # none of them is still in the controller
            raise

    def pending(self) -> list[tuple[str, str, str]]:
        """(job id, account, reason) of every pending job."""
        out = self.run("squeue", "-h", "-a", "-t", "PD", "-o", "%i|%a|%r")
        rows = [line.split("|") for line in out.splitlines() if line.count("|") == 2]
        return [(r[0], r[1], r[2]) for r in rows]

    def gpu_indices(self, job_id: str) -> dict[str, tuple[int, ...]]:
        return parse_gpu_indices(self.run("scontrol", "-d", "show", "job", job_id))

    def cancel(self, job_id: str) -> None:
        self.run("scancel", job_id)

    def hold(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self.run("scontrol", "hold", ",".join(job_ids))

    def release(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self.run("scontrol", "release", ",".join(job_ids))

    def ping(self) -> None:
        out = self.run("scontrol", "ping")
        if "UP" not in out:
            raise SlurmUnavailable(f"Slurm is unavailable: {out.strip()}")

    # --- administration ----------------------------------------------------------------------

    def show(self, entity: str, fields: str, *where: str) -> list[list[str]]:
        """``sacctmgr show ENTITY [where ...] format=FIELDS``, one list of cells per row."""
        args = ["-n", "-P", "show", entity]
        if where:
            args += ["where", *where]
        out = self.run("sacctmgr", *args, f"format={fields}")
        return [line.split("|") for line in out.splitlines() if line.strip()]

    def reservations(self) -> list[dict[str, str]]:
        out = self.run("scontrol", "-o", "show", "reservation")
        if "No reservations" in out:
            return []
        return [parse_key_values(line) for line in out.splitlines() if line.strip()]

    def apply(self, argv: Sequence[str]) -> None:
        """Run one administrative change (an argument list from ``aisc.slurm.sync``)."""
        self.run(argv[0], *argv[1:])


def _iso(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")
