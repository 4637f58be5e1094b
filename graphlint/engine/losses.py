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
from graphlint.engine.flow import Context, Cut, FlowGraph, Node, Sink
from graphlint.engine.tree import walk
from graphlint.engine.values import Kind, ValueModel


_PARAMETER_LISTS = {"parameters", "named_parameters"}


@dataclass(frozen=True)
class DroppedTerm:
    """A loss term (`F.mse_loss(...)`, `criterion(...)`) that reaches no backward(), and what only it trains."""

    term: Node
    owners: tuple[Node, ...]  # trainable owners that reach this term cleanly and no backward() cleanly
    total: Node | None  # a value that sums this term with a back-propagated one: backward() was called on a part of it
    sink: "Sink | None"  # that backward() call


@dataclass(frozen=True)
class CutPath:
    cut: Cut
    owners: tuple[str, ...]  # labels of the parameter owners it disconnects
    path: tuple[str, ...]  # labels of the values from the cut to the loss
    sink_site: cst.CSTNode
    sink_module: object


class LossFlow:
    def __init__(self, flow: FlowGraph, values: ValueModel) -> None:
        self.flow = flow
        self.values = values
        self.graph: DiGraph = flow.graph

    @cached_property
    def training_sink_nodes(self) -> set[Node]:
        """Sinks whose gradients can train layers. `torch.autograd.grad(out, inputs)` computes gradients of
        `inputs` alone: taken with respect to a tensor that is not a parameter (a saliency map, a latent-space
        search, an input perturbation) it trains no layer, so a `.detach()` upstream of it cuts nothing."""
        return {s.node for s in self.flow.sinks if s.inputs is None or self._are_parameters(*s.inputs)}

    def _are_parameters(self, expr: cst.BaseExpression, ctx: Context) -> bool:
        """The expression is, or every value a name is given is, taken from parameters (`model.parameters()`,
        `[p for _, p in m.named_parameters()]`, `group["params"]`, a leaf parameter)."""
        def taken_from_parameters(e: cst.BaseExpression) -> bool:
            if self.values.kind(e, ctx) is Kind.PARAMETER:
                return True
            return any(isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and
                       n.func.attr.value in _PARAMETER_LISTS or
                       isinstance(n, cst.SimpleString) and n.evaluated_value == "params"
                       for n in walk(e, (cst.Call, cst.SimpleString)))
        return self.flow.always(expr, ctx, taken_from_parameters)

    @cached_property
    def reaches_loss(self) -> set[Node]:
        """Every node some gradient computation starts from (cuts included: `total += loss` then `total.backward()`)."""
        found = {s.node for s in self.flow.sinks}
        queue = deque(found)
        while queue:
            for pred in self.graph.predecessors(queue.popleft()):
                if pred not in found:
                    found.add(pred)
                    queue.append(pred)
        return found

    @cached_property
    def cuts_to_loss(self) -> dict[Node, int]:
        """For every node that reaches a loss that trains layers: the fewest cuts on any route (0-1 BFS)."""
        dist = {n: 0 for n in self.training_sink_nodes}
        queue = deque(self.training_sink_nodes)
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

    # -- loss terms that never reach a backward() -------------------------------------------------
    @cached_property
    def loss_terms(self) -> list[Node]:
        return [n for n, data in self.graph.nodes(data=True) if data.get("loss_term")]

    @cached_property
    def dropped_terms(self) -> list[DroppedTerm]:
        """Loss terms that reach no backward() at all, with the trainable owners that reach a loss only through them.

        Silent when the term may still reach a backward() we cannot see: stored in an object, returned to
        no caller that we read, or handed to code we cannot read.
        """
        if not self.flow.sinks:
            return []
        dropped = [t for t in self.loss_terms if t not in self.cuts_to_loss and self._fully_followed(t)]
        result = []
        for term in dropped:
            owners = tuple(o for o in self.owners if self.cuts_to_loss.get(o) != 0 and self.expected_to_train(o)
                           and term in self.clean_descendants(o))
            if owners:
                total = self._total_holding(self.clean_descendants(term))
                result.append(DroppedTerm(term, owners, *(total or (None, None))))
        return result

    @cached_property
    def trained_only_by_dropped_terms(self) -> set[Node]:
        """Owners whose clean route to a loss term is cut off by a missing backward(), not by a `.detach()`:
        in actor-critic code the critic reaches the actor's loss through `values.detach()` on purpose."""
        return {o for d in self.dropped_terms for o in d.owners}

    def _fully_followed(self, term: Node) -> bool:
        """Everywhere the term goes (without a cut) is a value we follow to its end."""
        for node in self.clean_descendants(term):
            if node[0] == "attr" or node[0] == "ret" and not any(True for _ in self.graph.successors(node)):
                return False
            if any(self.graph.edges[node, succ]["held"] for succ in self.graph.successors(node)):
                return False
        return True

    def _total_holding(self, reached: set[Node]):
        """(a named value computed from this term and from a back-propagated loss, that backward() call) or None."""
        for sink in self.flow.sinks:
            for loss in self.graph.predecessors(sink.node):
                shared = [n for n in reached & self.clean_descendants(loss) if self._is_definition(n)]
                if shared:
                    return min(shared, key=lambda n: self.flow.label(n)), sink
        return None

    def _is_definition(self, node: Node) -> bool:
        """One assignment of a name (not the name's summary over all its assignments, nor a parameter)."""
        return node[0] == "var" and self.graph.nodes[node].get("defined_at") is not None

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
            if owner not in distance or distance[owner] == 0 or not self.expected_to_train(owner) \
                    or owner in self.trained_only_by_dropped_terms:
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
            result.append(CutPath(cut, self.outermost_labels(owners), path, sink.site, sink.module))
        return result

    @cached_property
    def instance_cut_paths(self) -> list[CutPath]:
        """A module stored in an attribute whose every call that reaches a loss gives no gradient (a base class's
        `encode` under `@torch.no_grad()` reused for training), while another instance of the same class trains:
        the layers of a class are shared by its instances in the graph, so this is asked per attribute."""
        graph, distance = self.graph, self.cuts_to_loss
        by_attr: dict[Node, list] = {}
        for mc in self.flow.module_calls:
            for node in mc.bound.alias:
                if node[0] in ("attr", "var") and isinstance(node[2], str):
                    by_attr.setdefault(node[:3], []).append(mc)
        instances_of: dict[int, int] = {}
        for _, data in graph.nodes(data=True):
            if data.get("kind") == "instance":
                instances_of[id(data["cls"])] = instances_of.get(id(data["cls"]), 0) + 1
        result = []
        for attr, calls in by_attr.items():
            instances = [o for o in self.flow.points_to(attr) if graph.nodes[o].get("kind") == "instance"]
            if len(instances) != 1 or instances_of.get(id(graph.nodes[instances[0]]["cls"]), 0) < 2 or \
                    not _only_called(calls, attr):
                continue
            owners = [o for o in self.flow.members(instances[0]) if o in graph and graph.nodes[o].get("kind") == "owner"]
            if not owners or not all(self.expected_to_train(o) for o in owners):
                continue
            reaching = [mc for mc in calls if mc.result in distance]
            if not reaching or any(mc.no_grad is None and distance[mc.result] == 0 for mc in reaching):
                continue
            first = reaching[0]
            cut = first.no_grad or self._first_cut(first.result)
            if cut is None:
                continue
            path, sink = self.path_to_loss(first.result)
            result.append(CutPath(cut, (self.flow.label(attr),), path, sink.site, sink.module))
        return result

    def _first_cut(self, start: Node) -> Cut | None:
        """The first cut on a least-cut route from a node to a loss."""
        distance = self.cuts_to_loss
        for node in self.clean_descendants(start):
            for succ in self.graph.successors(node):
                cut = self.graph.edges[node, succ]["cut"]
                if cut is not None and distance.get(succ, 1 << 30) + 1 == distance.get(start):
                    return cut
        return None

    def outermost_labels(self, owners: list[Node]) -> tuple[str, ...]:
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


# what may be asked of a submodule without using its output: its parameters, its mode, where it lives
_NOT_USES = frozenset({"parameters", "named_parameters", "train", "eval", "to", "cuda", "cpu", "half", "float",
                       "state_dict", "load_state_dict", "zero_grad"})


def _only_called(calls, attr: Node) -> bool:
    """Every read of the attribute (or name), in the files its calls are in, is a call of it (`self.tower(x)`) or
    asks for its parameters or mode: no other use (`self.tower.embed(x)`, handing it on) may take a gradient from it."""
    name = attr[2]
    for mod in {id(mc.module): mc.module for mc in calls}.values():
        reads = [n for n in mod.all(cst.Attribute) if n.attr.value == name] if attr[0] == "attr" else \
            [n for n in mod.all(cst.Name) if n.value == name and not _is_attribute_name(mod, n)]
        for node in reads:
            if mod.is_written(node) or any(isinstance(a, cst.AssignTarget) for a in mod.ancestors(node)):
                continue
            parent = mod.parent(node)
            if isinstance(parent, cst.Call) and parent.func is node:
                continue
            if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _NOT_USES:
                continue
            return False
    return True


def _is_attribute_name(mod, name: cst.Name) -> bool:
    """`x` in `obj.x`: an attribute's name, not a read of the variable."""
    parent = mod.parent(name)
    return isinstance(parent, cst.Attribute) and parent.attr is name
