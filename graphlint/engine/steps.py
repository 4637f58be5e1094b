"""The order of training-step events: backward, optimizer step, zero_grad, gradient edits.

A function or loop body is flattened into the events it performs per iteration, in
source order, following calls into functions and methods of the analysed files (a
`train_step` method called from the loop). Both arms of an `if` are kept, marked as
conditional; order rules then ask "what happened last before this step?".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst

from graphlint.engine import names
from graphlint.engine.flow import Context, FlowGraph
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.tree import walk

BACKWARD, STEP, ZERO_GRAD, GRAD_EDIT = "backward", "step", "zero_grad", "grad_edit"
MAX_INLINE_DEPTH = 3


@dataclass(frozen=True)
class Event:
    kind: str
    node: cst.CSTNode
    module: ModuleAnalysis
    gates: tuple[cst.If, ...] = ()  # enclosing `if`s, innermost last
    detail: str = ""  # for steps and zero_grad: the receiver; for gradient edits: what the edit does
    closure: cst.BaseExpression | None = None  # `opt.step(closure)`


@dataclass
class Body:
    """A loop's or a function's flattened events."""

    node: cst.CSTNode
    module: ModuleAnalysis
    events: list[Event] = field(default_factory=list)
    is_loop: bool = False

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


class TrainingSteps:
    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self.module = flow.main

    @cached_property
    def bodies(self) -> list[Body]:
        """Every loop body and function body of the file, flattened."""
        result = []
        mod = self.module
        for node in mod.all(cst.For) + mod.all(cst.While) + mod.all(cst.FunctionDef):
            ctx = Context(mod, node if isinstance(node, cst.FunctionDef) else mod.enclosing_function(node),
                          mod.enclosing_class(node))
            body = Body(node, mod, is_loop=not isinstance(node, cst.FunctionDef))
            self._collect(node.body, ctx, (), body.events, depth=0, seen=set())
            result.append(body)
        return result

    # -- flattening -----------------------------------------------------------------------------
    def _collect(self, suite, ctx: Context, gates: tuple, out: list[Event], depth: int, seen: set) -> None:
        statements = suite.body if isinstance(suite, cst.IndentedBlock) else [suite] if not isinstance(suite, (list, tuple)) else suite
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._small(small, ctx, gates, out, depth, seen)
            elif isinstance(stmt, cst.If):
                self._expressions(stmt.test, ctx, gates, out, depth, seen)
                self._collect(stmt.body, ctx, gates + (stmt,), out, depth, seen)
                if stmt.orelse is not None:
                    orelse = [stmt.orelse] if isinstance(stmt.orelse, cst.If) else stmt.orelse.body
                    self._collect(orelse, ctx, gates + (stmt,), out, depth, seen)
            elif isinstance(stmt, (cst.For, cst.While, cst.With)):
                self._collect(stmt.body, ctx, gates, out, depth, seen)
            elif isinstance(stmt, cst.Try):
                self._collect(stmt.body, ctx, gates, out, depth, seen)
                for part in (stmt.orelse, stmt.finalbody):
                    if part is not None:
                        self._collect(part.body, ctx, gates, out, depth, seen)

    def _small(self, small, ctx, gates, out, depth, seen) -> None:
        mod = ctx.module
        if isinstance(small, cst.Assign):
            for target in small.targets:
                if _is_grad(target.target):
                    out.append(Event(GRAD_EDIT, small, mod, gates, _assignment_effect(small.value)))
                    return
        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Expr, cst.Return)) and small.value is not None:
            self._expressions(small.value, ctx, gates, out, depth, seen)

    def _expressions(self, expr, ctx, gates, out, depth, seen) -> None:
        calls = list(walk(expr, cst.Call))
        for call in reversed(calls):  # inner calls run first
            self._call(call, ctx, gates, out, depth, seen)

    def _call(self, call: cst.Call, ctx: Context, gates, out, depth, seen) -> None:
        mod = ctx.module
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        qualified = mod.qualified(call)
        if method in names.METHOD_SINKS or qualified & names.FUNCTION_SINKS - {"torch.autograd.grad"}:
            out.append(Event(BACKWARD, call, mod, gates))
        elif self.flow.knowledge.matches("optimizers.step", (), method) and self._is_optimizer_like(func.value, ctx):
            closure = call.args[0].value if call.args and "scaler" not in mod.code(func.value).lower() else None
            out.append(Event(STEP, call, mod, gates, mod.code(func.value), closure))
        elif self.flow.knowledge.matches("gradients.clear", (), method):
            out.append(Event(ZERO_GRAD, call, mod, gates, mod.code(func.value)))
        elif method in ("zero_", "nan_to_num_", "mul_", "fill_") and isinstance(func.value, cst.Attribute) and \
                _is_grad(func.value) and self._edit_kills(call, method, ctx):
            effect = {"zero_": "sets every gradient to zero",
                      "nan_to_num_": "replaces NaN/inf gradients with numbers (zeros by default): when the loss is "
                                     "NaN, every gradient becomes 0"}.get(method)
            out.append(Event(GRAD_EDIT, call, mod, gates, effect or
                             f"multiplies every gradient by `{mod.code(call.args[0].value)}`, which is always 0"))
        elif any(a.keyword is not None and a.keyword.value == "out" and _is_grad(a.value) for a in call.args) and \
                _assignment_effect(call):
            out.append(Event(GRAD_EDIT, call, mod, gates, _assignment_effect(call)))  # torch.nan_to_num(g, out=p.grad)
        elif qualified & names.CLIP_FUNCTIONS and _bound_is_zero(call):
            out.append(Event(GRAD_EDIT, call, mod, gates, "clips every gradient to zero (the bound is 0)"))
        elif depth < MAX_INLINE_DEPTH:
            target = self._callee(call, ctx)
            if target is not None and id(target[1]) not in seen:
                fmod, fn, cls = target
                self._collect(fn.body, Context(fmod, fn, cls), gates, out, depth + 1, seen | {id(fn)})

    def _callee(self, call: cst.Call, ctx: Context):
        func = call.func
        if isinstance(func, cst.Attribute):
            owner = self.flow.class_of(func.value, ctx)
            if owner is not None:
                method = owner.module.class_method(owner, func.attr.value)
                return (owner.module, method, owner) if method is not None else None
            return None
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

    def is_zero(self, expr: cst.BaseExpression, ctx: Context) -> bool:
        """A literal 0, `1 // k` (0 for any k > 1), or a name only ever assigned such a value."""
        return self.flow.always(expr, ctx, _is_zero_literal)


def _is_zero_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float)):
        return float(expr.evaluated_value) == 0.0
    return isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.FloorDivide) and \
        isinstance(expr.left, cst.Integer) and expr.left.evaluated_value in (0, 1) and \
        not isinstance(expr.right, cst.Integer)


def _is_grad(expr: cst.BaseExpression) -> bool:
    """`p.grad` or `p.grad.data`."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    return isinstance(expr, cst.Attribute) and expr.attr.value == "grad"


def _assignment_effect(value: cst.BaseExpression) -> str:
    """What `p.grad = value` does to the gradient, or "" when it keeps the information (a rescaling)."""
    if isinstance(value, cst.Name) and value.value == "None":
        return "drops the gradients (sets them to None)"
    called = {c.func.attr.value if isinstance(c.func, cst.Attribute) else c.func.value
              for c in walk(value, cst.Call) if isinstance(c.func, (cst.Attribute, cst.Name))}
    if called & {"nan_to_num"}:
        return "replaces NaN/inf gradients with numbers (zeros by default): when the loss is NaN, every gradient becomes 0"
    if called & {"zeros_like", "zeros", "full_like"}:
        return "overwrites the gradients with a constant"
    return ""


def _bound_is_zero(call: cst.Call) -> bool:
    for i, arg in enumerate(call.args):
        keyword = arg.keyword.value if arg.keyword else None
        if keyword in ("max_norm", "clip_value") or (keyword is None and i == 1):
            return isinstance(arg.value, (cst.Integer, cst.Float)) and float(arg.value.evaluated_value) == 0.0
    return False
