"""Runs one job slice.

    python -I wrapper.py [--detach] SPEC_FILE

The platform starts this file (not the ``aisc`` package: it uses the standard library only) with
an isolated interpreter (``-I``) and an empty environment, so nothing a job asks for (say
``PYTHONHOME=/nonexistent``) can change how the wrapper itself runs. SPEC_FILE (JSON, readable
by the platform alone, removed once read) names the exit, stdout and stderr files, the command,
its environment and working directory, and, for a sandboxed slice, Bubblewrap's options, which
reach ``bwrap`` through a file descriptor rather than its command line.

With ``--detach`` the wrapper forks, prints the detached process's pid and returns at once; the
slice then runs in its own session, no longer a child of the platform, so it outlives a platform
restart exactly as a job on a real cluster would.

The wrapper starts the command (never through a shell), forwards SIGTERM and SIGINT to it, waits,
and writes to the exit file, atomically (write to a temporary file, then rename), one JSON object:
the exit code, the reason when the sandbox could not be set up, and the times (epoch seconds, this
machine's clock) the command was started and ended, so usage ends when the process did, not when
the platform next looked. The wrapper and its files
stay outside the sandbox, in a directory the job cannot see. The exit file is how the platform
learns the outcome even if it restarted while the job ran: a process that is gone without an
exit file was lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO


def write_pid_file(exit_file: Path) -> None:
    """The pid file lets a restarted platform find this slice even if it never learnt the pid."""
    pid_file = exit_file.with_suffix(".pid")
    ticks = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    pid_file.with_suffix(".pidtmp").write_text(f"{os.getpid()} {ticks}")
    os.replace(pid_file.with_suffix(".pidtmp"), pid_file)


def detach(exit_file: Path) -> None:
    """Fork: the child starts a new session and writes its pid file; only then does the parent
    print the child's pid and exit. So once the launcher has returned, the pid file exists and a
    platform that dies at that moment finds the slice on restart instead of starting it twice."""
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(ready_write)
        with os.fdopen(ready_read, "rb") as ready:
            if ready.read(1) != b"1":
                print("aisc: the detached slice did not start", file=sys.stderr)
                os._exit(1)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        os._exit(0)
    os.close(ready_read)
    os.setsid()
    write_pid_file(exit_file)
    os.write(ready_write, b"1")
    os.close(ready_write)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                text = Path(f"/proc/{parent}/task/{task}/children").read_text()
                children = [int(c) for c in text.split()]
                found += children
                queue += children
    return found


def _uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _run_sandboxed(spec: dict[str, Any], out: BinaryIO, err: BinaryIO) -> tuple[int, str]:
    options = "\0".join(spec["sandbox_args"]).encode() + b"\0"
    args_fd = os.memfd_create("aisc-sandbox-args")
    os.write(args_fd, options)
    os.lseek(args_fd, 0, os.SEEK_SET)
    status_read, status_write = os.pipe()
    argv = [
        spec["bwrap"],
        "--args",
        str(args_fd),
        "--json-status-fd",
        str(status_write),
        "--",
        *spec["argv"],
    ]
    try:
        child = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={},
            cwd="/",
            pass_fds=(args_fd, status_write),
            start_new_session=True,
        )
    except OSError as exc:
        return 126, f"the sandbox could not be started: {exc.strerror}"
    finally:
        os.close(args_fd)
        os.close(status_write)

    def forward(signum: int, _frame: object) -> None:
        # The job's own processes (never root's) get the signal; Bubblewrap itself would die
        # of it and take the job down without its grace period.
        for pid in _descendants(child.pid):
            if _uid(pid) not in (None, 0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    os.set_blocking(status_read, False)
    status = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(status_read, 65_536):
            status += chunk
    os.close(status_read)
    if b"child-pid" not in status:
        return 126, "the sandbox could not be set up (the job's stderr says why)"
    if code < 0:
        code = 128 - code
    return code, ""


def _run_plain(spec: dict[str, Any], out: BinaryIO, err: BinaryIO) -> tuple[int, str]:
    command = spec["argv"]
    try:
        child = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=spec["env"],
            cwd=spec["cwd"],
        )
    except OSError as exc:
        err.write(f"aisc: cannot start {command[0]!r}: {exc.strerror}\n".encode())
        return 127, ""

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    if code < 0:  # killed by a signal: report it the shell's way
        code = 128 - code
    return code, ""


def main(argv: list[str]) -> int:
    detached = bool(argv) and argv[0] == "--detach"
    if detached:
        argv = argv[1:]
    if len(argv) != 1:
        print("usage: wrapper.py [--detach] SPEC_FILE", file=sys.stderr)
        return 2
    spec_file = Path(argv[0])
    spec = json.loads(spec_file.read_text())
    spec_file.unlink()
    exit_file = Path(spec["exit_file"])
    if detached:
        detach(exit_file)
    else:
        write_pid_file(exit_file)
    with open(spec["stdout"], "ab") as out, open(spec["stderr"], "ab") as err:
        started = time.time()
        if spec.get("sandbox_args") is not None:
            code, reason = _run_sandboxed(spec, out, err)
        else:
            code, reason = _run_plain(spec, out, err)
        ended = time.time()
    partial = exit_file.with_suffix(".tmp")
    outcome = {"code": code, "reason": reason, "started": started, "ended": ended}
    partial.write_text(json.dumps(outcome) + "\n")
    os.replace(partial, exit_file)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
