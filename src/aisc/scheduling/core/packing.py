"""Placing one task on one node: the packing policies of the scheduling core.

Sub-node work (a task asking for CPU, memory and a number of whole or shared GPUs, possibly of
given GPU types) goes to one node, chosen by a policy. The state is a set of numpy arrays (free
CPU, memory and milli-GPU per GPU, per node); ``choose`` scores the nodes that can hold the task
and returns the node and the GPUs, ``bind`` takes them. Same rules as the rest of the core: no
I/O, no clock, randomness only from the generator passed in, so a replay with the same seed
chooses the same nodes.

Policies:
- ``random``: any node that fits;
- ``bestfit``: the node left with the least CPU and GPU, 0.5 x (free - request) / the largest
  node's size per resource, scored as an integer 0-100; a shared GPU goes to the GPU with the
  least room that fits;
- ``fgd``: fragmentation gradient descent: the node whose expected fragmentation (the GPU
  capacity that the workload's typical tasks could not use) grows least, as
  ``int(100 * sigmoid(decrease / 1000))``;
- ``aisc``: ours. FGD's fragmentation growth plus half the expected waste of the leftover on a
  shared GPU (``_waste_curve``: what a GPU with l milli free ends up wasting if the workload's
  GPU tasks that fit keep arriving in their proportions, so a leftover only tiny tasks can use
  counts as nearly lost), compared in bands twice as wide as FGD's (more ties, which the fixed
  node order turns into packing).

Ties between equally scored nodes go to the node of lowest rank, a fixed order of the nodes (a
random one per run in the simulator, as FGD's simulator orders nodes by randomly prefixed
names): equal choices keep landing on the same nodes, which packs.

Fragmentation (after the FGD paper): for each typical task t (the most frequent request shapes
of the workload, covering ``TYPICAL_SHARE`` of its tasks, with their frequency p_t), the free
GPU capacity of a node counts as fragmented for t when t could not run there (no access to the
GPU type, too little CPU, too few GPUs with enough room); when t could run, only the GPUs with
too little room for t count. A node's fragmentation is the p-weighted sum over t.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MILLI = 1000
MAX_SPEC_CPU = 128_000  # milli-CPU of the largest node, for best fit's normalisation
MAX_SPEC_GPU = 8 * MILLI
TYPICAL_SHARE = 0.95
FGD_SCALE = 1000.0  # FGD: score = int(100 * sigmoid(fragmentation decrease / 1000))
AISC_SCALE = 2000.0  # ours: bands twice as wide...
SLIVER_WEIGHT = 0.5  # ...and half the expected waste of the shared GPU's leftover
POLICIES = ("random", "bestfit", "fgd", "aisc")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    gpu_model: str


@dataclass(frozen=True)
class Task:
    """A request: CPU, memory, ``gpus`` GPUs of ``gpu_milli`` each (< 1000: one shared GPU)."""

    cpu_milli: int
    memory_mib: int
    gpus: int
    gpu_milli: int
    gpu_models: frozenset[str] = frozenset()  # empty: any GPU model

    @property
    def shared(self) -> bool:
        return self.gpus == 1 and self.gpu_milli < MILLI

    @property
    def total_milli(self) -> int:
        return self.gpus * self.gpu_milli

    @property
    def shape(self) -> tuple[int, int, int, frozenset[str]]:
        """What placement and fragmentation depend on (memory only filters)."""
        return (self.cpu_milli, self.gpus, self.gpu_milli, self.gpu_models)


@dataclass(frozen=True)
class Typical:
    task: Task
    share: float


def typical_tasks(tasks: Sequence[Task], share: float = TYPICAL_SHARE) -> list[Typical]:
    """The most frequent shapes covering ``share`` of ``tasks``, frequencies renormalised."""
    counts = Counter(t.shape for t in tasks)
    example = {t.shape: t for t in tasks}
    ranked = sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][2], kv[0][1], sorted(kv[0][3]))
    )
    chosen, covered, total = [], 0, len(tasks)
    for shape, count in ranked:
        if covered >= share * total:
            break
        chosen.append((shape, count))
        covered += count
    return [Typical(example[shape], count / covered) for shape, count in chosen]


def _bands(growth: np.ndarray, scale: float) -> np.ndarray:
    """Integer scores 0..100: 100 x sigmoid(-growth / scale), truncated (FGD's score form)."""
    scores: np.ndarray = (100.0 / (1.0 + np.exp(np.clip(growth / scale, -50.0, 50.0)))).astype(
        np.int64
    )
    return scores


class PackingState:
    """Free resources of every node, as arrays."""

    def __init__(self, nodes: Sequence[NodeSpec], typical: Sequence[Typical] = ()) -> None:
        self.nodes = list(nodes)
        width = max((n.gpus for n in nodes), default=0) or 1
        count = len(nodes)
        self.models = sorted({n.gpu_model for n in nodes})
        model_index = {m: i for i, m in enumerate(self.models)}
        self.model = np.array([model_index[n.gpu_model] for n in nodes], dtype=np.int64)
        self.has_gpu = np.array([n.gpus > 0 for n in nodes])
        self.cpu = np.array([n.cpu_milli for n in nodes], dtype=np.int64)
        self.cpu_capacity = self.cpu.copy()
        self.memory = np.array([n.memory_mib for n in nodes], dtype=np.int64)
        self.gpu = np.zeros((count, width), dtype=np.int64)  # milli-GPU free per GPU
        for i, n in enumerate(nodes):
            self.gpu[i, : n.gpus] = MILLI
        self.gpu_capacity = int(self.gpu.sum())
        self.typical = list(typical)
        # The typical tasks as columns, for fragmentation in a few array operations.
        tasks = [t.task for t in self.typical]
        self._t_share = np.array([t.share for t in self.typical], dtype=np.float64)
        self._t_milli = np.array([t.gpu_milli for t in tasks], dtype=np.int64)
        self._t_gpus = np.array([t.gpus for t in tasks], dtype=np.int64)
        self._t_cpu = np.array([t.cpu_milli for t in tasks], dtype=np.int64)
        self._t_gpu_less = np.array([t.gpu_milli == 0 or t.gpus == 0 for t in tasks], dtype=bool)
        self._by_gpus: dict[tuple[int, ...], tuple[int, np.ndarray, np.ndarray]] = {}
        self._t_allowed = np.array(  # [model, typical task]: may the task use the model?
            [[not t.gpu_models or m in t.gpu_models for t in tasks] for m in self.models],
            dtype=bool,
        ).reshape(len(self.models), len(tasks))
        self._model_masks: dict[frozenset[str], np.ndarray] = {}
        # Fragmentation by node state, and placements by (state, task shape): states repeat.
        self._state_ids: dict[tuple[int, int, tuple[int, ...]], int] = {}
        self._state_frag: list[float] = []
        # Per task shape, by node state id: the fragmentation after placing it there (NaN: not
        # known yet) and the shared GPU's room chosen (-1: whole GPUs).
        self._after: dict[tuple[int, int, int, frozenset[str]], np.ndarray] = {}
        self._rooms: dict[tuple[int, int, int, frozenset[str]], np.ndarray] = {}
        self.state = np.zeros(count, dtype=np.int64)
        self._waste: np.ndarray | None = None
        # Ties between equally good nodes go to the node of lowest rank: a fixed order, so
        # equal choices keep landing on the same nodes (set a random one with ``shuffle_ranks``).
        self.rank = np.arange(count, dtype=np.int64)
        self.frag = np.zeros(count)
        if self.typical:
            for i in range(count):
                self._refresh(i)

    def shuffle_ranks(self, rng: np.random.Generator) -> None:
        self.rank = rng.permutation(len(self.nodes)).astype(np.int64)

    # --- state ----------------------------------------------------------------------------

    @property
    def allocated_milli(self) -> int:
        return self.gpu_capacity - int(self.gpu.sum())

    def _key(
        self, i: int, cpu: int | None = None, gpu: np.ndarray | None = None
    ) -> tuple[int, int, tuple[int, ...]]:
        row = self.gpu[i] if gpu is None else gpu
        return (int(self.model[i]), int(self.cpu[i] if cpu is None else cpu),
                tuple(sorted(row[: self.nodes[i].gpus].tolist())))  # fmt: skip

    def _state_id(self, key: tuple[int, int, tuple[int, ...]]) -> int:
        found = self._state_ids.get(key)
        if found is None:
            found = len(self._state_frag)
            self._state_ids[key] = found
            self._state_frag.append(self._fragmentation_of(key))
        return found

    def _refresh(self, i: int) -> None:
        self.state[i] = self._state_id(self._key(i))
        self.frag[i] = self._state_frag[self.state[i]]

    def model_mask(self, models: frozenset[str]) -> np.ndarray:
        """Nodes a task restricted to ``models`` may use (all GPU nodes when unrestricted)."""
        mask = self._model_masks.get(models)
        if mask is None:
            if models:
                allowed = np.array([m in models for m in self.models])
                mask = allowed[self.model] & self.has_gpu
            else:
                mask = self.has_gpu.copy()
            self._model_masks[models] = mask
        return mask

    def fits(self, task: Task) -> np.ndarray:
        """Indices of the nodes that can hold ``task`` now."""
        ok = (self.cpu >= task.cpu_milli) & (self.memory >= task.memory_mib)
        if task.gpus > 0:
            ok &= self.model_mask(task.gpu_models)
            if task.shared:
                ok &= (self.gpu >= task.gpu_milli).any(axis=1)
            else:
                ok &= (self.gpu == MILLI).sum(axis=1) >= task.gpus
        return np.flatnonzero(ok)

    # --- fragmentation ------------------------------------------------------------------------

    def _fragmentation_of(self, key: tuple[int, int, tuple[int, ...]]) -> float:
        model, cpu, gpus = key
        per_gpus = self._by_gpus.get(gpus)
        if per_gpus is None:
            row = np.array(gpus, dtype=np.int64)
            room = row[None, :] >= self._t_milli[:, None]  # [typical task, GPU]: room for it?
            per_gpus = self._by_gpus[gpus] = (
                int(row.sum()),
                ~self._t_gpu_less & (room.sum(axis=1) >= self._t_gpus),
                np.where(room, 0, row[None, :]).sum(axis=1),  # the GPUs too small for it
            )
        total, enough, small = per_gpus
        if total == 0:
            return 0.0
        # CPU-only tasks use no GPU (all of it idles); a task that could run here strands only
        # the GPUs too small for it, one that could not strands them all.
        usable = enough & self._t_allowed[model] & (cpu >= self._t_cpu)
        stranded = np.where(usable, small, total)
        # Summed in order (cumsum is sequential): the same float whatever the array length.
        return float(np.cumsum(self._t_share * stranded)[-1])

    def fragmentation(self) -> float:
        """Fragmented milli-GPU over the whole cluster (needs typical tasks)."""
        return float(self.frag.sum())

    def _move(self, i: int, task: Task) -> tuple[float, int]:
        """(fragmentation after placing ``task`` on node ``i``, the GPU room chosen (-1: whole
        GPUs))."""
        cpu = int(self.cpu[i]) - task.cpu_milli
        row = self.gpu[i].copy()
        if task.gpus == 0:
            return (self._state_frag[self._state_id(self._key(i, cpu, row))], -1)
        if not task.shared:
            free = np.flatnonzero(row == MILLI)[: task.gpus]
            row[free] = 0
            return (self._state_frag[self._state_id(self._key(i, cpu, row))], -1)
        best: tuple[float, int] | None = None
        for room in sorted({g for g in row[: self.nodes[i].gpus].tolist() if g >= task.gpu_milli}):
            trial = row.copy()
            trial[int(np.flatnonzero(row == room)[0])] -= task.gpu_milli
            frag = self._state_frag[self._state_id(self._key(i, cpu, trial))]
            if best is None or frag < best[0]:
                best = (frag, room)
        assert best is not None
        return best

    def _moves(self, candidates: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """``_move`` for every candidate node, worked out once per node state and task shape
        (states repeat: a cluster of a thousand nodes has a few dozen distinct ones)."""
        shape = task.shape
        after, rooms = self._after.get(shape), self._rooms.get(shape)
        known = len(self._state_frag)
        if after is None or rooms is None or after.size < known:
            grown_after = np.full(max(2 * known, 64), np.nan)
            grown_rooms = np.full(grown_after.size, -1, dtype=np.int64)
            if after is not None and rooms is not None:
                grown_after[: after.size], grown_rooms[: rooms.size] = after, rooms
            after, rooms = self._after[shape], self._rooms[shape] = grown_after, grown_rooms
        states = self.state[candidates]
        missing = np.isnan(after[states])
        unknown, first = np.unique(states[missing], return_index=True)
        if unknown.size:
            where = np.flatnonzero(missing)[first]
            for state, j in zip(unknown.tolist(), where.tolist(), strict=True):
                # A move may create states (and ids) beyond the arrays: only ``state`` is set.
                after[state], rooms[state] = self._move(int(candidates[j]), task)
        return after[states], rooms[states]

    def _waste_curve(self) -> np.ndarray:
        """Expected milli-GPU a GPU with l free ends up wasting, if the workload's GPU tasks
        that fit keep arriving in their proportions (index l = 0..1000)."""
        if self._waste is not None:
            return self._waste
        sizes = [(t.task.gpu_milli, t.share) for t in self.typical if t.task.gpus == 1]
        w = np.zeros(MILLI + 1)
        for free in range(1, MILLI + 1):
            fit = [(size, p) for size, p in sizes if size <= free]
            total = sum(p for _, p in fit)
            w[free] = free if not fit else sum(p * w[free - size] for size, p in fit) / total
        self._waste = w
        return w

    # --- choosing and binding --------------------------------------------------------------------

    def _best_fit(self, candidates: np.ndarray, task: Task) -> np.ndarray:
        free_cpu = (self.cpu[candidates] - task.cpu_milli) / MAX_SPEC_CPU
        free_gpu = (self.gpu[candidates].sum(axis=1) - task.total_milli) / MAX_SPEC_GPU
        scores: np.ndarray = ((1.0 - (0.5 * free_cpu + 0.5 * free_gpu)) * 100).astype(np.int64)
        return scores

    def choose(
        self, task: Task, policy: str, rng: np.random.Generator
    ) -> tuple[int, tuple[int, ...]] | None:
        """The node (index) and GPU indices for ``task`` under ``policy``; None if none fits."""
        candidates = self.fits(task)
        if candidates.size == 0:
            return None
        room = -1
        if policy == "random":
            node = int(candidates[rng.integers(candidates.size)])
        elif policy == "bestfit":
            scores = self._best_fit(candidates, task)
            top = candidates[scores == scores.max()]
            node = int(top[np.argmin(self.rank[top])])
        elif policy in ("fgd", "aisc"):
            if not self.typical:
                raise ValueError(f"policy {policy} needs the workload's typical tasks")
            after, rooms = self._moves(candidates, task)
            growth = after - self.frag[candidates]
            ranks = self.rank[candidates]
            if policy == "fgd":
                scores = _bands(growth, FGD_SCALE)
                pick = int(np.lexsort((ranks, -scores))[0])
            else:
                # Ours: FGD's fragmentation growth plus the expected waste of the leftover on
                # the shared GPU chosen, compared in bands twice as wide, ties by rank.
                extra = np.zeros(candidates.size)
                if task.shared:
                    waste = self._waste_curve()
                    extra = waste[rooms - task.gpu_milli] - waste[rooms]
                scores = _bands(growth + SLIVER_WEIGHT * extra, AISC_SCALE)
                pick = int(np.lexsort((ranks, -scores))[0])
            node, room = int(candidates[pick]), int(rooms[pick])
        else:
            raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
        return node, self._gpus_for(node, task, room, policy)

    def _gpus_for(self, node: int, task: Task, room: int, policy: str) -> tuple[int, ...]:
        row = self.gpu[node]
        if task.gpus == 0:
            return ()
        if not task.shared:
            return tuple(int(g) for g in np.flatnonzero(row == MILLI)[: task.gpus])
        if room >= 0:
            return (int(np.flatnonzero(row == room)[0]),)
        # Best fit among the GPUs: the one with the least room that still fits (lowest index).
        fitting = np.flatnonzero(row >= task.gpu_milli)
        return (int(fitting[np.argmin(row[fitting])]),)

    def bind(self, node: int, task: Task, gpus: tuple[int, ...]) -> None:
        self.cpu[node] -= task.cpu_milli
        self.memory[node] -= task.memory_mib
        for g in gpus:
            self.gpu[node, g] -= task.gpu_milli
        if self.typical:
            self._refresh(node)

    def release(self, node: int, task: Task, gpus: tuple[int, ...]) -> None:
        self.cpu[node] += task.cpu_milli
        self.memory[node] += task.memory_mib
        for g in gpus:
            self.gpu[node, g] += task.gpu_milli
        if self.typical:
            self._refresh(node)
