"""Runs one job slice.

    python -m aisc.executors.wrapper [--detach] EXIT_FILE STDOUT STDERR -- ARGV...

With ``--detach`` the wrapper forks, prints the detached process's pid and returns at once; the
slice then runs in its own session, no longer a child of the platform, so it outlives a platform
restart exactly as a job on a real cluster would.

The wrapper starts the command (never through a shell), forwards SIGTERM and SIGINT to it, waits,
and writes the exit code to EXIT_FILE atomically (write to a temporary file, then rename). The
exit file is how the platform learns the outcome even if it restarted while the job ran: a
process that is gone without an exit file was lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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


def main(argv: list[str]) -> int:
    detached = bool(argv) and argv[0] == "--detach"
    if detached:
        argv = argv[1:]
    if len(argv) < 5 or argv[3] != "--":
        print("usage: wrapper [--detach] EXIT_FILE STDOUT STDERR -- ARGV...", file=sys.stderr)
        return 2
    exit_file, stdout_path, stderr_path, command = Path(argv[0]), argv[1], argv[2], argv[4:]
    if detached:
        detach(exit_file)
    else:
        write_pid_file(exit_file)
    with open(stdout_path, "ab") as out, open(stderr_path, "ab") as err:
        try:
            child = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as exc:
            err.write(f"aisc: cannot start {command[0]!r}: {exc.strerror}\n".encode())
            code = 127
        else:

            def forward(signum: int, _frame: object) -> None:
                child.send_signal(signum)

            signal.signal(signal.SIGTERM, forward)
            signal.signal(signal.SIGINT, forward)
            code = child.wait()
            if code < 0:  # killed by a signal: report it the shell's way
                code = 128 - code
    partial = exit_file.with_suffix(".tmp")
    partial.write_text(str(code))
    os.replace(partial, exit_file)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
