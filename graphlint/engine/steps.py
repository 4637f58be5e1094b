"""The order of training-step events: backward, optimizer step, zero_grad, gradient edits.

Each function (and the module's top level) becomes a control-flow graph (engine/cfg.py) whose
points carry these events, so order rules ask about the paths that really lead to a `step()`.
A call into a function or method of the analysed files that performs any such event (a
`train_step` method, a `_reset_grads` helper) has the callee's own graph spliced in at the
call, up to three calls deep: what a helper does counts at every place it is called from.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable

import libcst as cst

from graphlint.engine import cfg, names
from graphlint.engine.cfg import ControlFlow, Point
from graphlint.engine.constants import Constants, EnumMember, Known
from graphlint.engine.flow import Context, FlowGraph
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.tree import walk

BACKWARD, STEP, ZERO_GRAD, GRAD_EDIT = "backward", "step", "zero_grad", "grad_edit"
GRAD_NONE = "grad_none"  # a branch taken only when a gradient is None: nothing left to clear there
CLEARING_CALL = "clearing_call"  # a call, past the splicing depth, to a function that clears on every path
MAX_INLINE_DEPTH = 3
Among = Callable[[int], bool] | None  # the events (points) a question counts; None: all of them


@dataclass(frozen=True)
class Event:
    kind: str
    node: cst.CSTNode
    module: ModuleAnalysis
    detail: str = ""  # for steps and zero_grad: the receiver; for gradient edits: what the edit does
    closure: cst.BaseExpression | None = None  # `opt.step(closure)`
    clears: bool = False  # after it, the gradients hold nothing from earlier backward() calls
    gates: tuple[tuple[cst.If, bool], ...] = ()  # the `if` arms it runs in, innermost last (callers' first)
    decided: "Known | None" = None  # for a gradient edit: the value, decided elsewhere, that makes it wipe gradients


class StepGraph:
    """One function's (or the module top level's) control flow, its points carrying events."""

    def __init__(self, node: cst.CSTNode, module: ModuleAnalysis, flow: ControlFlow) -> None:
        self.node = node
        self.module = module
        self.flow = flow
        self.events: dict[int, Event] = {p: replace(point.data, gates=point.ifs)
                                         for p, point in enumerate(flow.points) if isinstance(point.data, Event)}

    def points(self, *kinds: str) -> list[int]:
        return [p for p, e in self.events.items() if e.kind in kinds]

    def of(self, kind: str) -> list[Event]:
        return [self.events[p] for p in self.points(kind)]

    def is_clear(self, p: int, among: Among = None) -> bool:
        event = self.events.get(p)
        return event is not None and event.clears and (among is None or among(p))

    def concerning(self, step: int, identity, only=None) -> Among:
        """The events that may touch the gradients the optimizer of ``step`` applies (engine/identity.py): a
        zero_grad(), step() or backward() of optimizers and losses over other parameters is left out. ``only``:
        one of the optimizers a step of several runs."""
        event = self.events[step]
        test = identity.concerns(event.node, event.module, only)
        return lambda q: test(self.events[q].kind, self.events[q].node, self.events[q].module)

    def nearest_before(self, p: int, kinds: tuple[str, ...], among: Among = None) -> set[int]:
        """The points of ``kinds`` that run last before ``p`` on some path (the walk stops at the first one).
        A handler is entered as if its `try` failed at once: an exception that strikes after backward()
        and leads to a step is a path too unlikely to report. ``among``: only these events count."""
        return self._before(p, kinds, among)[1]

    def between(self, p: int, kinds: tuple[str, ...]) -> set[int]:
        """Points that run before ``p`` on a path with no event of ``kinds`` from them up to ``p``."""
        return self._before(p, kinds)[0]

    def backward_free_to(self, p: int, step: int, among: Among = None) -> bool:
        """No way from ``p`` on to ``step`` runs backward() before clearing again: ``p`` always sits between the
        last backward() and the step (not only on a path no run takes, such as a loop left by `break` before
        its backward())."""
        passed = self.flow.reach([p], lambda q: q == step or self.is_clear(q, among), raising=False)[0]
        return not any(q in self.events and self.events[q].kind == BACKWARD and (among is None or among(q))
                       for q in passed)

    def _before(self, p: int, kinds: tuple[str, ...], among: Among = None) -> tuple[set[int], set[int]]:
        return self.flow.reach([p], lambda q: q in self.events and self.events[q].kind in kinds and
                               (among is None or among(q)), backward=True, raising=False)

    def uncleared_cycle(self, p: int, region: set[int], among: Among = None) -> bool:
        """Inside one loop, a path from ``p`` round to ``p`` again runs backward() and clears nothing."""
        def blocked(q: int) -> bool:
            return self.is_clear(q, among)
        after = self.flow.reach([p], blocked, within=region.__contains__)[0]
        backwards = [q for q in after if q in self.events and self.events[q].kind == BACKWARD and
                     (among is None or among(q))]
        return p in self.flow.reach(backwards, blocked, within=region.__contains__)[0]

    def every_iteration(self, p: int, head: int, region: set[int]) -> bool:
        """Every iteration of the loop that starts at ``head`` and comes back to it runs ``p``."""
        return head not in self.flow.reach([head], lambda q: q == p, within=region.__contains__)[0]

    @property
    def always_clears(self) -> bool:
        """Every way through the function (to its return) clears the gradients."""
        return self.flow.exit not in self.flow.reach([self.flow.entry], self.is_clear)[0]

    def loop_points(self, head: int) -> set[int]:
        """The points of one loop's body (and the check that starts each iteration)."""
        return {head} | {p for p, point in enumerate(self.flow.points) if head in point.loops}


class TrainingSteps:
    def __init__(self, flow: FlowGraph, constants: Constants) -> None:
        self.flow = flow
        self.constants = constants  # the analysis's own: its per-expression answers are shared with the rules
        self.module = flow.main
        self._flows: dict[tuple[int, int], ControlFlow | None] = {}

    @cached_property
    def graphs(self) -> list[StepGraph]:
        """The module top level and every function of the file, each with what it calls spliced in."""
        mod = self.module
        result = [StepGraph(mod.tree, mod, self._flow(mod, None, None, 0))]
        for fn in mod.all(cst.FunctionDef):
            result.append(StepGraph(fn, mod, self._flow(mod, fn, mod.enclosing_class(fn), 0)))
        return result

    @cached_property
    def training_loops(self) -> list[cst.CSTNode]:
        """Loops of the file whose iterations run backward() or an optimizer step (their own or a callee's)."""
        found: dict[int, cst.CSTNode] = {}
        for graph in self.graphs:
            for head, loop in graph.flow.loops.items():
                if id(loop) not in found and any(
                        head in graph.flow.points[p].loops for p in graph.points(BACKWARD, STEP)):
                    found[id(loop)] = loop
        return list(found.values())

    def renewed_each_iteration(self, step: Event, loop: cst.CSTNode) -> bool:
        """The stepped optimizer is built inside ``loop``, over parameters that may be new each iteration
        (a model built in the loop, or parameters we cannot trace). Only the same parameters under a new
        optimizer each iteration still pile up gradients; when unsure, this says renewed."""
        mod = step.module
        ctx = Context(mod, mod.enclosing_function(step.node), mod.enclosing_class(step.node))
        receiver = step.node.func.value
        if "scaler" in mod.code(receiver).lower() and step.node.args:
            receiver = step.node.args[0].value  # scaler.step(optimizer)
        built = [value for value, _ in self._values(receiver, ctx) if _inside(mod, value, loop)]
        if not built:
            return False
        for value in built:
            if not (isinstance(value, cst.Call) and any(names.is_optimizer(q) for q in mod.qualified(value))):
                return True  # built by a helper: its parameters are unknown
            owner = _parameters_owner(value.args[0].value) if value.args else None
            if owner is None or not list(self._values(owner, ctx)) or \
                    any(_inside(mod, v, loop) for v, _ in self._values(owner, ctx)):
                return True
        return False

    def _values(self, expr: cst.BaseExpression, ctx: Context):
        """Expressions assigned to a name, or to `self.<attr>` in the class's methods."""
        if isinstance(expr, cst.Name):
            yield from self.flow.assigned_values(expr, ctx)
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self" \
                and ctx.cls is not None:
            for value, method in ctx.cls.attr_values.get(expr.attr.value, ()):
                yield value, Context(ctx.cls.module, method, ctx.cls)

    # -- building -------------------------------------------------------------------------------
    def _flow(self, mod: ModuleAnalysis, fn: cst.FunctionDef | None, cls, depth: int) -> ControlFlow | None:
        """The function's control flow with events, or None when it has none (nothing to splice)."""
        key = (id(fn) if fn is not None else id(mod.tree), depth)
        if key not in self._flows:
            self._flows[key] = None  # a recursive call finds nothing to splice
            statements = fn.body.body if fn is not None and isinstance(fn.body, cst.IndentedBlock) else \
                [fn.body] if fn is not None else mod.tree.body
            ctx = Context(mod, fn, cls)
            built = cfg.build(statements).refine(lambda point: self._pieces(point, ctx, depth))
            self._flows[key] = built if depth == 0 or any(isinstance(p.data, Event) for p in built.points) else None
        return self._flows[key]

    def _pieces(self, point: Point, ctx: Context, depth: int) -> list:
        """What one point of the plain control flow runs, in order: events and the flows of called functions."""
        data, out = point.data, []
        if point.arm is not None and isinstance(point.arm[0], cst.If) and _grad_is_none(point.arm[0].test, point.arm[1]):
            out.append(Event(GRAD_NONE, point.arm[0].test, ctx.module, clears=True))
        elif isinstance(data, cst.BaseSmallStatement):
            self._small(data, ctx, depth, out)
        elif isinstance(data, cst.With):
            for item in data.items:
                self._expressions(item.item, ctx, depth, out)
        elif isinstance(data, cst.BaseExpression):
            self._expressions(data, ctx, depth, out)
        return out

    def _small(self, small: cst.BaseSmallStatement, ctx: Context, depth: int, out: list) -> None:
        if isinstance(small, cst.Assign):
            for target in small.targets:
                if _is_grad(target.target):
                    effect = _assignment_effect(small.value)
                    out.append(self._edit(small, target.target, effect, bool(effect) and effect != NAN_TO_NUM, ctx))
                    return
        if isinstance(small, cst.Del) and _is_grad(small.target):
            out.append(self._edit(small, small.target, "drops the gradients (deletes them)", True, ctx))
            return
        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Expr, cst.Return)) and small.value is not None:
            self._expressions(small.value, ctx, depth, out)

    def _expressions(self, expr, ctx: Context, depth: int, out: list) -> None:
        calls = list(walk(expr, cst.Call))
        for call in reversed(calls):  # inner calls run first
            self._call(call, ctx, depth, out)

    def _call(self, call: cst.Call, ctx: Context, depth: int, out: list) -> None:
        mod = ctx.module
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        qualified = mod.qualified(call)
        if method in names.METHOD_SINKS or qualified & names.FUNCTION_SINKS - {"torch.autograd.grad"}:
            out.append(Event(BACKWARD, call, mod))
        elif self.flow.knowledge.matches("optimizers.step", (), method) and self._is_optimizer_like(func.value, ctx):
            closure = call.args[0].value if call.args and "scaler" not in mod.code(func.value).lower() else None
            out.append(Event(STEP, call, mod, mod.code(func.value), closure))
        elif self.flow.knowledge.matches("gradients.clear", (), method):
            out.append(Event(ZERO_GRAD, call, mod, mod.code(func.value), clears=True))
        elif _called_name(func) == "zero_grads" and self._callee(call, ctx) is None:
            out.append(Event(ZERO_GRAD, call, mod, mod.code(call.args[0].value) if call.args else "", clears=True))
        elif method in ("zero_", "nan_to_num_", "mul_", "fill_") and isinstance(func.value, cst.Attribute) and \
                _is_grad(func.value) and self._edit_kills(call, method, ctx):
            effect = {"zero_": "sets every gradient to zero", "nan_to_num_": NAN_TO_NUM}.get(method)
            out.append(self._edit(call, func.value, effect or f"multiplies every gradient by "
                                  f"`{mod.code(call.args[0].value)}`, which is always 0", method != "nan_to_num_", ctx))
        elif any(a.keyword is not None and a.keyword.value == "out" and _is_grad(a.value) for a in call.args) and \
                _assignment_effect(call):  # torch.nan_to_num(g, out=p.grad)
            grad = next(a.value for a in call.args if a.keyword is not None and a.keyword.value == "out")
            out.append(self._edit(call, grad, _assignment_effect(call), False, ctx))
        elif qualified & names.CLIP_FUNCTIONS and _bound_is_zero(call):
            out.append(Event(GRAD_EDIT, call, mod, "clips every gradient to zero (the bound is 0)"))
        elif qualified & names.CLIP_FUNCTIONS and (decided := self._decided_zero_bound(call, ctx)) is not None:
            out.append(Event(GRAD_EDIT, call, mod, f"clips every gradient to zero (the bound is 0: {decided.how}, line "
                             f"{decided.module.line(decided.origin)})", decided=decided))
        else:
            target = self._callee(call, ctx)
            if target is None:
                return
            if depth < MAX_INLINE_DEPTH:
                callee = self._flow(*target, depth + 1)
                if callee is not None:
                    out.append(callee)
            elif self._summary(*target).always_clears:  # too deep to splice: what it does on every path
                out.append(Event(CLEARING_CALL, call, mod, clears=True))

    def _summary(self, mod: ModuleAnalysis, fn: cst.FunctionDef, cls) -> StepGraph:
        flow = self._flow(mod, fn, cls, 0) or cfg.build(())  # None while being built: a recursive call
        return StepGraph(fn, mod, flow)

    def _edit(self, node: cst.CSTNode, grad: cst.BaseExpression, effect: str, clears: bool, ctx: Context) -> Event:
        """A gradient edit; its effect is only stated (and reportable) when it sweeps every parameter."""
        holder = grad.value.value if isinstance(grad, cst.Attribute) and grad.attr.value == "data" else grad.value
        return Event(GRAD_EDIT, node, ctx.module, effect if self._sweeps_all(holder, node, ctx) else "", clears=clears)

    def _sweeps_all(self, holder: cst.BaseExpression, node: cst.CSTNode, ctx: Context) -> bool:
        """`p` in `p.grad` is the variable of a loop over every parameter: `m.parameters()`, `group["params"]`,
        or the list an optimizer was built with. One named parameter (`self.alpha.grad = None`) or a subset
        we cannot trace (the actor's share of a policy) may be left out of the step on purpose."""
        mod = ctx.module
        loop = next((a for a in mod.ancestors(node) if isinstance(a, cst.For) and isinstance(holder, cst.Name) and
                     any(n.value == holder.value for n in walk(a.target, cst.Name))), None)
        return loop is not None and self._all_parameters(loop.iter, ctx, 0) and \
            not _guarded_by_own_values(mod, node, loop, holder.value)

    def _all_parameters(self, expr: cst.BaseExpression, ctx: Context, depth: int) -> bool:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple") \
                and expr.args:
            return self._all_parameters(expr.args[0].value, ctx, depth)
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._all_parameters(expr.for_in.iter, ctx, depth)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):  # a whole model's, not `m.encoder`'s
            owner = expr.func.value
            whole = isinstance(owner, cst.Name) or isinstance(owner, cst.Attribute) and \
                isinstance(owner.value, cst.Name) and owner.value.value == "self"
            return whole and expr.func.attr.value in ("parameters", "named_parameters")
        if isinstance(expr, cst.Subscript):
            return any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.SimpleString) and
                       e.slice.value.evaluated_value == "params" for e in expr.slice)
        if isinstance(expr, (cst.Name, cst.Attribute)) and depth < 3:
            if any(site.params is not None and ctx.module.code(site.params) == ctx.module.code(expr)
                   for site in self.flow.optimizers):
                return True  # the very list the optimizer steps
            values = list(self._values(expr, ctx))
            return bool(values) and all(self._all_parameters(v, vctx, depth + 1) for v, vctx in values)
        return False

    def _callee(self, call: cst.Call, ctx: Context):
        func = call.func
        if isinstance(func, cst.Attribute):
            owner = self.flow.class_of(func.value, ctx)
            found = self.flow.hierarchy.method(owner, func.attr.value) if owner is not None else None
            return (found[0].module, found[1], owner) if found is not None else None
        found = self.flow.definition(func, ctx)
        if isinstance(found, tuple):
            return found[0], found[1], None
        return None

    def _is_optimizer_like(self, receiver: cst.BaseExpression, ctx: Context) -> bool:
        text = ctx.module.code(receiver).lower()
        if "sched" in text:
            return False
        if "opt" in text or "scaler" in text:
            return True
        graph = self.flow.graph
        return any(graph.nodes[obj].get("kind") == "optimizer"
                   for node in self.flow.eval(receiver, ctx).nodes for obj in self.flow.points_to(node))

    def _edit_kills(self, call: cst.Call, method: str, ctx: Context) -> bool:
        """Whether an in-place edit of `.grad` wipes the gradient (zero_, nan_to_num_, mul_(0), fill_(0))."""
        if method in ("zero_", "nan_to_num_"):
            return True
        return bool(call.args) and self.is_zero(call.args[0].value, ctx)

    def _decided_zero_bound(self, call: cst.Call, ctx: Context) -> "Known | None":
        """The clip bound (`max_norm` / `clip_value`) when the file's values decide it is 0 away from the call
        (`clip_norm // accum_steps` with the defaults 1.0 and 4); None when the call sits under an `if` that the
        values decide against it or that tests the bound's own inputs (`if args.clip > 0:` guards a default 0)."""
        bound = next((a.value for i, a in enumerate(call.args)
                      if (a.keyword.value in ("max_norm", "clip_value") if a.keyword else i == 1)), None)
        if bound is None:
            return None
        mod = ctx.module
        known = self.constants.at(bound, mod)
        if known is None or not known.elsewhere or isinstance(known.value, bool) or \
                not isinstance(known.value, (int, float)) or known.value != 0:
            return None
        inputs = _inputs_of(self.flow, bound, ctx)
        child: cst.CSTNode = call
        for parent in mod.ancestors(call):
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
                break
            if isinstance(parent, (cst.If, cst.While)) and child is not parent.test:
                test = self.constants.at(parent.test, mod)
                runs = child is parent.body
                if test is None and inputs & _tested_values(mod, parent.test) or \
                        test is not None and bool(test.value) is not runs and not isinstance(test.value, EnumMember):
                    return None
            child = parent
        return known

    def is_zero(self, expr: cst.BaseExpression, ctx: Context) -> bool:
        """A literal 0, `1 // k` (0 for any k > 1), or a name only ever assigned such a value."""
        return self.flow.always(expr, ctx, _is_zero_literal)


def _parameters_owner(params: cst.BaseExpression) -> cst.BaseExpression | None:
    """`m` in `m.parameters()`, `list(m.parameters())`, `[p for n, p in m.named_parameters()]`."""
    if isinstance(params, cst.Call) and isinstance(params.func, cst.Name) and params.func.value == "list" and params.args:
        params = params.args[0].value
    if isinstance(params, (cst.ListComp, cst.GeneratorExp)) and params.for_in.inner_for_in is None:
        params = params.for_in.iter
    if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) and \
            params.func.attr.value in ("parameters", "named_parameters"):
        return params.func.value
    return None


def _inputs_of(flow: FlowGraph, expr: cst.BaseExpression, ctx: Context, depth: int = 3) -> set[str]:
    """The names and attributes a value is computed from, following the names it reads through their assignments."""
    found = {ctx.module.code(n) for n in walk(expr, (cst.Name, cst.Attribute))}
    if depth > 0:
        for name in walk(expr, cst.Name):
            for value, vctx in flow.assigned_values(name, ctx):
                found |= _inputs_of(flow, value, vctx, depth - 1)
    return found


def _tested_values(mod: ModuleAnalysis, test: cst.BaseExpression) -> set[str]:
    """The names and attributes a condition tests directly (`args.clip` in `args.clip > 0 and not x`), not those
    inside arithmetic (`args.accum` in `(i + 1) % args.accum == 0`, a counter's period)."""
    if isinstance(test, (cst.Name, cst.Attribute)):
        return {mod.code(test)}
    if isinstance(test, cst.UnaryOperation):
        return _tested_values(mod, test.expression)
    if isinstance(test, cst.BooleanOperation):
        return _tested_values(mod, test.left) | _tested_values(mod, test.right)
    if isinstance(test, cst.Comparison):
        return _tested_values(mod, test.left).union(*(_tested_values(mod, c.comparator) for c in test.comparisons))
    if isinstance(test, cst.Call) and len(test.args) == 1:  # `float(args.clip)`, `bool(max_norm)`
        return _tested_values(mod, test.args[0].value)
    return set()


def _inside(mod: ModuleAnalysis, node: cst.CSTNode, loop: cst.CSTNode) -> bool:
    return any(a is loop for a in mod.ancestors(node))


def _is_zero_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float)):
        return float(expr.evaluated_value) == 0.0
    return isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.FloorDivide) and \
        isinstance(expr.left, cst.Integer) and expr.left.evaluated_value in (0, 1) and \
        not isinstance(expr.right, cst.Integer)


def _called_name(func: cst.BaseExpression) -> str | None:
    """`zero_grads` in `zero_grads(ps)` and `pyro.infer.util.zero_grads(ps)`."""
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None


def _guarded_by_own_values(mod: ModuleAnalysis, node: cst.CSTNode, loop: cst.For, holder: str) -> bool:
    """Inside the loop, an `if` around the edit reads the values of that very gradient (`if not
    torch.isfinite(p.grad).all(): p.grad = None`): only the parameters whose gradient fails the check are
    edited, a per-parameter skip rather than a sweep. Asking whether the gradient exists (`p.grad is not
    None`) is no such check."""
    for gate in mod.ancestors(node):
        if gate is loop:
            return False
        if not isinstance(gate, cst.If):
            continue
        presence = {id(c.left) for c in walk(gate.test, cst.Comparison)
                    if len(c.comparisons) == 1 and isinstance(c.comparisons[0].operator, (cst.Is, cst.IsNot))}
        if any(_is_grad(a) and isinstance(a.value, cst.Name) and a.value.value == holder and id(a) not in presence
               for a in walk(gate.test, cst.Attribute)):
            return True
    return False


def _is_grad(expr: cst.BaseExpression) -> bool:
    """`p.grad` or `p.grad.data`."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    return isinstance(expr, cst.Attribute) and expr.attr.value == "grad"


NAN_TO_NUM = ("replaces NaN/inf gradients with numbers (zeros by default): when the loss is NaN, every gradient "
              "becomes 0")


def _grad_is_none(test: cst.BaseExpression, branch: bool) -> bool:
    """The `if` arm is taken only when a gradient is None: `p.grad is None` (then) or `p.grad is not None` (else)."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and _is_grad(test.left)):
        return False
    target = test.comparisons[0]
    if not (isinstance(target.comparator, cst.Name) and target.comparator.value == "None"):
        return False
    return branch if isinstance(target.operator, cst.Is) else not branch and isinstance(target.operator, cst.IsNot)


def _assignment_effect(value: cst.BaseExpression) -> str:
    """What `p.grad = value` does to the gradient, or "" when it keeps the information (a rescaling)."""
    if isinstance(value, cst.Name) and value.value == "None":
        return "drops the gradients (sets them to None)"
    called = {c.func.attr.value if isinstance(c.func, cst.Attribute) else c.func.value
              for c in walk(value, cst.Call) if isinstance(c.func, (cst.Attribute, cst.Name))}
    if called & {"nan_to_num"}:
        return NAN_TO_NUM
    if called & {"zeros_like", "zeros", "full_like"}:
        return "overwrites the gradients with a constant"
    return ""


def _bound_is_zero(call: cst.Call) -> bool:
    for i, arg in enumerate(call.args):
        keyword = arg.keyword.value if arg.keyword else None
        if keyword in ("max_norm", "clip_value") or (keyword is None and i == 1):
            return isinstance(arg.value, (cst.Integer, cst.Float)) and float(arg.value.evaluated_value) == 0.0
    return False
