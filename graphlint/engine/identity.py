"""Object identity: which objects an optimizer holds, which objects the loss is computed by, and which
objects are new (a copy, a rebuilt model, a layer or parameter assigned over an old one).

The flow graph knows objects by where they are made (a constructor call, a copy), and names point to
them through alias edges. This module asks three questions of it that rules about optimizers share:

* which model or layer objects each optimizer was built from (``held``);
* which objects a training loss is computed by, that is, whose call's result reaches a backward()
  without a cut (``trained``);
* which of those objects each optimizer step, zero_grad and backward concerns (``optimizers_of``,
  ``disjoint``, ``reached_by``), so that clearing one optimizer's gradients says nothing about another's.

Every answer is an over-approximation of what may happen at run time (a name holds every object any
of its definitions may give it), and unknown is None: rules built on it claim "surely not" only from
sets they fully understand.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from graphlint.engine import names
from graphlint.engine.flow import Context, FlowGraph, Node, OptimizerSite
from graphlint.engine.losses import LossFlow
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.returns import returns_of
from graphlint.engine.tree import child_nodes, walk

_PARAMETER_LISTS = ("parameters", "named_parameters")
_LOADS = frozenset({"torch.load", "torch.jit.load"})
_CUT_NAMES = ("detach", "no-grad", "rewrap", "non-differentiable", "scalar-escape")


@dataclass(frozen=True)
class Optimizer:
    site: OptimizerSite
    node: Node  # the optimizer object (its constructor call)
    held: frozenset[Node] | None  # objects whose parameters it was built from; None when not understood


def read_after_loop(module: ModuleAnalysis, loop: cst.For, use: cst.CSTNode) -> bool:
    """`use` reads the variable of `loop` after the loop ran to its end (no `break`), so it holds the last element:
    `opt.step()` below `for opt in optimizers: opt.zero_grad()` steps only the last optimizer."""
    return not any(a is loop for a in module.ancestors(use)) and not any(True for _ in walk(loop.body, cst.Break))


def context_of(module: ModuleAnalysis, node: cst.CSTNode) -> Context:
    """The context an expression is read in, with every definition of a name reaching it (no order)."""
    return Context(module, module.enclosing_function(node), module.enclosing_class(node))


class Identity:
    def __init__(self, flow: FlowGraph, losses: LossFlow) -> None:
        self.flow = flow
        self.losses = losses
        self.graph = flow.graph

    # -- objects an expression holds -----------------------------------------------------------------
    def objects(self, expr: cst.BaseExpression, ctx: Context) -> frozenset[Node]:
        """The objects (constructor calls, copies, optimizers) an expression may hold (read from the graph as built,
        without evaluating the expression again)."""
        return frozenset(obj for node in self._nodes_of(expr, ctx) for obj in self.flow.points_to(node))

    # -- optimizers ----------------------------------------------------------------------------------
    @cached_property
    def optimizers(self) -> list[Optimizer]:
        return [Optimizer(site, ("call", id(site.call)), self._held(site)) for site in self.flow.optimizers]

    def _held(self, site: OptimizerSite) -> frozenset[Node] | None:
        """Objects whose `.parameters()` the optimizer was given; None when any part of its parameters is not a
        `.parameters()` call we can follow (a helper's list, a name built up in a loop)."""
        if site.params is None:
            return None
        exprs = [site.params]
        if isinstance(site.params, cst.Name):
            ctx = Context(site.module, site.function, site.module.enclosing_class(site.call))
            exprs = [v for v, _ in self.flow.assigned_values(site.params, ctx)]
            if not exprs or _extended(site.module, site.params, site.function):
                return None
        held: set[Node] = set()
        for expr in exprs:
            calls = [c for c in walk(expr, cst.Call)
                     if isinstance(c.func, cst.Attribute) and c.func.attr.value in _PARAMETER_LISTS]
            if not calls:
                return None
            for call in calls:
                receiver = self.flow.parameters_of.get(id(call))
                if receiver is None:
                    return None
                objects = {obj for node in receiver.nodes for obj in self.flow.points_to(node)}
                if not objects:
                    return None
                held |= objects
        return frozenset(held)

    def by_node(self, node: Node) -> Optimizer | None:
        return next((o for o in self.optimizers if o.node == node), None)

    def optimizers_of(self, expr: cst.BaseExpression, ctx: Context) -> frozenset[Node] | None:
        """The optimizer objects an expression may hold; None when it may hold anything else (an object made
        by code we cannot read, a parameter with no visible caller). Elements of lists, tuples and dicts of
        optimizers are told apart (`opt_g, opt_d = self.optimizers()`, `self.optimizers["generator"]`)."""
        sites = self._sites(expr, ctx, 0)
        if sites is not None:
            return frozenset(("call", id(c)) for c in sites)
        objects = self.objects(expr, ctx)
        if not objects or any(o not in self.graph or self.graph.nodes[o].get("kind") != "optimizer" for o in objects):
            return None
        return objects

    @cached_property
    def _constructions(self) -> dict[int, Optimizer]:
        return {id(o.site.call): o for o in self.optimizers}

    def _sites(self, expr: cst.BaseExpression, ctx: Context, depth: int, path: tuple = ()) -> frozenset[cst.Call] | None:
        """The optimizer constructor calls an expression may hold, read from the source; ``path``: the elements
        taken from it, first taken first (an index, a dict key, or "*" for any element). None when any value it
        may hold is not one of them."""
        if depth > 8:
            return None
        if not path and isinstance(expr, cst.Call) and id(expr) in self._constructions:
            return frozenset({expr})
        if path and isinstance(expr, (cst.List, cst.Tuple)):
            items = list(expr.elements)
            if any(not isinstance(e, cst.Element) for e in items):
                return None
            if path[0] == "*":
                found = [self._sites(e.value, ctx, depth + 1, path[1:]) for e in items]
                return frozenset().union(*found) if found and None not in found else None
            if isinstance(path[0], int) and path[0] < len(items):
                return self._sites(items[path[0]].value, ctx, depth + 1, path[1:])
            return None
        if path and isinstance(expr, cst.Dict):
            values = [el.value for el in expr.elements if isinstance(el, cst.DictElement) and
                      isinstance(el.key, cst.SimpleString) and el.key.evaluated_value == path[0]]
            return self._sites(values[0], ctx, depth + 1, path[1:]) if len(values) == 1 else None
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            key = expr.slice[0].slice.value
            index = key.evaluated_value if isinstance(key, cst.SimpleString) else \
                int(key.value) if isinstance(key, cst.Integer) else None
            return self._sites(expr.value, ctx, depth + 1, (index,) + path) if index is not None else None
        values = self._values(expr, ctx)
        if values is None:
            return None
        found = [self._sites(v, vctx, depth + 1, taken + path) for v, vctx, taken in values]
        if not found or None in found:
            return None
        return frozenset().union(*found)

    def _values(self, expr: cst.BaseExpression, ctx: Context):
        """What a name, `self.<attr>` or a call may evaluate to: (expression, its context, the elements of it
        taken); None when that is not all visible."""
        if isinstance(expr, cst.Name):
            out = []
            for binding in ctx.module.scopes.bindings(expr):
                node = binding.node
                parent = ctx.module.parent(node)
                if isinstance(parent, cst.AssignTarget) and parent.target is node:
                    out.append((ctx.module.parent(parent).value, ctx, ()))
                elif isinstance(parent, cst.Element) and isinstance(ctx.module.parent(parent), (cst.Tuple, cst.List)):
                    target = ctx.module.parent(parent)
                    holder = ctx.module.parent(target)
                    if isinstance(holder, cst.AssignTarget):
                        index = list(target.elements).index(parent)
                        out.append((ctx.module.parent(holder).value, ctx, (index,)))
                    else:
                        return None
                elif isinstance(parent, cst.For) and parent.target is node:
                    # after a loop that ran to its end, its variable holds the last element (`opt.step()` below
                    # `for opt in optimizers: opt.zero_grad()` steps only the last optimizer)
                    out.append((parent.iter, ctx, (-1,) if read_after_loop(ctx.module, parent, expr) else ("*",)))
                elif isinstance(node, cst.Param) or isinstance(parent, cst.Param):
                    values = list(self.flow.assigned_values(expr, ctx))
                    if not values:
                        return None
                    out += [(v, c, ()) for v, c in values]
                else:
                    return None
            return out or None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self" and \
                ctx.cls is not None:
            values = ctx.cls.attr_values.get(expr.attr.value, ())
            return [(v, Context(ctx.cls.module, m, ctx.cls), ()) for v, m in values] or None
        if isinstance(expr, cst.Call):
            callee = self.flow.callee(expr, ctx)
            if callee is None:
                return None
            fmod, fn, cls, _ = callee
            rets = [r.value for r in returns_of(fn)]
            if not rets or None in rets:
                return None
            return [(r, Context(fmod, fn, cls), ()) for r in rets]
        return None

    def parameter_objects(self, optimizers: frozenset[Node]) -> frozenset[Node] | None:
        """Every object (submodules included) whose parameters these optimizers may hold; None when unknown."""
        key = ("parameters", optimizers)
        if key not in self._answers:
            self._answers[key] = self._parameter_objects(optimizers)
        return self._answers[key]

    def _parameter_objects(self, optimizers: frozenset[Node]) -> frozenset[Node] | None:
        found: set[Node] = set()
        for node in optimizers:
            opt = self.by_node(node)
            if opt is None or opt.held is None:
                return None
            for obj in opt.held:
                found |= self.flow.members(obj)
        return frozenset(found)

    def disjoint(self, a: frozenset[Node] | None, b: frozenset[Node] | None) -> bool:
        """The two sets of optimizers surely hold no parameter in common (each fully understood)."""
        if a is None or b is None or a & b:
            return False
        pa, pb = self.parameter_objects(a), self.parameter_objects(b)
        return pa is not None and pb is not None and not pa & pb and \
            not any(self.graph.nodes[o].get("kind") == "instance" and self._opaque_instance(o) for o in pa | pb)

    def _opaque_instance(self, obj: Node) -> bool:
        """An instance of a class of the analysed files whose base the files cannot read: its parameters may
        come from that base, which we cannot tell apart from another such object's."""
        cls = self.graph.nodes[obj].get("cls")
        return cls is not None and any(b not in names.MODULE_BASES for b in cls.bases)

    # -- what the losses are computed by -------------------------------------------------------------
    @cached_property
    def training_reach(self) -> set[Node]:
        """Nodes that reach a backward() that trains layers without a cut."""
        return self.losses.reaches_loss_cleanly

    @cached_property
    def trained(self) -> frozenset[Node]:
        """Objects called (their forward, or a method of theirs) where the result reaches a training loss
        without a cut."""
        found: set[Node] = set()
        for node, data in list(self.graph.nodes(data=True)):
            site = data.get("site")
            if node[0] != "call" or not isinstance(site, cst.Call) or node not in self.training_reach:
                continue
            func, mod = site.func, data["module"]
            ctx = context_of(mod, site)
            receivers = [func]
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value != "self":
                receivers.append(func.value)  # `model.encode(x)`
            for expr in receivers:
                if isinstance(expr, cst.Name) and id(site) in self.flow.names_at_call:  # the definitions read there
                    found |= {o for n in self.flow.names_at_call[id(site)] for o in self.flow.points_to(n)}
                elif isinstance(expr, (cst.Name, cst.Attribute)):
                    found |= self.objects(expr, ctx)
        return frozenset(found)

    def _ancestry(self, backward: cst.CSTNode, clean: bool) -> set[Node] | None:
        """Nodes the loss of one backward() call is computed from (without a cut, when ``clean``). The clean walk
        matches calls and returns (up to three calls deep): a function's result, reached from one call of it,
        leads back out through that call's arguments only, so `critic(fake.detach())` is not computed from the
        `fake` another call passes to the same forward."""
        sink = self._sinks.get(id(backward))
        if sink is None:
            return None
        start = (sink.node, ())
        seen = {start}
        queue = deque(seen)
        while queue:
            current, calls = queue.popleft()
            for pred, inner in self._sources(current, calls, clean):
                if (pred, inner) not in seen:
                    seen.add((pred, inner))
                    queue.append((pred, inner))
        return {node for node, _ in seen}

    def _sources(self, node: Node, calls: tuple, clean: bool):
        """What ``node`` is computed from, one step back, with the calls being returned from."""
        if clean and calls and node[0] == "var" and node[-1] == "param":
            passed = self._passed(calls[-1], node)
            if passed is not None:
                yield from ((n, calls[:-1]) for n in passed)
                return
        for pred in self.graph.predecessors(node):
            edge = self.graph.edges[pred, node]
            if clean and edge["cut"] is not None:
                continue
            if clean and node[0] == "call" and pred[0] == "ret" and len(pred) == 2 and edge["alias"] and len(calls) < 3:
                yield pred, calls + (node,)
            else:
                yield pred, calls

    def _passed(self, call_node: Node, param: Node) -> frozenset[Node] | None:
        """The nodes one call passes for a parameter of the function it runs; None when not one plain argument."""
        data = self.graph.nodes[call_node]
        call, mod = data.get("site"), data.get("module")
        if not isinstance(call, cst.Call) or any(a.star for a in call.args):
            return None
        ctx = context_of(mod, call)
        found = self.flow.callee(call, ctx)
        if found is None:
            return None
        fmod, fn, cls, receiver = found
        fctx = Context(fmod, fn, cls)
        positional = [p.name for p in (*fn.params.posonly_params, *fn.params.params)]
        if receiver is not None and positional:
            if param == self.flow.var_node(positional[0], fctx) + ("param",):
                return self._nodes_of(receiver, ctx)
            positional = positional[1:]
        for i, arg in enumerate(call.args):
            name = arg.keyword if arg.keyword is not None else positional[i] if i < len(positional) else None
            if name is not None and param == self.flow.var_node(name, fctx) + ("param",):
                return self._nodes_of(arg.value, ctx)
        return None

    def _nodes_of(self, expr: cst.BaseExpression, ctx: Context) -> frozenset[Node]:
        """The graph's nodes for an expression already evaluated, looked up without evaluating it again (which
        would add edges from every definition of its names)."""
        if isinstance(expr, cst.Name):
            return frozenset({self.flow.var_node(expr, ctx)})
        cuts = frozenset(n for n in (("cut", id(expr), kind) for kind in _CUT_NAMES) if n in self.graph)
        if cuts:
            return cuts
        if isinstance(expr, cst.Call) and ("call", id(expr)) in self.graph:
            return frozenset({("call", id(expr))})
        if isinstance(expr, cst.Attribute) and not isinstance(expr.value, cst.Call):
            return frozenset(self.flow.attribute_nodes(expr, ctx))
        return frozenset().union(*(self._nodes_of(c, ctx) for c in child_nodes(expr)
                                   if isinstance(c, cst.BaseExpression)))

    @cached_property
    def _sinks(self) -> dict:
        return {id(s.site): s for s in self.flow.sinks}

    def surely_misses(self, backward: cst.CSTNode, objects: frozenset[Node]) -> bool:
        """The loss of this backward() is computed from these objects' parameters only through cuts (a
        discriminator's loss from `fake.detach()`): positive evidence that it leaves their gradients alone.
        A loss the graph does not connect to them at all says nothing (it may reach them unseen)."""
        key = ("misses", id(backward), objects)
        if key not in self._answers:
            every, clean = self._ancestry(backward, False), self._ancestry(backward, True)
            self._answers[key] = every is not None and clean is not None and bool(objects & every) and \
                not objects & clean
        return self._answers[key]

    def escapes(self, opt: Optimizer) -> bool:
        """The optimizer may be used by code the analysis does not see: handed to a call we cannot read (a
        trainer, a wrapper), returned to callers outside the files, or kept on an object that a framework base
        class or code outside the file may reach."""
        seen = {opt.node}
        stack = [opt.node]
        while stack:
            current = stack.pop()
            succs = list(self.graph.successors(current))
            if current[0] == "ret" and not succs:
                return True  # returned to callers we do not see (`configure_optimizers`)
            if current[0] == "attr" and not self._driven_here(current[1]):
                return True
            for succ in succs:
                edge = self.graph.edges[current, succ]
                if edge["held"]:
                    return True
                if edge["alias"] and succ not in seen:
                    seen.add(succ)
                    stack.append(succ)
        return False

    def _driven_here(self, class_key) -> bool:
        """Instances of the class are made in the analysed files, and every base of it is one whose code cannot
        use the class's attributes (`object`, `nn.Module`)."""
        made = [d["cls"] for _, d in self.graph.nodes(data=True) if d.get("kind") == "instance" and
                getattr(d.get("cls"), "key", None) == class_key]
        return bool(made) and all(b in names.MODULE_BASES - names.LIGHTNING_BASES or b == "object"
                                  for b in made[0].bases)

    # -- what each step, zero_grad and backward concerns ---------------------------------------------
    @cached_property
    def _answers(self) -> dict:
        """Answers about one call, asked many times by path searches (kept per question and call)."""
        return {}

    def stepped_by(self, step: cst.Call, module: ModuleAnalysis) -> frozenset[Node] | None:
        """The optimizers `opt.step()` or `scaler.step(opt)` may step; None when not known."""
        key = ("step", id(step))
        if key not in self._answers:
            self._answers[key] = self._stepped_by(step, module)
        return self._answers[key]

    def _stepped_by(self, step: cst.Call, module: ModuleAnalysis) -> frozenset[Node] | None:
        receiver = step.func.value if isinstance(step.func, cst.Attribute) else None
        if receiver is not None and "scaler" in module.code(receiver).lower() and step.args:
            receiver = step.args[0].value
        return self.optimizers_of(receiver, context_of(module, step)) if receiver is not None else None

    def cleared_by(self, clear: cst.Call, module: ModuleAnalysis) -> frozenset[Node] | None:
        """The objects whose gradients `x.zero_grad()` clears: an optimizer's parameters, or a model's (its
        submodules included); None when not known."""
        key = ("clear", id(clear))
        if key not in self._answers:
            self._answers[key] = self._cleared_by(clear, module)
        return self._answers[key]

    def _cleared_by(self, clear: cst.Call, module: ModuleAnalysis) -> frozenset[Node] | None:
        if not isinstance(clear.func, cst.Attribute):
            return None
        ctx = context_of(module, clear)
        optimizers = self.optimizers_of(clear.func.value, ctx)
        if optimizers is not None:
            return self.parameter_objects(optimizers)
        objects = self.objects(clear.func.value, ctx)
        if not objects or any(o not in self.graph or self.graph.nodes[o].get("kind") not in ("owner", "instance")
                              for o in objects):
            return None
        return frozenset(m for o in objects for m in self.flow.members(o))

    def concerns(self, step: cst.Call, module: ModuleAnalysis, only: Node | None = None):
        """A test on order events (kind, call, module): whether the event may touch the gradients the step
        applies (``only``: the part of them one of the optimizers it runs holds, for a step of several, such as
        `for opt in optimizers: opt.step()`). Unknown optimizers, receivers and losses concern every step."""
        stepped = self.stepped_by(step, module)
        if only is not None and stepped is not None and only in stepped:
            stepped = frozenset({only})
        params = self.parameter_objects(stepped) if stepped is not None else None
        if params is None:
            return lambda kind, node, mod: True

        def test(kind: str, node: cst.CSTNode, mod: ModuleAnalysis) -> bool:
            if kind == "step" and isinstance(node, cst.Call):
                return not self.disjoint(self.stepped_by(node, mod), stepped)
            if kind == "zero_grad" and isinstance(node, cst.Call):
                cleared = self.cleared_by(node, mod)
                return cleared is None or bool(cleared & params)
            if kind == "backward":
                return not self.surely_misses(node, params)
            return True
        return test

    # -- new objects -----------------------------------------------------------------------------------
    def copy_source(self, node: Node) -> frozenset[Node]:
        """For a copy (`copy.deepcopy(model)`, `AveragedModel(model)`): the objects it was copied from."""
        data = self.graph.nodes[node]
        site = data.get("site")
        if not data.get("copy") or not isinstance(site, cst.Call) or not site.args:
            return frozenset()
        return self.objects(site.args[0].value, context_of(data["module"], site))

    def assignments(self):
        """(module, assignment) of every module whose code the flow graph followed (the file and what it calls)."""
        modules = {id(d["module"]): d["module"] for _, d in self.graph.nodes(data=True) if "module" in d}
        for module in modules.values():
            for assign in module.all(cst.Assign):
                yield module, assign

    @cached_property
    def copies(self) -> list[Node]:
        return [n for n, d in self.graph.nodes(data=True) if d.get("copy")]


def _extended(mod: ModuleAnalysis, name: cst.Name, fn: cst.FunctionDef | None) -> bool:
    """The list a name holds is grown after it is made (`params += ...`, `params.append(...)`, `.extend`)."""
    scope = fn.body if fn is not None else mod.tree
    for node in walk(scope, (cst.AugAssign, cst.Call)):
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value == name.value:
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                node.func.attr.value in ("append", "extend", "insert", "update") and \
                isinstance(node.func.value, cst.Name) and node.func.value.value == name.value:
            return True
    return False


def new_parameters(mod: ModuleAnalysis, expr: cst.BaseExpression, depth: int = 0) -> bool:
    """The expression makes parameters that did not exist before: a layer or parameter constructor
    (`nn.Linear(...)`, `nn.Parameter(...)`, `nn.Embedding.from_pretrained(v, freeze=False)`), a module class of
    the file, or a container holding one; not a container of existing layers (`nn.Sequential(nn.Dropout(p),
    model.fc)`), not a frozen parameter or table."""
    if not isinstance(expr, cst.Call) or depth > 3:
        return False
    qualified = mod.qualified(expr)
    if qualified & names.MODULE_CONTAINERS:
        items = [a.value for a in expr.args if a.keyword is None]
        return any(new_parameters(mod, e.value if isinstance(e, (cst.Element, cst.DictElement)) else e, depth + 1)
                   for item in items for e in (item.elements if isinstance(item, (cst.List, cst.Tuple, cst.Dict))
                                              else [item]))
    if any(q.startswith("torch.nn.") and q.endswith(".from_pretrained") for q in qualified):
        return any(a.keyword is not None and a.keyword.value == "freeze" and
                   isinstance(a.value, cst.Name) and a.value.value == "False" for a in expr.args)
    if qualified & names.PARAMETER_CONSTRUCTORS:
        return not any(a.keyword is not None and a.keyword.value == "requires_grad" and
                       isinstance(a.value, cst.Name) and a.value.value == "False" for a in expr.args)
    if qualified & names.PARAMETERIZED_NN:
        return True
    return isinstance(expr.func, cst.Name) and expr.func.value in mod.module_classes


def constructs_model(flow: FlowGraph, expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> bool:
    """The expression surely makes a new model object: a module class of the analysed files built directly, by
    a classmethod (`Net.from_checkpoint(path)` returning `cls(...)`) or by a helper that returns one, a deep
    copy, a whole model unpickled (`torch.load(path)`) or a pretrained model (`AutoModel.from_pretrained(...)`)."""
    if not isinstance(expr, cst.Call) or depth > 3:
        return False
    mod = ctx.module
    qualified = mod.qualified(expr)
    if qualified & (names.COPY_FUNCTIONS | _LOADS) or any(q.endswith(".from_pretrained") for q in qualified):
        return True  # a copy, a pickled model loaded whole, a pretrained model built anew
    if isinstance(expr.func, cst.Name) and expr.func.value == "cls" and ctx.cls is not None:
        return ctx.cls.node.name.value in ctx.cls.module.module_classes
    found = flow.definition(expr.func, ctx)
    if found is not None and not isinstance(found, tuple):
        return found.node.name.value in found.module.module_classes
    callee = flow.callee(expr, ctx)
    if callee is None and isinstance(expr.func, cst.Attribute):  # `Net.from_checkpoint(path)`: a classmethod
        owner = flow.definition(expr.func.value, ctx)
        method = owner.module.class_method(owner, expr.func.attr.value) if owner is not None and \
            not isinstance(owner, tuple) else None
        callee = (owner.module, method, owner, None) if method is not None else None
    if callee is None:
        return False
    fmod, fn, cls, _ = callee
    fctx = Context(fmod, fn, cls)
    values = []
    for ret in returns_of(fn):
        if ret.value is None:
            return False
        if isinstance(ret.value, cst.Name):
            if any(isinstance(b.node, cst.Param) or isinstance(fmod.parent(b.node), cst.Param)
                   for b in fmod.scopes.bindings(ret.value)):
                return False  # `return model` of the model it was given: the same object
            assigned = list(flow.assigned_values(ret.value, fctx))
            if not assigned:
                return False
            values += assigned
        else:
            values.append((ret.value, fctx))
    return bool(values) and all(constructs_model(flow, v, vctx, depth + 1) for v, vctx in values)


# -- program order across calls ------------------------------------------------------------------------
BEFORE, AFTER, UNORDERED = "before", "after", "unordered"


def _statement_in(body_owner: cst.CSTNode, mod: ModuleAnalysis, node: cst.CSTNode) -> cst.CSTNode:
    """The statement of ``body_owner``'s own body (a function, or the module) that contains ``node``."""
    current = node
    for parent in mod.ancestors(node):
        if parent is body_owner or isinstance(parent, cst.IndentedBlock) and mod.parent(parent) is body_owner:
            return current
        current = parent
    return current


def placements(flow: FlowGraph, mod: ModuleAnalysis, node: cst.CSTNode, depth: int = 3):
    """Where ``node`` runs, seen from each function that runs it: (module, function or None, statement of that
    function's body, the node or call inside it), for its own function and, through the main file's calls, its
    callers (``depth`` deep)."""
    fn = mod.enclosing_function(node)
    owner = fn if fn is not None else mod.tree
    yield mod, fn, _statement_in(owner, mod, node), node
    if fn is None or depth == 0:
        return
    for call, cctx in flow.call_sites(mod, fn):
        if _runs(flow, call, cctx, fn):
            yield from placements(flow, cctx.module, call, depth - 1)


def _runs(flow: FlowGraph, call: cst.Call, ctx: Context, fn: cst.FunctionDef) -> bool:
    """Whether ``call`` runs ``fn``: as the function it calls, or as the `__init__` of the class it constructs
    (`Trainer(model)` runs the `__init__` that builds the optimizer)."""
    callee = flow.callee(call, ctx)
    if callee is not None:
        return callee[1] is fn
    built = flow.definition(call.func, ctx)
    if not isinstance(built, ClassInfo):
        return False
    init = flow.hierarchy.method(built, "__init__")
    return init is not None and init[1] is fn


def order(flow: FlowGraph, first: tuple[ModuleAnalysis, cst.CSTNode], then: tuple[ModuleAnalysis, cst.CSTNode]) -> set[str]:
    """How ``then`` may run relative to ``first``, from every function that runs both (each seen as the statement of
    that function's body it runs in): BEFORE, AFTER, or UNORDERED (the same statement: a loop or branch holding
    both); empty when no function runs both. Two calls in one statement of a function are ordered by the
    callee that runs both, or by Python's evaluation order when one is inside the other (a call's receiver and
    arguments run before its body), unless a loop of that statement holds both (its next iteration runs ``first``
    again)."""
    found: set[str] = set()
    for mod_a, fn_a, stmt_a, node_a in placements(flow, *first):
        for mod_b, fn_b, stmt_b, node_b in placements(flow, *then):
            if mod_a is not mod_b or fn_a is not fn_b:
                continue
            if stmt_a is stmt_b:
                loops_a = {id(a) for a in mod_a.ancestors(node_a) if isinstance(a, (cst.For, cst.While))}
                if any(id(a) in loops_a for a in mod_a.ancestors(node_b) if isinstance(a, (cst.For, cst.While))):
                    found.add(UNORDERED)
                elif any(a is node_b for a in mod_a.ancestors(node_a)):  # `Trainer(m).fit()`: the receiver and
                    found.add(AFTER)  # the arguments of a call are evaluated before its body runs
                elif any(a is node_a for a in mod_a.ancestors(node_b)):
                    found.add(BEFORE)
            else:
                found.add(AFTER if mod_a.line(stmt_b) > mod_a.line(stmt_a) else BEFORE)
    return found


# -- parameter names ---------------------------------------------------------------------------------------
# Parameters that torch layers register, by constructor: (name, keyword that removes it when False).
_LAYER_PARAMETERS = {
    "Linear": (("weight", None), ("bias", "bias")), "Bilinear": (("weight", None), ("bias", "bias")),
    "Conv1d": (("weight", None), ("bias", "bias")), "Conv2d": (("weight", None), ("bias", "bias")),
    "Conv3d": (("weight", None), ("bias", "bias")), "ConvTranspose1d": (("weight", None), ("bias", "bias")),
    "ConvTranspose2d": (("weight", None), ("bias", "bias")), "ConvTranspose3d": (("weight", None), ("bias", "bias")),
    "Embedding": (("weight", None),), "EmbeddingBag": (("weight", None),),
    "LayerNorm": (("weight", "elementwise_affine"), ("bias", "bias")),
    "RMSNorm": (("weight", "elementwise_affine"),),
    "BatchNorm1d": (("weight", "affine"), ("bias", "affine")), "BatchNorm2d": (("weight", "affine"), ("bias", "affine")),
    "BatchNorm3d": (("weight", "affine"), ("bias", "affine")), "GroupNorm": (("weight", "affine"), ("bias", "affine")),
    "PReLU": (("weight", None),),
}
_NO_PARAMETERS = {"ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Dropout", "Dropout1d", "Dropout2d", "Identity",
                  "LeakyReLU", "ELU", "Softmax", "LogSoftmax", "Flatten", "MaxPool1d", "MaxPool2d", "AvgPool1d",
                  "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Mish", "Softplus", "Hardswish"}


def parameter_names(flow: FlowGraph, cls, depth: int = 0) -> dict[str, Node] | None:
    """The names `named_parameters()` gives for an instance of a module class of the analysed files, each with
    the owner node it belongs to (the layer or parameter assigned in `__init__`); None for a class whose
    parameters are not all known (a base class of another library, a layer this table does not know, an
    attribute assigned more than once)."""
    if depth > 3 or any(b not in names.MODULE_BASES for b in cls.bases):
        return None
    init = cls.methods.get("__init__")
    if init is None:
        return None
    found: dict[str, Node] = {}
    for attr, values in cls.attr_values.items():
        if len(values) != 1:
            return None
        value, method = values[0]
        if method is not init:
            return None
        names_of = _layer_parameters(flow, cls.module, value, depth)
        if names_of is None:
            return None
        owner = ("call", id(value))
        for name, node in names_of.items():
            found[f"{attr}.{name}" if name else attr] = node or owner
    if any(isinstance(c.func, cst.Attribute) and c.func.attr.value in ("register_parameter", "add_module", "register_module")
           for c in walk(init, cst.Call)) or any(isinstance(c.func, cst.Name) and c.func.value == "setattr"
                                                for c in walk(init, cst.Call)):
        return None
    return found


def _layer_parameters(flow: FlowGraph, mod: ModuleAnalysis, value: cst.BaseExpression, depth: int):
    """{name relative to the layer ('' for a bare parameter): owner node or None for the layer itself}."""
    if not isinstance(value, cst.Call):
        return {} if _plain_value(mod, value) else None
    qualified = mod.qualified(value)
    last = {q.rsplit(".", 1)[-1] for q in qualified if q.startswith("torch.nn.")}
    if qualified & names.PARAMETER_CONSTRUCTORS:
        return {"": None}
    if last & {"Sequential", "ModuleList"}:
        items = [a.value for a in value.args if a.keyword is None and not a.star]
        if len(items) == 1 and isinstance(items[0], (cst.List, cst.Tuple)):
            items = [e.value for e in items[0].elements if isinstance(e, cst.Element)]
        if any(a.star for a in value.args):
            return None
        out: dict[str, Node] = {}
        for i, item in enumerate(items):
            inner = _layer_parameters(flow, mod, item, depth)
            if inner is None:
                return None
            for name, node in inner.items():
                out[f"{i}.{name}" if name else str(i)] = node or ("call", id(item))
        return out
    if last & set(_LAYER_PARAMETERS) and len(last) == 1:
        kinds = _LAYER_PARAMETERS[next(iter(last))]
        off = {a.keyword.value for a in value.args if a.keyword is not None and
               isinstance(a.value, cst.Name) and a.value.value == "False"}
        unknown = {a.keyword.value for a in value.args if a.keyword is not None and
                   not (isinstance(a.value, cst.Name) and a.value.value in ("True", "False"))}
        if any(flag in unknown for _, flag in kinds if flag):
            return None
        if next(iter(last)) in ("LayerNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "RMSNorm") and \
                len([a for a in value.args if a.keyword is None]) > (2 if next(iter(last)) == "GroupNorm" else 1):
            return None  # eps, affine... given by position
        return {name: None for name, flag in kinds if flag is None or flag not in off}
    if last == {"MultiheadAttention"}:
        keywords = {a.keyword.value: a.value for a in value.args if a.keyword is not None}
        if keywords.keys() & {"kdim", "vdim", "add_bias_kv"} or len(value.args) - len(keywords) > 2:
            return None
        bias = keywords.get("bias")
        if bias is not None and not (isinstance(bias, cst.Name) and bias.value in ("True", "False")):
            return None
        with_bias = bias is None or bias.value == "True"
        return {n: None for n in ("in_proj_weight", "out_proj.weight") + (("in_proj_bias", "out_proj.bias") if with_bias else ())}
    if last & _NO_PARAMETERS:
        return {}
    found = flow.definition(value.func, Context(mod, None, None))
    if found is not None and not isinstance(found, tuple) and found.node.name.value in found.module.module_classes:
        return parameter_names(flow, found, depth + 1)
    return None


def _plain_value(mod: ModuleAnalysis, value: cst.BaseExpression) -> bool:
    """A value that holds no parameters: a literal, arithmetic, or an `__init__` argument whose default is a
    literal number, string, bool or None."""
    if isinstance(value, (cst.Integer, cst.Float, cst.SimpleString, cst.Comparison, cst.BinaryOperation)):
        return True
    if isinstance(value, (cst.Tuple, cst.List)):
        return all(isinstance(e, cst.Element) and _plain_value(mod, e.value) for e in value.elements)
    if isinstance(value, cst.Name):
        for binding in mod.scopes.bindings(value):
            param = binding.node if isinstance(binding.node, cst.Param) else mod.parent(binding.node)
            if isinstance(param, cst.Param) and param.default is not None and \
                    (isinstance(param.default, (cst.Integer, cst.Float, cst.SimpleString)) or
                     isinstance(param.default, cst.Name) and param.default.value in ("True", "False", "None")):
                continue
            return False
        return value.value in ("True", "False", "None") or bool(list(mod.scopes.bindings(value)))
    return False


def one_value(flow: FlowGraph, expr: cst.BaseExpression, ctx: Context, depth: int = 6):
    """(expression, context) that an expression surely evaluates to, following names assigned once and functions
    of the analysed files with one `return`; None when it may be several things."""
    for _ in range(depth):
        if isinstance(expr, cst.Name):
            found = list(flow.assigned_values(expr, ctx))
            if len({id(v) for v, _ in found}) != 1 or _extended(ctx.module, expr, ctx.function):
                return None
            expr, ctx = found[0]
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
            found = flow.definition(expr.func, ctx)
            if not isinstance(found, tuple):
                return expr, ctx
            fmod, fn = found
            rets = [r.value for r in returns_of(fn)]
            if len(rets) != 1 or rets[0] is None:
                return None
            expr, ctx = rets[0], Context(fmod, fn, None)
        else:
            return expr, ctx
    return None


def name_test(expr: cst.BaseExpression, name_var: str, name: str, strings: dict[str, tuple[str, ...]]) -> bool | None:
    """The value of a filter on a parameter's name (`"bias" in n`, `not any(nd in n for nd in no_decay)`,
    `n.endswith(".weight")`) for one name; None when it reads anything else (the parameter's shape, a flag).
    ``strings``: names of lists of strings the filter may read (`no_decay = ["bias", "norm"]`)."""
    def is_name(e) -> bool:
        return isinstance(e, cst.Name) and e.value == name_var

    def text(e):
        return e.evaluated_value if isinstance(e, cst.SimpleString) and isinstance(e.evaluated_value, str) else None

    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        inner = name_test(expr.expression, name_var, name, strings)
        return None if inner is None else not inner
    if isinstance(expr, cst.BooleanOperation):
        left = name_test(expr.left, name_var, name, strings)
        right = name_test(expr.right, name_var, name, strings)
        if isinstance(expr.operator, cst.And):
            return False if False in (left, right) else None if None in (left, right) else True
        return True if True in (left, right) else None if None in (left, right) else False
    if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
        op, right = expr.comparisons[0].operator, expr.comparisons[0].comparator
        if isinstance(op, (cst.In, cst.NotIn)) and is_name(right) and text(expr.left) is not None:
            return (text(expr.left) in name) == isinstance(op, cst.In)
        if isinstance(op, (cst.In, cst.NotIn)) and is_name(expr.left) and isinstance(right, cst.Name) and \
                right.value in strings:
            return (name in strings[right.value]) == isinstance(op, cst.In)
        if isinstance(op, (cst.Equal, cst.NotEqual)) and is_name(expr.left) and text(right) is not None:
            return (name == text(right)) == isinstance(op, cst.Equal)
        return None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and is_name(expr.func.value) and \
            expr.func.attr.value in ("endswith", "startswith") and len(expr.args) == 1:
        arg = expr.args[0].value
        options = (text(arg),) if text(arg) is not None else \
            tuple(text(e.value) for e in arg.elements) if isinstance(arg, cst.Tuple) else (None,)
        if None in options:
            return None
        return getattr(name, expr.func.attr.value)(options)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("any", "all") and \
            len(expr.args) == 1 and isinstance(expr.args[0].value, (cst.GeneratorExp, cst.ListComp)):
        gen = expr.args[0].value
        loop = gen.for_in
        if loop.inner_for_in is not None or loop.ifs or not isinstance(loop.target, cst.Name):
            return None
        if isinstance(loop.iter, cst.Name) and loop.iter.value in strings:
            items = strings[loop.iter.value]
        elif isinstance(loop.iter, (cst.List, cst.Tuple)) and all(isinstance(e, cst.Element) and text(e.value) is not None
                                                                for e in loop.iter.elements):
            items = tuple(text(e.value) for e in loop.iter.elements)
        else:
            return None
        results = [_item_test(gen.elt, loop.target.value, item, name_var, name, strings) for item in items]
        if None in results:
            return None
        return any(results) if expr.func.value == "any" else all(results)
    return None


def _item_test(expr, item_var: str, item: str, name_var: str, name: str, strings) -> bool | None:
    """`nd in n` with `nd` one string of the list."""
    if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1 and \
            isinstance(expr.comparisons[0].operator, (cst.In, cst.NotIn)) and \
            isinstance(expr.left, cst.Name) and expr.left.value == item_var and \
            isinstance(expr.comparisons[0].comparator, cst.Name) and expr.comparisons[0].comparator.value == name_var:
        return (item in name) == isinstance(expr.comparisons[0].operator, cst.In)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            isinstance(expr.func.value, cst.Name) and expr.func.value.value == name_var and \
            expr.func.attr.value in ("endswith", "startswith") and len(expr.args) == 1 and \
            isinstance(expr.args[0].value, cst.Name) and expr.args[0].value.value == item_var:
        return getattr(name, expr.func.attr.value)(item)
    return name_test(expr, name_var, name, strings)
