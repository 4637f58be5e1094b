"""Questions about the loss that rules ask of the flow graph.

The central one: which trainable parameter owners reach a loss *only* through cuts,
and where are those cuts. An owner that reaches any loss cleanly (a GAN generator
trained by its own loss, a straight-through estimator's identity path) is fine; an
owner that is frozen, updated outside autograd (EMA / target networks) or held by
no optimizer is not expected to train, so its cuts are not reported.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from graphlint.engine.digraph import DiGraph
from graphlint.engine.flow import Context, Cut, FlowGraph, Node
from graphlint.engine.tree import walk


@dataclass(frozen=True)
class CutPath:
    cut: Cut
    owners: tuple[str, ...]  # labels of the parameter owners it disconnects
    path: tuple[str, ...]  # labels of the values from the cut to the loss
    sink_site: cst.CSTNode
    sink_module: object


class LossFlow:
    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self.graph: DiGraph = flow.graph

    @cached_property
    def sink_nodes(self) -> set[Node]:
        return {s.node for s in self.flow.sinks}

    @cached_property
    def reaches_loss(self) -> set[Node]:
        return set(self.cuts_to_loss)

    @cached_property
    def cuts_to_loss(self) -> dict[Node, int]:
        """For every node that reaches a loss: the fewest cuts on any route from it to a loss (0-1 BFS)."""
        dist = {n: 0 for n in self.sink_nodes}
        queue = deque(self.sink_nodes)
        while queue:
            node = queue.popleft()
            for pred in self.graph.predecessors(node):
                cost = dist[node] + (self.graph.edges[pred, node]["cut"] is not None)
                if cost < dist.get(pred, 1 << 30):
                    dist[pred] = cost
                    queue.appendleft(pred) if cost == dist[node] else queue.append(pred)
        return dist

    @cached_property
    def reaches_loss_cleanly(self) -> set[Node]:
        return {n for n, cuts in self.cuts_to_loss.items() if cuts == 0}

    def clean_descendants(self, node: Node) -> set[Node]:
        seen = {node}
        queue = deque(seen)
        while queue:
            current = queue.popleft()
            for succ in self.graph.successors(current):
                if succ not in seen and self.graph.edges[current, succ]["cut"] is None:
                    seen.add(succ)
                    queue.append(succ)
        return seen

    @cached_property
    def graph_values(self) -> set[Node]:
        """Nodes whose value surely carries autograd history from a trainable owner: computed from one
        (through at least one operation: the layer object itself, or another name for it, is not a tensor
        with a graph), reached without a cut and without passing through another library's function
        (whose result may be a plain number)."""
        computed: set[Node] = set()
        seen: set[tuple[Node, bool]] = {(owner, False) for owner in self.owners}
        queue = deque(seen)
        while queue:
            current, derived = queue.popleft()
            for succ in self.graph.successors(current):
                edge = self.graph.edges[current, succ]
                if edge["cut"] is not None or self.graph.nodes[succ].get("library_function"):
                    continue
                state = (succ, derived or not (edge["alias"] or edge["held"]))
                if state not in seen:
                    seen.add(state)
                    queue.append(state)
                    if state[1]:
                        computed.add(succ)
        return computed

    # -- what is expected to train --------------------------------------------------------------
    @cached_property
    def owners(self) -> list[Node]:
        return self.flow.owners()

    def _objects_behind(self, value, depth: int = 4) -> set[Node]:
        """Objects a value was taken from (`p` in `for p in enc.parameters()` -> enc's objects)."""
        found: set[Node] = set()
        frontier = set(value.nodes)
        seen = set(frontier)
        for _ in range(depth):
            nxt = set()
            for node in frontier:
                if node[0] in ("call", "class"):
                    found |= self.flow.members(node)
                if node in self.graph:
                    for pred in self.graph.predecessors(node):
                        if pred not in seen:
                            seen.add(pred)
                            nxt.add(pred)
            frontier = nxt
        for node in set(value.nodes):
            for obj in self.flow.points_to(node):
                found |= self.flow.members(obj)
        return found

    @cached_property
    def frozen_owners(self) -> set[Node]:
        result: set[Node] = set()
        for value, _, _ in self.flow.frozen:
            result |= self._objects_behind(value)
        return result

    @cached_property
    def updated_outside_autograd(self) -> set[Node]:
        result: set[Node] = set()
        for value in self.flow.non_autograd_updates:
            for node in value.nodes:
                for obj in self.flow.points_to(node):
                    result |= self.flow.members(obj)
        return result

    @cached_property
    def optimizer_coverage(self) -> set[Node] | None:
        """Owners held by some optimizer; None when an optimizer's parameters are not understood."""
        if not self.flow.optimizers:
            return None
        covered: set[Node] = set()
        for opt in self.flow.optimizers:
            found = self.coverage_of(opt)
            if found is None:
                return None
            covered |= found
        return covered

    def coverage_of(self, opt) -> set[Node] | None:
        if opt.params is None:
            return None
        exprs = [opt.params]
        if isinstance(opt.params, cst.Name):
            ctx = Context(opt.module, opt.function, opt.module.enclosing_class(opt.call))
            exprs = [v for v, _ in self.flow.assigned_values(opt.params, ctx)]
        covered: set[Node] = set()
        understood = False
        for expr in exprs:
            for call in walk(expr, cst.Call):
                if not (isinstance(call.func, cst.Attribute) and call.func.attr.value in ("parameters", "named_parameters")):
                    continue
                receiver = self.flow.parameters_of.get(id(call))
                if receiver is None:
                    continue
                understood = True
                for node in receiver.nodes:
                    for obj in self.flow.parameter_holders(node) | ({node} if node[0] == "class" else set()):
                        covered |= self.flow.members(obj)
        return covered if understood else None

    def expected_to_train(self, owner: Node) -> bool:
        if owner in self.frozen_owners or owner in self.updated_outside_autograd:
            return False
        coverage = self.optimizer_coverage
        if owner in self.copies:
            return coverage is not None and owner in coverage  # target / EMA networks, unless an optimizer holds them
        return coverage is None or owner in coverage

    @cached_property
    def copies(self) -> set[Node]:
        """Owners made with copy.deepcopy (and what they hold)."""
        result: set[Node] = set()
        for node, data in self.graph.nodes(data=True):
            if data.get("copy"):
                result |= self.flow.members(node)
        return result

    # -- cuts --------------------------------------------------------------------------------------
    @cached_property
    def cut_paths(self) -> list[CutPath]:
        """For every trainable owner that reaches a loss only through cuts: the first cut on its least-cut routes.

        Only the least-cut routes count, so that a sampled action (no-grad) that later meets
        the real cut (`.tolist()` of the log-probabilities) does not get blamed itself.
        """
        by_cut: dict[tuple, tuple[Cut, list[str], Node]] = {}
        distance = self.cuts_to_loss
        for owner in self.owners:
            if owner not in distance or distance[owner] == 0 or not self.expected_to_train(owner):
                continue
            for node in self.clean_descendants(owner):
                for succ in self.graph.successors(node):
                    cut = self.graph.edges[node, succ]["cut"]
                    if cut is None or distance.get(succ, 1 << 30) + 1 != distance[owner]:
                        continue
                    key = (cut.module.path, cut.module.line(cut.node), cut.category)
                    entry = by_cut.setdefault(key, (cut, [], succ))
                    if owner not in entry[1]:
                        entry[1].append(owner)
        result = []
        for cut, owners, start in by_cut.values():
            path, sink = self.path_to_loss(start)
            result.append(CutPath(cut, self._outermost_labels(owners), path, sink.site, sink.module))
        return result

    def _outermost_labels(self, owners: list[Node]) -> tuple[str, ...]:
        """Name `Net.backbone`, not also each layer inside it."""
        inner = {m for o in owners for m in self.flow.members(o) if m != o}
        labels = []
        for owner in owners:
            label = self.owner_label(owner)
            if owner not in inner and label not in labels:
                labels.append(label)
        return tuple(labels)

    def owner_label(self, owner: Node) -> str:
        for succ in self.graph.successors(owner):
            if self.graph.edges[owner, succ]["alias"] and succ[0] in ("attr", "var"):
                return self.flow.label(succ)
        return self.flow.label(owner)

    def path_to_loss(self, start: Node):
        """Labels of named values on the shortest path from a node to a loss, and that loss's sink."""
        parents = {start: None}
        queue = deque([start])
        sinks = {s.node: s for s in self.flow.sinks}
        while queue:
            node = queue.popleft()
            if node in sinks:
                sink = sinks[node]
                labels = []
                while node is not None:
                    named = node[0] == "attr" or node[0] == "var" and node[-1] != "param"  # not callee parameters
                    if named and node in self.graph:
                        label = self.flow.label(node)
                        if label and (not labels or labels[-1] != label):
                            labels.append(label)
                    node = parents[node]
                return tuple(reversed(labels)), sink
            for succ in self.graph.successors(node):
                if succ not in parents:
                    parents[succ] = node
                    queue.append(succ)
        return (), self.flow.sinks[0]
