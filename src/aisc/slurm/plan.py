"""Provisioning as a plan: what Slurm should hold, what it holds, and the commands between.

Pure: ``plan(desired, actual, now)`` compares plain data and returns the changes, each with the
exact argument list that makes it. Only objects the platform owns are touched: accounts, QOS
and reservations whose names start with the deployment's prefix (``award-`` by default).
Running the plan and reading Slurm again gives an empty plan: the sync is idempotent.

What each award becomes:
- an account ``award-<id>`` with fair-share shares proportional to the award's rate and an
  association priority from its burn-rate pacing;
- its members' cluster user names as users with associations under it;
- a QOS of its own: a GPU-minute budget (``GrpTRESMins=gres/gpu=...``, flags DenyOnLimit and
  NoDecay) for pooled GPU-hours, a concurrent GPU cap (``GrpTRES``) for dedicated cards;
- for each privileged tier granted to it (``hero``, ``debug``), a QOS ``award-<id>-<tier>``
  with the tier's priority; the account's QOS list is its own QOS and those, nothing else, so
  Slurm refuses ``--qos`` of a tier the award was not granted;
- for dedicated cards, a reservation of the bound nodes for the allocation's period;
- an award that is not active takes no new jobs (``MaxSubmitJobs=0``) and its pending jobs are
  held; when it is active again they are released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aisc.slurm import hosts
from aisc.slurm.commands import SlurmCommands

PREFIX = "award-"
NO_LIMIT = -1


def account_name(award_id: int, prefix: str = PREFIX) -> str:
    """The Slurm account (and QOS, and reservation) of an award."""
    return f"{prefix}{award_id}"


@dataclass(frozen=True)
class AccountSpec:
    name: str
    description: str
    organisation: str
    users: frozenset[str]
    fairshare: int
    priority: int
    open: bool  # False: no new jobs, pending ones held
    tiers: frozenset[str] = frozenset()  # granted tier QOS, allowed beside the account's own


@dataclass(frozen=True)
class QosSpec:
    name: str
    gpu_minutes: int = NO_LIMIT  # GrpTRESMins on gres/gpu
    gpus: int = NO_LIMIT  # GrpTRES on gres/gpu (concurrent)
    priority: int = 0  # the QOS's Priority (a tier's place in the order)


@dataclass(frozen=True)
class ReservationSpec:
    name: str
    account: str
    nodes: tuple[str, ...]
    start: int  # epoch seconds
    end: int


@dataclass
class Desired:
    accounts: dict[str, AccountSpec] = field(default_factory=dict)
    qos: dict[str, QosSpec] = field(default_factory=dict)
    reservations: dict[str, ReservationSpec] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be provisioned, and why


@dataclass(frozen=True)
class AccountState:
    name: str
    users: frozenset[str]
    fairshare: int
    priority: int
    qos: str
    default_qos: str
    max_submit: int  # -1 when unlimited


@dataclass
class Actual:
    accounts: dict[str, AccountState] = field(default_factory=dict)
    qos: dict[str, QosSpec] = field(default_factory=dict)
    qos_flags: dict[str, frozenset[str]] = field(default_factory=dict)
    reservations: dict[str, ReservationSpec] = field(default_factory=dict)
    users: frozenset[str] = frozenset()  # every user Slurm knows
    pending: dict[str, list[tuple[str, str]]] = field(
        default_factory=dict
    )  # account -> (id, reason)


@dataclass(frozen=True)
class Change:
    action: str  # add, modify, delete, hold, release
    target: str  # e.g. "account award-17"
    detail: str
    argv: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{self.action} {self.target}: {self.detail}"
            if self.detail
            else (f"{self.action} {self.target}")
        )


QOS_FLAGS = frozenset({"DenyOnLimit", "NoDecay"})
HELD = ("JobHeldAdmin", "JobHeldUser")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _tres(value: int) -> str:
    return f"gres/gpu={value}"


def plan(desired: Desired, actual: Actual, now: int) -> list[Change]:
    """The changes that make Slurm hold ``desired``; empty when it already does."""
    changes: list[Change] = []
    sacctmgr = ("sacctmgr", "-i")
    # QOS first: accounts refer to them.
    for name, want in sorted(desired.qos.items()):
        have = actual.qos.get(name)
        if have is None:
            changes.append(Change("add", f"qos {name}", "", (*sacctmgr, "add", "qos", name)))
        settings = []
        if have is None or have.gpu_minutes != want.gpu_minutes:
            settings.append(f"GrpTRESMins={_tres(want.gpu_minutes)}")
        if have is None or have.gpus != want.gpus:
            settings.append(f"GrpTRES={_tres(want.gpus)}")
        if have is None or not actual.qos_flags.get(name, frozenset()) >= QOS_FLAGS:
            settings.append("Flags=" + ",".join(sorted(QOS_FLAGS)))
        if (have.priority if have else 0) != want.priority:
            settings.append(f"Priority={want.priority}")
        if settings:
            detail = "GPU-minute budget {}, concurrent GPUs {}".format(
                "none" if want.gpu_minutes < 0 else want.gpu_minutes,
                "no cap" if want.gpus < 0 else want.gpus,
            )
            if want.priority:
                detail += f", priority {want.priority}"
            changes.append(
                Change(
                    "modify",
                    f"qos {name}",
                    detail,
                    (*sacctmgr, "modify", "qos", "where", f"name={name}", "set", *settings),
                )
            )
    for name, spec in sorted(desired.accounts.items()):
        have_account = actual.accounts.get(name)
        if have_account is None:
            changes.append(
                Change(
                    "add",
                    f"account {name}",
                    spec.description,
                    (
                        *sacctmgr,
                        "add",
                        "account",
                        name,
                        f"Description={spec.description}",
                        f"Organization={spec.organisation}",
                        f"Fairshare={spec.fairshare}",
                    ),
                )
            )
        settings, why = [], []
        qos = name if name in desired.qos else "normal"
        allowed = {qos} | {t for t in spec.tiers if t in desired.qos}
        if have_account is None or have_account.fairshare != spec.fairshare:
            settings.append(f"Fairshare={spec.fairshare}")
            why.append(f"shares {spec.fairshare}")
        if have_account is None or have_account.priority != spec.priority:
            settings.append(f"Priority={spec.priority}")
            why.append(f"pacing priority {spec.priority}")
        have_qos = set(have_account.qos.split(",")) - {""} if have_account else set()
        if have_account is None or have_qos != allowed or have_account.default_qos != qos:
            listed = ",".join(sorted(allowed, key=lambda q: (q != qos, q)))
            settings += [f"QOS={listed}", f"DefaultQOS={qos}"]
            why.append(f"QOS {listed}")
        max_submit = NO_LIMIT if spec.open else 0
        if have_account is None or have_account.max_submit != max_submit:
            settings.append(f"MaxSubmitJobs={max_submit}")
            why.append("open to new jobs" if spec.open else "closed to new jobs")
        if settings:
            changes.append(
                Change(
                    "modify",
                    f"account {name}",
                    ", ".join(why),
                    (*sacctmgr, "modify", "account", "where", f"name={name}", "set", *settings),
                )
            )
        have_users = have_account.users if have_account else frozenset()
        for user in sorted(spec.users - have_users):
            changes.append(
                Change(
                    "add",
                    f"user {user}",
                    f"association with {name}",
                    (*sacctmgr, "add", "user", user, f"Account={name}"),
                )
            )
        for user in sorted(have_users - spec.users):
            changes.append(
                Change(
                    "delete",
                    f"user {user}",
                    f"association with {name}",
                    (*sacctmgr, "delete", "user", "where", f"name={user}", f"account={name}"),
                )
            )
        pending = actual.pending.get(name, [])
        if not spec.open:
            hold = [job_id for job_id, reason in pending if reason not in HELD]
            if hold:
                changes.append(
                    Change(
                        "hold",
                        f"jobs of {name}",
                        f"{len(hold)} pending job(s) while the award is not active",
                        ("scontrol", "hold", ",".join(hold)),
                    )
                )
        else:
            release = [job_id for job_id, reason in pending if reason == "JobHeldAdmin"]
            if release:
                changes.append(
                    Change(
                        "release",
                        f"jobs of {name}",
                        f"{len(release)} held job(s): the award is active again",
                        ("scontrol", "release", ",".join(release)),
                    )
                )
    for name, resv in sorted(desired.reservations.items()):
        have_resv = actual.reservations.get(name)
        nodes = hosts.compress(list(resv.nodes))
        if have_resv is None:
            start = "now" if resv.start <= now else _iso(resv.start)
            changes.append(
                Change(
                    "add",
                    f"reservation {name}",
                    f"{nodes} until {_iso(resv.end)}",
                    (
                        "scontrol",
                        "create",
                        "reservation",
                        f"ReservationName={name}",
                        f"StartTime={start}",
                        f"EndTime={_iso(resv.end)}",
                        f"Nodes={nodes}",
                        f"Accounts={resv.account}",
                        "Flags=IGNORE_JOBS",
                    ),
                )
            )
            continue
        settings = []
        if set(have_resv.nodes) != set(resv.nodes):
            settings.append(f"Nodes={nodes}")
        if have_resv.end != resv.end:
            settings.append(f"EndTime={_iso(resv.end)}")
        if have_resv.start > now and have_resv.start != max(resv.start, now):
            settings.append(f"StartTime={_iso(max(resv.start, now))}")
        if settings:
            changes.append(
                Change(
                    "modify",
                    f"reservation {name}",
                    " ".join(settings),
                    ("scontrol", "update", f"ReservationName={name}", *settings),
                )
            )
    for name in sorted(set(actual.reservations) - set(desired.reservations)):
        changes.append(
            Change(
                "delete",
                f"reservation {name}",
                "no active dedicated allocation",
                ("scontrol", "delete", f"ReservationName={name}"),
            )
        )
    return changes


def _int(text: str, default: int = NO_LIMIT) -> int:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else default


def _gpu_tres(text: str) -> int:
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            return _int(value)
    return NO_LIMIT


def read_actual(commands: SlurmCommands, prefix: str = PREFIX) -> Actual:
    """What Slurm holds of the platform's accounts, QOS, users and reservations."""
    actual = Actual()
    users_by_account: dict[str, set[str]] = {}
    lines: dict[str, list[str]] = {}
    for row in commands.show(
        "assoc", "Account,User,Fairshare,Priority,QOS,DefaultQOS,MaxSubmitJobs"
    ):
        row += [""] * (7 - len(row))
        account, user = row[0], row[1]
        if not account.startswith(prefix):
            continue
        if user:
            users_by_account.setdefault(account, set()).add(user)
        else:
            lines[account] = row
    for account, row in lines.items():
        actual.accounts[account] = AccountState(
            name=account,
            users=frozenset(users_by_account.get(account, set())),
            fairshare=_int(row[2], 1),
            priority=_int(row[3], 0),
            qos=row[4],
            default_qos=row[5],
            max_submit=_int(row[6]),
        )
    for row in commands.show("qos", "Name,Flags,GrpTRESMins,GrpTRES,Priority"):
        row += [""] * (5 - len(row))
        if not row[0].startswith(prefix):
            continue
        actual.qos[row[0]] = QosSpec(row[0], _gpu_tres(row[2]), _gpu_tres(row[3]), _int(row[4], 0))
        actual.qos_flags[row[0]] = frozenset(f for f in row[1].split(",") if f)
    actual.users = frozenset(row[0] for row in commands.show("user", "User") if row and row[0])
    for item in commands.reservations():
        name = item.get("ReservationName", "")
        if not name.startswith(prefix):
            continue
        actual.reservations[name] = ReservationSpec(
            name=name,
            account=item.get("Accounts", ""),
            nodes=tuple(hosts.expand(item.get("Nodes", ""))),
            start=_int(item.get("StartTime", ""), 0),
            end=_int(item.get("EndTime", ""), 0),
        )
    for job_id, account, reason in commands.pending():
        if account.startswith(prefix):
            actual.pending.setdefault(account, []).append((job_id, reason))
    return actual
