"""The layers, kept by reading the code (``ast``; nothing is imported but in the command-line test).

The rules and how to read a failure are in docs/development.md ("Layers"). Each rule has one
allowlist of today's known violations, pairs of (module, what it imports or calls), so that work
in flight can land in steps. A rule fails on a violation not in its list, and on an entry that
is no longer violated: remove the entry when the work that fixes it lands.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"

# Rule 1: edges (CLI, portal, API) reach each other only through services, and build no queries.
EDGES_PENDING: set[tuple[str, str]] = set()
# Rule 2: the scheduling core imports the standard library, numpy and itself.
CORE_PENDING: set[tuple[str, str]] = set()
# Rule 3: access and context import no domain package at module level.
ACCESS_PENDING: set[tuple[str, str]] = set()
# Rule 4: the simulator imports the scheduling core, itself and pure utilities, no domain.
SIMULATOR_PENDING: set[tuple[str, str]] = set()
# Rule 5: no import cycle (module-level imports); an entry is the cycle's modules, sorted.
CYCLES_PENDING: set[tuple[str, ...]] = set()
# Rule 6: importing the command line loads no web framework and no plotting.
HEAVY_PENDING: set[tuple[str, str]] = set()
# Rule 7: a public service function that takes a session or a ctx takes `ctx: Ctx` first and
# authorises (see SERVICE_PACKAGES below); entries are (module, function).
DOOR_PENDING: set[tuple[str, str]] = set()

# What the API and the portal share about HTTP (the session cookie, safe methods, the client's
# address): beneath both edges, so it is no edge itself and may import none.
SHARED = {"aisc.webshared"}
# `aisc serve` and `aisc demo` start the application: the one import of the app by the CLI.
COMPOSITION = {("aisc.cli.server", "aisc.app")}
QUERY_BUILDERS = {"select", "update", "delete", "insert", "func", "text", "and_", "or_", "exists"}
SESSION_CALLS = {"execute", "scalars", "scalar", "query", "get"}
SESSION_NAMES = {"db", "session", "connection", "conn"}
PURE_UTILITIES = {"aisc.errors", "aisc.money"}
NOT_DOMAINS = {"aisc.db"}  # infrastructure beneath every domain
# Rule 7's service modules: every module of these packages but its edge (`api`), its tables
# (`models`) and its wire shapes (`schemas`). Left out: the edges (cli, portal), the
# infrastructure (db), the pure packages (scheduling, simulate: no session), the executors
# (processes, no session) and the demo (a script that acts as the system through services).
SERVICE_PACKAGES = (
    "accounts", "allocations", "applications", "audit", "awards", "billing", "cluster", "jobs",
    "ledger", "metering", "outbox", "pricing", "progress", "qos", "reports", "review", "scheme",
    "slurm",
)  # fmt: skip
NOT_SERVICES = {"api", "models", "schemas"}
AUTHORISERS = {"aisc.access.authorize", "aisc.access.permit"}
# Public functions that take a ctx and need not authorise themselves, with why. Keep it short:
# each is a door left open on purpose.
DOOR_EXEMPT = {
    # Written by every service, for whatever principal it serves (anonymous ones too: a
    # password reset); the service's own action covers the event and the message.
    "aisc.audit.service.record": "the trail of the calling service's authorised act",
    "aisc.outbox.service.enqueue": "a message queued by the calling service's authorised act",
    # Which of a domain's notes went out: read inside that domain's own authorised listing.
    "aisc.outbox.service.delivered_by_key": "a step of a domain's authorised read",
    # Locks and numbering inside an act its caller authorised (a decision, a billing run, a
    # credit note, a close-out, a scheme change): they read or change nothing on their own.
    "aisc.ledger.service.lock_scheme": "the fund's lock inside the caller's authorised act",
    "aisc.billing.charging.next_seq": "the next gapless number inside a billing run or credit",
}


@dataclass(frozen=True)
class Import:
    target: str  # a module (aisc.x.y, or an outside top-level package's full dotted name)
    name: str | None  # the name taken from it (`from target import name`)
    line: int
    lazy: bool  # inside a function: runs when called, not when the module is imported


def module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "aisc").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def imports(module: str) -> list[Import]:
    """What a module imports; `if TYPE_CHECKING:` blocks are left out (they never run)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit_one(other, lazy)
            else:
                visit_one(child, lazy)

    def visit_one(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, None, node.lineno, lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append(
                    Import(sub if sub in MODULES else source, alias.name, node.lineno, lazy)
                )
        visit(node, lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(path.read_text(), str(path)), lazy=False)
    return found


IMPORTS = {module: imports(module) for module in MODULES}


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def edge(module: str) -> str | None:
    if module in SHARED:
        return None
    if within(module, "aisc.cli"):
        return "cli"
    if within(module, "aisc.portal"):
        return "portal"
    if module in ("aisc.app", "aisc.http") or module.endswith(".api"):
        return "api"
    return None


def domain(module: str) -> bool:
    """In a subpackage of aisc (accounts, billing, cli, portal, ...), infrastructure aside."""
    parts = module.split(".")
    return (
        parts[0] == "aisc"
        and len(parts) > 1
        and (ROOT / "aisc" / parts[1]).is_dir()
        and not within(module, *NOT_DOMAINS)
    )


def session_calls(module: str) -> Iterator[tuple[str, int]]:
    """Calls such as `ctx.db.execute(...)`: an edge that makes them is building queries."""
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        named = isinstance(receiver, ast.Name) and receiver.id in SESSION_NAMES
        held = isinstance(receiver, ast.Attribute) and receiver.attr in SESSION_NAMES
        if node.func.attr in SESSION_CALLS and (named or held):
            yield f"{ast.unparse(receiver)}.{node.func.attr}()", node.lineno


def where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT.parent)}:{line}"


def check(rule: str, found: dict[tuple[str, str], str], pending: set[tuple[str, str]]) -> None:
    new = sorted((k, v) for k, v in found.items() if k not in pending)
    stale = sorted(pending - found.keys())
    lines = [f"{at}: {m} -> {what}" for (m, what), at in new]
    lines += [f"no longer violated, remove from the allowlist: {entry}" for entry in stale]
    assert not lines, f"{rule}:\n" + "\n".join(lines)


def test_edges_reach_each_other_only_through_services():
    found: dict[tuple[str, str], str] = {}
    for module in SHARED:
        for imp in IMPORTS[module]:
            if within(imp.target, "aisc") and edge(imp.target) is not None:
                found[(module, imp.target)] = where(module, imp.line)
    for module, imported in IMPORTS.items():
        kind = edge(module)
        if kind is None or module == "aisc.app":  # the app mounts the API and the portal
            continue
        for imp in imported:
            other = edge(imp.target) if within(imp.target, "aisc") else None
            crossing = other is not None and other != kind
            query = kind != "api" and imp.target == "sqlalchemy" and imp.name in QUERY_BUILDERS
            if query:
                found[(module, f"sqlalchemy.{imp.name}")] = where(module, imp.line)
            elif crossing and (module, imp.target) not in COMPOSITION:
                found[(module, imp.target)] = where(module, imp.line)
        if kind != "api":
            for call, line in session_calls(module):
                found[(module, call)] = where(module, line)
    check("an edge imports another edge or builds queries", found, EDGES_PENDING)


def test_scheduling_core_imports_only_the_standard_library_numpy_and_itself():
    found = {
        (module, imp.target): where(module, imp.line)
        for module, imported in IMPORTS.items()
        if within(module, "aisc.scheduling.core")
        for imp in imported
        if imp.target.split(".")[0] not in sys.stdlib_module_names | {"numpy"}
        and not within(imp.target, "aisc.scheduling.core")
    }
    check("the scheduling core imports beyond stdlib and numpy", found, CORE_PENDING)


def test_access_and_context_import_no_domain_at_module_level():
    found = {}
    for module in ("aisc.access", "aisc.context"):
        for imp in IMPORTS[module]:
            if not domain(imp.target):
                continue
            # The one accepted lazy import: the models a scoping filter selects from
            # (`Access.application_ids()` and the like), never a service.
            if not imp.lazy or not imp.target.endswith(".models"):
                found[(module, imp.target)] = where(module, imp.line)
    check("access/context import a domain", found, ACCESS_PENDING)


def test_simulator_imports_no_domain():
    found = {
        (module, imp.target): where(module, imp.line)
        for module, imported in IMPORTS.items()
        if within(module, "aisc.simulate")
        for imp in imported
        if within(imp.target, "aisc")
        and not within(imp.target, "aisc.simulate", "aisc.scheduling.core", *PURE_UTILITIES)
    }
    check("the simulator imports a domain", found, SIMULATOR_PENDING)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path around each strongly connected group of modules (Tarjan), first module repeated."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while not group or node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    paths = []
    for group in groups:  # the shortest way from the group's first module back to itself
        start = min(group)
        ways, queue, path = {start: [start]}, [start], None
        while path is None:
            node = queue.pop(0)
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    path = [*ways[node], start]
                    break
                if nxt not in ways:
                    ways[nxt] = [*ways[node], nxt]
                    queue.append(nxt)
        paths.append(path)
    return paths


def test_cycles_are_found_and_shown_as_paths():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_cycle():
    graph = {
        module: {i.target for i in imported if not i.lazy and i.target in MODULES} - {module}
        for module, imported in IMPORTS.items()
    }
    found = {tuple(sorted(set(path))): " -> ".join(path) for path in cycles(graph)}
    new = [path for key, path in found.items() if key not in CYCLES_PENDING]
    stale = CYCLES_PENDING - found.keys()
    assert not new, f"import cycles: {new}"
    assert not stale, f"no longer cycles, remove from CYCLES_PENDING: {sorted(stale)}"


SPY = """
import json, sys
heavy, found = {heavy}, {{}}
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in heavy and name not in found:
            frame = sys._getframe(1)
            while frame and not frame.f_globals.get("__name__", "").startswith("aisc."):
                frame = frame.f_back
            found[name] = frame.f_globals["__name__"] if frame else "?"
sys.meta_path.insert(0, Spy())
import aisc.cli.main
print(json.dumps(found))
"""


def test_importing_the_command_line_loads_no_web_framework_nor_plotting():
    heavy = {"fastapi", "starlette", "matplotlib"}
    code = SPY.format(heavy=sorted(heavy))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = dict.fromkeys(json.loads(out.stdout).items(), "import aisc.cli.main")
    check("`import aisc.cli.main` loads (package, first imported by)", found, HEAVY_PENDING)


def service_modules() -> list[str]:
    return [
        module
        for module in MODULES
        if len(parts := module.split(".")) > 2
        and parts[1] in SERVICE_PACKAGES
        and parts[-1] not in NOT_SERVICES
    ]


def resolver(module: str, tree: ast.Module, imported: list[Import]) -> dict[str, str]:
    """Local name -> the dotted name it stands for, from the module's imports (lazy ones too)."""
    names = {
        node.name: f"{module}.{node.name}"
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for imp in imported:
        if imp.name is None:
            names.setdefault(imp.target.split(".")[0], imp.target.split(".")[0])
        elif imp.target in MODULES and imp.target.endswith(f".{imp.name}"):
            names[imp.name] = imp.target  # a module: `from aisc.qos import service`
        else:
            names[imp.name] = f"{imp.target}.{imp.name}"
    return names


def called(function: ast.AST, names: dict[str, str]) -> set[str]:
    """The dotted names of what a function calls: `f(...)`, `service.f(...)`, `aisc.x.f(...)`."""
    out = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        parts: list[str] = []
        target = node.func
        while isinstance(target, ast.Attribute):
            parts.insert(0, target.attr)
            target = target.value
        if isinstance(target, ast.Name) and target.id in names:
            out.add(".".join([names[target.id], *parts]))
    return out


@dataclass(frozen=True)
class Door:
    """A module-level function of a service module, and what it calls."""

    module: str
    name: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    calls: frozenset[str]

    @property
    def public(self) -> bool:
        return not self.name.startswith("_")

    @property
    def params(self) -> list[ast.arg]:
        a = self.node.args
        return [*a.posonlyargs, *a.args, *a.kwonlyargs]

    def takes_a_session(self) -> bool:
        return any(
            p.arg in ("ctx", *SESSION_NAMES)
            or (p.annotation is not None and ast.unparse(p.annotation) in ("Ctx", "Session"))
            for p in self.params
        )

    def first_is_ctx(self) -> bool:
        first = [*self.node.args.posonlyargs, *self.node.args.args][:1]
        return (
            bool(first)
            and first[0].arg == "ctx"
            and first[0].annotation is not None
            and (ast.unparse(first[0].annotation) == "Ctx")
        )


def doors_of(module: str, source: str, imported: list[Import]) -> dict[str, Door]:
    tree = ast.parse(source)
    names = resolver(module, tree, imported)
    return {
        f"{module}.{node.name}": Door(module, node.name, node, frozenset(called(node, names)))
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def open_doors(every: dict[str, Door], exempt: Iterable[str]) -> dict[tuple[str, str], str]:
    """The public functions taking a session or a ctx that break rule 7: (module, name) -> why.

    A function authorises when it calls ``authorize`` or ``permit`` itself, or one level down:
    calls a function of its own module (private ones too) or a public service function of
    another module that does. Two levels down does not count.
    """
    direct = {name for name, door in every.items() if door.calls & AUTHORISERS}

    def authorises(door: Door) -> bool:
        if f"{door.module}.{door.name}" in direct:
            return True
        return any(
            callee in direct and (every[callee].module == door.module or every[callee].public)
            for callee in door.calls
        )

    found = {}
    for name, door in every.items():
        if not door.public or not door.takes_a_session() or name in exempt:
            continue
        at = MODULES.get(door.module)
        line = f"{at.relative_to(ROOT.parent) if at else door.module}:{door.node.lineno}"
        if not door.first_is_ctx():
            found[(door.module, door.name)] = f"{line} (its first parameter is not `ctx: Ctx`)"
        elif not authorises(door):
            found[(door.module, door.name)] = f"{line} (it does not authorise)"
    return found


def test_public_service_functions_take_ctx_and_authorise():
    """Rule 7: every public function of a service module that takes a session or a ctx takes
    `ctx: Ctx` first and authorises (itself or one level down; see `open_doors`).

    The service modules: each module of the SERVICE_PACKAGES (accounts, allocations,
    applications, audit, awards, billing, cluster, jobs, ledger, metering, outbox, pricing,
    qos, reports, review, scheme, slurm) but its `api`, `models` and `schemas`.
    """
    every: dict[str, Door] = {}
    for module in service_modules():
        every.update(doors_of(module, MODULES[module].read_text(), IMPORTS[module]))
    unguarded = {f"{module}.{name}" for module, name in open_doors(every, ())}
    not_needed = sorted(set(DOOR_EXEMPT) - unguarded)
    assert not not_needed, f"DOOR_EXEMPT: gone, private or authorising now: {not_needed}"
    found = open_doors(every, DOOR_EXEMPT)
    check("a public service function takes no `ctx` first or does not authorise", found,
          DOOR_PENDING)  # fmt: skip


DOORS_SAMPLE = """
from aisc.access import authorize
from aisc.qos import service
def reads(ctx: Ctx): authorize(ctx, "x.read")
def _helper(ctx: Ctx): reads(ctx)
def one_level(ctx: Ctx): _helper(ctx)
def via_other_module(ctx: Ctx): service.guarded(ctx)
def via_a_private_of_another(ctx: Ctx): service._guarded(ctx)
def bare_session(db: Session): authorize(None, "x.read")
def second_is_ctx(x: int, ctx: Ctx): authorize(ctx, "x.read")
def pure(x: int): return x
def _private(ctx: Ctx): return ctx
"""


def test_the_door_rule_sees_one_level_down_and_no_further():
    imported = [
        Import("aisc.access", "authorize", 1, lazy=False),
        Import("aisc.qos.service", "service", 2, lazy=False),
    ]
    every = doors_of("m", DOORS_SAMPLE, imported)
    other = doors_of("aisc.qos.service", "def guarded(ctx: Ctx): authorize(ctx, 'x')\n"
                     "def _guarded(ctx: Ctx): authorize(ctx, 'x')",
                     [Import("aisc.access", "authorize", 1, lazy=False)])  # fmt: skip
    found = open_doors(every | other, ())
    # `_helper` authorises through `reads` (one level); `one_level` is two levels away.
    assert sorted(name for _, name in found) == [
        "bare_session", "one_level", "second_is_ctx", "via_a_private_of_another"
    ]  # fmt: skip
    assert open_doors(every | other, ["m.bare_session"]).keys() == found.keys() - {
        ("m", "bare_session")
    }
