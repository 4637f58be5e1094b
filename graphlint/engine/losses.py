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
from graphlint.engine.flow import Context, Cut, FlowGraph, KeySelection, Node, Sink
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
    selection: KeySelection | None = None  # the comprehension that reads the term's dict by other keys only
    output: bool = False  # the term is a part of what a function returns (`forward()[1]`), not a loss


@dataclass(frozen=True)
class OverwrittenLoss:
    """`for name, logits in outputs.items(): loss = criterion(logits, ...)` then `loss.backward()` after the loop:
    each iteration replaces the loss, so only the last item's layers get a gradient."""

    assignment: cst.Assign  # `loss = ...` in the loop body
    loop: cst.For
    sink: Sink  # the backward() after the loop


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

    def computed_from(self, node: Node) -> dict[Node, int]:
        """Values computed from a node without a cut (`total = cls_loss + box_loss`), not the containers or names
        that merely hold it (a dict of losses, a returned tuple) nor elements unpacked from such a container."""
        found, seen = {}, {(node, False)}  # in the order found: nearest first
        queue = deque(seen)
        while queue:
            current, computed = queue.popleft()
            for succ in self.graph.successors(current):
                edge = self.graph.edges[current, succ]
                state = (succ, computed or not edge["alias"])
                if edge["cut"] is None and not edge["held"] and state not in seen:
                    seen.add(state)
                    queue.append(state)
                    if state[1]:
                        found.setdefault(succ, len(found))
        return found

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
        outputs = self.dropped_outputs
        dropped = [t for t in self.loss_terms + outputs if t not in self.cuts_to_loss and self._fully_followed(t)]
        result = []
        for term in dropped:
            owners = tuple(o for o in self.owners if self.cuts_to_loss.get(o) != 0 and self.expected_to_train(o)
                           and o in self.parts_of_trained_models and term in self.clean_descendants(o))
            if owners:
                total = self._total_holding(self.computed_from(term))
                reached = self.clean_descendants(term)
                selection = next((k for k in self.flow.key_selections if k.dicts & reached), None)
                result.append(DroppedTerm(term, owners, *(total or (None, None)), selection, term in outputs))
        return result

    @cached_property
    def dropped_outputs(self) -> list[Node]:
        """Parts of what a function returns (a tuple's element, a dict's entry) that reach no backward() while another
        part of the same return does: `logits, aux = forward(x)` read by a loss helper that keeps `out[0]`."""
        parts: dict[tuple, list[Node]] = {}
        for node in self.graph.nodes:
            if node[0] == "ret" and len(node) == 3:
                parts.setdefault(node[:2], []).append(node)
        found = []
        for siblings in parts.values():
            if any(p in self.reaches_loss_cleanly for p in siblings):
                found += [p for p in siblings if p[2] != "other" and p not in self.cuts_to_loss]
        if found:  # a returned loss term is reported as that term
            carried = set().union(*(self.clean_descendants(t) for t in self.loss_terms))
            found = [p for p in found if p not in carried]
        return found

    @cached_property
    def parts_of_trained_models(self) -> set[Node]:
        """Layers of a model (or of one optimizer's parameters) some *other* layer of which reaches a training
        backward() cleanly: that model is being trained, so a head of it left out of the loss is a fault. A model
        none of whose layers is back-propagated (evaluated, or trained by a step the file cannot see) says nothing
        about its terms."""
        trained = self.reaches_loss_cleanly
        models = {n for n, d in self.graph.nodes(data=True) if d.get("kind") in ("instance", "owner")} | \
            {n for n in self.graph.nodes if n[0] == "class"}
        groups = [self.flow.members(model) - {model} for model in models]
        groups += [held for held in map(self.coverage_of, self.flow.optimizers) if held]  # trained together
        result: set[Node] = set()
        for layers in groups:
            if len(layers) < 2 or not layers & trained:
                continue
            for layer in layers - trained:
                inner = self.flow.members(layer)
                if (layers - inner) & trained:
                    result.add(layer)
        return result

    @cached_property
    def trained_only_by_dropped_terms(self) -> set[Node]:
        """Owners whose clean route to a loss term is cut off by a missing backward(), not by a `.detach()`:
        in actor-critic code the critic reaches the actor's loss through `values.detach()` on purpose."""
        return {o for d in self.dropped_terms for o in d.owners}

    def _fully_followed(self, term: Node) -> bool:
        """Everywhere the term goes (without a cut) is a value we follow to its end."""
        for node in self.clean_descendants(term):
            if node[0] == "attr" or node[0] == "ret" and not any(True for _ in self.graph.successors(node[:2])):
                return False  # (a part of a return that callers read whole or by other parts is followed)
            if any(self.graph.edges[node, succ]["held"] and succ[0] != "part" for succ in self.graph.successors(node)):
                return False  # (an element unpacked from it is followed like any value)
        return True

    def _total_holding(self, reached: dict[Node, int]):
        """(a named value computed from this term and from a back-propagated loss, that backward() call) or None;
        ``reached``: the values computed from the term, nearest first."""
        for sink in self.flow.sinks:
            for loss in self.graph.predecessors(sink.node):
                shared = [n for n in reached.keys() & self.clean_descendants(loss) if self._is_definition(n)]
                if shared:
                    return min(shared, key=lambda n: self.flow.label(n)), sink
        for sink in self.flow.sinks:  # the total was made where the terms were (a helper returns both)
            loss = sink.module.code(sink.loss) if sink.loss is not None else None
            for term in self._terms_reaching(sink.node):  # (not an earlier value of the name back-propagated)
                shared = [n for n in reached.keys() & self.computed_from(term).keys()
                          if self._is_definition(n) and self.flow.label(n) != loss]
                if shared:
                    return min(shared, key=reached.__getitem__), sink  # the total itself, not what holds it
        return None

    def _terms_reaching(self, sink: Node) -> list[Node]:
        """Loss terms that reach a backward() without a cut."""
        seen, queue = {sink}, deque([sink])
        while queue:
            node = queue.popleft()
            for pred in self.graph.predecessors(node):
                if pred not in seen and self.graph.edges[pred, node]["cut"] is None:
                    seen.add(pred)
                    queue.append(pred)
        return [n for n in self.loss_terms if n in seen]

    def _is_definition(self, node: Node) -> bool:
        """One assignment of a name (not the name's summary over all its assignments, a parameter, nor a loop's
        variable, which holds one item of a container at a time)."""
        return node[0] == "var" and isinstance(self.graph.nodes[node].get("defined_at"),
                                               (cst.Assign, cst.AugAssign, cst.AnnAssign))

    # -- a loss replaced on each iteration of a loop over heads ------------------------------------
    @cached_property
    def overwritten_losses(self) -> list[OverwrittenLoss]:
        result = []
        for sink in self.flow.sinks:
            if not isinstance(sink.loss, cst.Name) or sink.node not in self.training_sink_nodes:
                continue
            found = self._loop_overwriting(sink)
            if found is not None:
                result.append(found)
        return result

    def _loop_overwriting(self, sink: Sink) -> OverwrittenLoss | None:
        """The loop just before the backward() (in the same block, the name not assigned in between) that
        assigns the loss anew on every iteration from the loop's item, items that layers compute."""
        mod, name = sink.module, sink.loss.value
        stmt = next((a for a in mod.ancestors(sink.site) if isinstance(a, cst.SimpleStatementLine)), None)
        block = mod.parent(stmt) if stmt is not None else None
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            return None
        before = list(block.body)[:list(block.body).index(stmt)]
        for previous in reversed(before):
            if isinstance(previous, cst.For):
                return self._overwrites(previous, name, sink)
            if name in _assigned_names(previous):
                return None
        return None

    def _overwrites(self, loop: cst.For, name: str, sink: Sink) -> OverwrittenLoss | None:
        mod = sink.module
        body = loop.body.body if isinstance(loop.body, cst.IndentedBlock) else ()
        if loop.orelse is not None or any(True for _ in walk(loop.body, cst.Break)) or \
                any(n.value == name for n in walk(loop.body, cst.Name) if not mod.is_written(n)):
            return None  # left early, or the loss is read (accumulated, back-propagated) in the loop
        assignments = [small for line in body if isinstance(line, cst.SimpleStatementLine) for small in line.body
                       if isinstance(small, cst.Assign) and len(small.targets) == 1 and
                       isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == name]
        if len(assignments) != 1 or sum(name in _assigned_names(s) for s in body) != 1:
            return None  # assigned under a condition, or more than once
        assignment = assignments[0]
        items = {n for n in self.graph.nodes if n[0] == "var" and len(n) == 4 and n[3] == id(loop)} | \
            self._indexed_containers(loop, assignment, mod)
        loss = {n for n in self.graph.nodes if n[0] == "var" and len(n) == 4 and n[2] == name and n[3] == id(assignment)}
        if not items or not loss or not any(loss & self.clean_descendants(i) for i in items):
            return None  # the loss is not computed from the loop's item
        if not any(self.expected_to_train(o) and items & self.clean_descendants(o) for o in self.owners):
            return None  # the items are not layers' outputs (nor layers): a loop over batches, steps, samples
        return OverwrittenLoss(assignment, loop, sink)

    def _indexed_containers(self, loop: cst.For, assignment: cst.Assign, mod) -> set[Node]:
        """`for i in range(n_heads): loss = criterion(outputs[i], ...)`: the containers the loop's index reads, whose
        items are then the loop's items."""
        if not (isinstance(loop.target, cst.Name) and isinstance(loop.iter, cst.Call) and
                isinstance(loop.iter.func, cst.Name) and loop.iter.func.value == "range"):
            return set()
        found = set()
        for sub in walk(assignment.value, cst.Subscript):
            index = sub.slice[0].slice if len(sub.slice) == 1 else None
            if isinstance(index, cst.Index) and isinstance(index.value, cst.Name) and \
                    index.value.value == loop.target.value and isinstance(sub.value, cst.Name):
                scope = mod.scopes.lookup(sub.value)
                node = ("var", id(scope), sub.value.value) if scope is not None else None
                if node in self.graph:
                    found |= self.flow.versions(node)
        return found

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


def _assigned_names(stmt: cst.CSTNode) -> set[str]:
    """Names a statement assigns anywhere inside it (plain, augmented, annotated, loop and `with` targets)."""
    found = set()
    for node in walk(stmt, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.AsName)):
        target = node.name if isinstance(node, cst.AsName) else node.target
        found |= {n.value for n in walk(target, cst.Name)}
    return found


def _is_attribute_name(mod, name: cst.Name) -> bool:
    """`x` in `obj.x`: an attribute's name, not a read of the variable."""
    parent = mod.parent(name)
    return isinstance(parent, cst.Attribute) and parent.attr is name
