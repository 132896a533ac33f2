"""How a tenant's job is kept away from the platform and from other tenants (local executor).

Each project runs under an unprivileged account of its own (``aisc-p<project id>``), created
by the platform when it runs as root. A job slice runs inside Bubblewrap (``bwrap``) with new
pid, network, IPC, UTS and cgroup namespaces: it sees a fresh ``/proc``, ``/dev`` and ``/tmp``,
read-only system directories (``/usr``, the ``/bin`` and ``/lib`` links, a minimal ``/etc``
whose passwd and group name only its own account), the platform's Python installation read-only
(so ``sys.executable`` works), and exactly one writable directory: its project's space, owned
by the project's account and shown at ``/project`` (its HOME). It never sees the platform's
data directory, database file, run directory or any other project's space; in a network
namespace of its own it cannot reach the database over loopback either.

Bubblewrap runs as root without a user namespace (so that every path is mounted with root's
access, however private its parents are) and keeps only the capabilities needed to switch
users; ``setpriv`` then becomes the project's account, clears every capability, the bounding
set and the supplementary groups, and sets no-new-privileges before it runs the command. The
job therefore runs under the project's real uid, as a job on Slurm runs under its submitter's.

The environment is built, never inherited: an allowlist (PATH, HOME, LANG, TZ), the variables
the platform sets (``CUDA_VISIBLE_DEVICES``, ``AISC_JOB_ID``, ``AISC_NODE`` ...) and the job's
own variables, whose names the gateway checked (``check_environment``; the executor checks
again before it starts anything).

Where this cannot be set up (not root, no ``bwrap``, no namespaces) the local executor refuses
tenant jobs, unless the operator chose the single-user development mode
(``AISC_JOB_ISOLATION=none``), where jobs run as the platform's own user with the same built
environment but no filesystem isolation.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Isolation = Literal["sandbox", "none"]

ENABLE_HINT = (
    "run the platform as root with Bubblewrap installed (Debian: apt-get install bubblewrap) "
    "so that each project's jobs run under an account of their own in a sandbox, or set "
    "AISC_JOB_ISOLATION=none on a single-user development machine"
)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARIABLES = 100
MAX_NAME = 128
MAX_VALUE = 4096
MAX_TOTAL = 32_768
# Interpreter settings that only change how output looks or is buffered; every other PYTHON*
# variable can make the interpreter load code from elsewhere.
HARMLESS_PYTHON = frozenset(
    {"PYTHONUNBUFFERED", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING"}
)
PLATFORM_NAMES = frozenset({"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"})
HOOK_NAMES = frozenset({"BASH_ENV", "ENV", "GCONV_PATH", "PERL5OPT", "NODE_OPTIONS"})

SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
)
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# One lock for every platform process on the machine that may create accounts, where only root
# can write (as /etc/.pwd.lock), so nobody else can hold it.
ACCOUNTS_LOCK = Path("/etc/.aisc-accounts.lock")
# Where a sandboxed job finds its project's space (its HOME); the host's path stays hidden.
SPACE_MOUNT = Path("/project")


class SandboxError(Exception):
    """The job cannot be started as asked; the message says why (it becomes the job's reason)."""


def refused_name(name: str) -> str | None:
    """Why an environment variable name is refused for a job, or None if it is allowed."""
    upper = name.upper()
    if len(name) > MAX_NAME or not NAME.match(name):
        return f"{name[:40]!r} is not a valid variable name (letters, digits, _; not first a digit)"
    if upper.startswith("AISC_") or upper in PLATFORM_NAMES:
        return f"{name} is set by the platform"
    if upper.startswith("LD_") or upper.startswith("BASH_FUNC_") or upper in HOOK_NAMES:
        return f"{name} changes how programs are loaded; it is not allowed"
    if upper.startswith("PYTHON") and upper not in HARMLESS_PYTHON:
        return f"{name} changes what the Python interpreter loads; it is not allowed"
    return None


def check_environment(environment: dict[str, str]) -> None:
    """Raise ValueError naming the first problem with a job's own environment variables."""
    if len(environment) > MAX_VARIABLES:
        raise ValueError(f"at most {MAX_VARIABLES} variables, not {len(environment)}")
    total = 0
    for name, value in environment.items():
        reason = refused_name(name)
        if reason:
            raise ValueError(reason)
        if "\x00" in value:
            raise ValueError(f"{name}: values may not contain NUL characters")
        if len(value) > MAX_VALUE:
            raise ValueError(f"{name}: values are at most {MAX_VALUE} characters")
        total += len(name) + len(value) + 2
    if total > MAX_TOTAL:
        raise ValueError(f"the variables take {total} characters; at most {MAX_TOTAL}")


def check_workdir(workdir: str) -> str:
    """A job's working directory: relative to its project's space, never leaving it."""
    if "\x00" in workdir:
        raise ValueError("may not contain NUL characters")
    if workdir.startswith("/") or workdir.startswith("~"):
        raise ValueError("must be relative to the project's space (no absolute paths)")
    parts = [p for p in workdir.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("may not leave the project's space ('..')")
    return "/".join(parts)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def account_name(project_id: int) -> str:
    return f"aisc-p{project_id}"


def ensure_account(project_id: int) -> Account:
    """The project's unprivileged account, created on first use (idempotent, and safe when
    several processes ask at once: ``useradd`` alone can create the same name twice, so every
    creator on the machine takes one lock first)."""
    name = account_name(project_id)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        with open(ACCOUNTS_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                created = subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        "--user-group",
                        "--comment",
                        f"aisc project {project_id} jobs",
                        name,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                )
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    raise SandboxError(
                        f"cannot create the project's account {name}: "
                        f"{created.stderr.strip() or created.returncode}"
                    ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise SandboxError(f"the account {name} is privileged; refusing to run jobs under it")
    return Account(name, entry.pw_uid, entry.pw_gid)


def python_roots() -> list[Path]:
    """The platform's Python installation (and virtual environment), shown read-only to jobs so
    that the interpreter the platform runs under also runs inside the sandbox."""
    roots = []
    for prefix in {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}:
        path = Path(prefix).resolve()
        if path != Path("/") and not path.is_relative_to("/usr"):
            roots.append(path)
    return sorted(set(roots))


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def sandbox_args(
    *,
    account: Account,
    space: Path,
    cwd: Path,
    etc_dir: Path,
    env: dict[str, str],
    private: list[Path],
    readonly: list[Path],
) -> list[str]:
    """Bubblewrap's options for one slice (passed through a file descriptor, never argv, so
    that the job's variables are not shown to every process on the machine)."""
    shown = [*python_roots(), *readonly]
    for path in shown:
        for secret in private:
            if _overlaps(path, secret.absolute()):
                raise SandboxError(
                    f"{path} would show the platform's private directory {secret} to the job"
                )
    args = [
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "job",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    args += _system_dirs()
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        args += ["--ro-bind-try", name, name]
    args += ["--ro-bind", str(etc_dir / "passwd"), "/etc/passwd"]
    args += ["--ro-bind", str(etc_dir / "group"), "/etc/group"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for device in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*")):
        args += ["--dev-bind-try", device, device]
    made: set[str] = set()
    for path in shown:
        for parent in reversed(path.parents):
            text = str(parent)
            if text in ("/", "/tmp", "/usr", "/etc", "/dev", "/proc") or text in made:
                continue
            if parent.is_relative_to("/usr") or any(
                parent.is_relative_to(s) for s in shown if s != path
            ):
                continue
            args += ["--perms", "0755", "--dir", text]
            made.add(text)
    for path in shown:
        args += ["--ro-bind", str(path), str(path)]
    inside = SPACE_MOUNT / cwd.relative_to(space)
    args += ["--bind", str(space), str(SPACE_MOUNT), "--chdir", str(inside)]
    # Root without a user namespace mounts everything; only what setpriv needs to become the
    # project's account survives into the sandbox, and setpriv drops even that.
    args += ["--cap-drop", "ALL"]
    for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_READ_SEARCH"):
        args += ["--cap-add", cap]
    args.append("--clearenv")
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args


def _system_dirs() -> list[str]:
    """/bin, /lib ... as the host has them: links into /usr, or read-only directories."""
    args = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    return args


def setpriv_argv(account: Account, argv: list[str]) -> list[str]:
    return [
        "/usr/bin/setpriv",
        f"--reuid={account.uid}",
        f"--regid={account.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        *argv,
    ]


def write_etc(etc_dir: Path, account: Account) -> None:
    """The sandbox's passwd and group: root, nobody and the project's account, nothing else."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    (etc_dir / "passwd").write_text(
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"{account.name}:x:{account.uid}:{account.gid}::{SPACE_MOUNT}:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc_dir / "group").write_text(
        f"root:x:0:\n{account.name}:x:{account.gid}:\nnogroup:x:65534:\n"
    )
    for name in ("passwd", "group"):
        (etc_dir / name).chmod(0o644)


@functools.cache
def unavailable() -> str | None:
    """Why the sandbox cannot be set up on this machine (None when it can); checked once."""
    if os.geteuid() != 0:
        return "the platform does not run as root, so it cannot give each project an account"
    for program in ("bwrap", "setpriv", "useradd"):
        if shutil.which(program, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin") is None:
            return f"{program} is not installed"
    try:
        trial = subprocess.run(
            [
                bwrap_path(),
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--die-with-parent",
                "--ro-bind",
                "/usr",
                "/usr",
                *_system_dirs(),
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--cap-drop",
                "ALL",
                "--",
                "/usr/bin/true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": SANDBOX_PATH},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap cannot run: {exc}"
    if trial.returncode != 0:
        return f"bwrap cannot create namespaces here: {trial.stderr.strip()[:300]}"
    return None


def bwrap_path() -> str:
    return shutil.which("bwrap", path="/usr/local/bin:/usr/bin") or "/usr/bin/bwrap"


def refusal(isolation: Isolation, executor: str = "local") -> str | None:
    """Why the local executor must refuse tenant jobs now (None when it may take them)."""
    if executor != "local" or isolation == "none":
        return None
    reason = unavailable()
    if reason is None:
        return None
    return f"jobs cannot be isolated on this machine ({reason}); {ENABLE_HINT}"
