"""Hooks: code that torch runs elsewhere, on every forward or backward, decided by the function registered.

Two effects the line that looks wrong does not show:
- a forward hook's return value, when not None, *replaces* the module's output
  (`register_forward_hook`), so a recorder that returns `output.detach()` cuts every layer
  before the hooked module out of the loss;
- a tensor hook's return value replaces the gradient (`p.register_hook(fn)`), so a clamp whose
  bound is 0 (a config default meant as "off") zeroes every gradient before the step.

The registered function is found through the call that registers it: a `def`, a method, a lambda,
or a factory (`self._make_hook(name)`) whose returned inner function is the hook.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from graphlint.engine.constants import Constants, Known
from graphlint.engine.flow import Context, Cut, FlowGraph, function_key
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.returns import returns_of
from graphlint.engine.tree import walk

FORWARD_HOOKS = frozenset({"register_forward_hook"})
TENSOR_HOOKS = frozenset({"register_hook", "register_post_accumulate_grad_hook"})


@dataclass(frozen=True)
class HookCut:
    """A forward hook whose returned value is its `output` argument cut from the graph."""

    register: cst.Call
    module: ModuleAnalysis
    hook: cst.FunctionDef | cst.Lambda
    hook_module: ModuleAnalysis
    returned: cst.CSTNode  # the `return` (or the lambda's body) that hands the cut value back
    cut: Cut


@dataclass(frozen=True)
class ZeroingHook:
    """A tensor hook that returns the gradient clamped to [-0, 0] or multiplied by 0."""

    register: cst.Call
    module: ModuleAnalysis
    edit: cst.CSTNode  # `g.clamp(-c, c)`
    how: str
    known: Known | None  # where the 0 was decided, when not written at the edit


class Hooks:
    def __init__(self, flow: FlowGraph, constants: Constants) -> None:
        self.flow = flow
        self.constants = constants

    def _registrations(self, methods: frozenset[str]):
        """(register call, its context, the hook functions with their modules) in the analysed file."""
        mod = self.flow.main
        for call in mod.all(cst.Call):
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value in methods and call.args:
                ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))
                yield call, ctx, self.functions(call.args[0].value, ctx)

    def functions(self, expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> list[tuple]:
        """(module, def or lambda, its context) a callable expression may be: a lambda, a def, a method, or what a
        factory returns."""
        if isinstance(expr, cst.Lambda):
            return [(ctx.module, expr, ctx)]
        if depth > 2:
            return []
        if isinstance(expr, cst.Call):
            callee = self.flow.callee(expr, ctx)
            if callee is None:
                return []
            fmod, fn, cls, _ = callee
            fctx = Context(fmod, fn, cls)
            return [f for r in returns_of(fn) if r.value is not None for f in self.functions(r.value, fctx, depth + 1)]
        if isinstance(expr, cst.Name):
            for binding in ctx.module.scopes.bindings(expr):
                if isinstance(binding.node, cst.FunctionDef):
                    fn = binding.node
                    return [(ctx.module, fn, Context(ctx.module, fn, ctx.module.enclosing_class(fn)))]
            found = self.flow.definition(expr, ctx)
            if isinstance(found, tuple):
                return [(found[0], found[1], Context(found[0], found[1], None))]
            return []
        if isinstance(expr, cst.Attribute):
            owner = self.flow.class_of(expr.value, ctx)
            found = self.flow.hierarchy.method(owner, expr.attr.value) if owner is not None else None
            if found is not None:
                return [(found[0].module, found[1], Context(found[0].module, found[1], owner))]
        return []

    # -- forward hooks --------------------------------------------------------------------------
    @cached_property
    def forward_cuts(self) -> list[HookCut]:
        found = []
        for call, ctx, hooks in self._registrations(FORWARD_HOOKS):
            for hmod, hook, hctx in hooks:
                cut = self._returns_cut_output(hmod, hook)
                if cut is not None:
                    found.append(HookCut(call, ctx.module, hook, hmod, *cut))
        return found

    def _returns_cut_output(self, mod: ModuleAnalysis, hook) -> tuple[cst.CSTNode, Cut] | None:
        """(the return, the cut) when the hook hands back its output argument only through a cut, and also does
        something else (records it): a hook whose whole job is `return output.detach()` stops gradients on purpose."""
        params = [p.name.value for p in hook.params.params]
        if len(params) < 3 or isinstance(hook, cst.Lambda):
            return None
        self.flow.read_function(mod, hook, mod.enclosing_class(hook) if _is_method(mod, hook) else None)
        returns = [r for r in returns_of(hook) if r.value is not None and not _is_none(r.value)]
        body = hook.body.body if isinstance(hook.body, cst.IndentedBlock) else ()
        if not returns or len(body) < 2:
            return None
        graph = self.flow.graph
        key = function_key(mod, hook)
        output = self.flow.var_node(hook.params.params[2].name, Context(mod, hook, None)) + ("param",)
        ret = ("ret", key)
        if output not in graph or ret not in graph:
            return None
        clean = _descendants(graph, output, cut_ok=False)
        if ret in clean:
            return None  # the output itself goes back on some path
        for node in clean:
            for succ in graph.successors(node):
                cut = graph.edges[node, succ]["cut"]
                if cut is not None and ret in _descendants(graph, succ, cut_ok=False):
                    return returns[0], cut
        return None

    # -- tensor hooks ----------------------------------------------------------------------------
    @cached_property
    def zeroing(self) -> list[ZeroingHook]:
        found = []
        for call, ctx, hooks in self._registrations(TENSOR_HOOKS):
            if self._conditional(call, ctx):
                continue
            for hmod, hook, hctx in hooks:
                params = [p.name.value for p in hook.params.params]
                if not params:
                    continue
                returned = [hook.body] if isinstance(hook, cst.Lambda) else \
                    [r.value for r in returns_of(hook) if r.value is not None]
                for value in returned:
                    zeroed = self._zeroes(value, params[0], hctx)
                    if zeroed is not None:
                        found.append(ZeroingHook(call, ctx.module, value, *zeroed))
                        break
        return found

    def _conditional(self, call: cst.Call, ctx: Context) -> bool:
        """The registration may not run: it sits under an `if` (or after an early `return` under one) in its
        function, or the function is called under an `if` (`if cfg.clip: install_clamp(model, cfg.clip)`)."""
        mod, fn = ctx.module, ctx.function
        if any(isinstance(a, (cst.If, cst.IfExp)) for a in mod.ancestors(call) if fn is None or a is not fn and
               any(b is fn for b in mod.ancestors(a))):
            return True
        if fn is None:
            return False
        if any(True for _ in walk(fn.body, cst.If)):
            return True
        return any(isinstance(a, (cst.If, cst.IfExp)) for site, sctx in self.flow.call_sites(mod, fn)
                   for a in sctx.module.ancestors(site))

    def _zeroes(self, value: cst.BaseExpression, grad: str, ctx: Context) -> tuple[str, Known | None] | None:
        """How a returned value zeroes the gradient ``grad``: clamped to bounds that are both 0, or times 0."""
        clamped = _clamped(value, ctx)
        if clamped is not None and _is_name(clamped[0], grad):
            bounds = clamped[1]
            if len(bounds) == 2:
                known = [self._zero(b, ctx) for b in bounds]
                if all(k is not None for k in known):
                    origin = next((k for k in known if k.elsewhere), None)
                    return f"clamps every gradient to [{_code(ctx, bounds[0])}, {_code(ctx, bounds[1])}]", origin
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Multiply):
            for this, other in ((value.left, value.right), (value.right, value.left)):
                if _is_name(this, grad):
                    known = self._zero(other, ctx)
                    if known is not None:
                        return f"multiplies every gradient by `{_code(ctx, other)}`", known if known.elsewhere else None
        return None

    def _zero(self, expr: cst.BaseExpression, ctx: Context) -> Known | None:
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            expr = expr.expression
        known = self.constants.value(expr, ctx)
        if known is None or isinstance(known.value, bool) or not isinstance(known.value, (int, float)) or known.value != 0:
            return None
        return known


def _descendants(graph, start, cut_ok: bool) -> set:
    seen = {start}
    stack = [start]
    while stack:
        current = stack.pop()
        for succ in graph.successors(current):
            if succ not in seen and (cut_ok or graph.edges[current, succ]["cut"] is None):
                seen.add(succ)
                stack.append(succ)
    return seen


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def _code(ctx: Context, expr: cst.BaseExpression) -> str:
    return ctx.module.code(expr)


def _is_method(mod: ModuleAnalysis, fn: cst.FunctionDef) -> bool:
    cls = mod.enclosing_class(fn)
    return cls is not None and fn in cls.methods.values()


def _clamped(value: cst.BaseExpression, ctx: Context):
    """(the clamped tensor, its bounds) for `g.clamp(a, b)` / `g.clip(min=a, max=b)` / `torch.clamp(g, a, b)`."""
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    args = [a for a in value.args if a.keyword is None or a.keyword.value in ("min", "max", "input")]
    if isinstance(func, cst.Attribute) and func.attr.value in ("clamp", "clip", "clamp_", "clip_"):
        if ctx.module.qualified(value) & {"torch.clamp", "torch.clip"}:
            return (args[0].value, [a.value for a in args[1:]]) if args else None
        return func.value, [a.value for a in args]
    return None
