"""What a call does to modules' gradients, wherever the code that does it lives: a summary of each function,
computed once and applied at every place it is called.

Trainers route work through callbacks and hook tables (`for cb in self.callbacks: getattr(cb, hook)(self)`),
so the line that turns a module's gradients back on (`requires_grad_(True)`) is often three calls away from
the loop that runs it. A summary lists those places; calls into functions and methods of the analysed files are
followed three deep, including `getattr(obj, name)(...)` when `name` is a string the caller passes (the summary
of `_emit("on_epoch_start")` holds only what `on_epoch_start` does).
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from graphlint.engine.flow import Context, FlowGraph
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.tree import walk

MAX_DEPTH = 3


@dataclass(frozen=True)
class Unfreeze:
    node: cst.CSTNode  # `m.requires_grad_(True)` or `p.requires_grad = True`
    module: ModuleAnalysis
    ctx: Context
    receiver: cst.BaseExpression  # the module or parameter whose gradients are turned on


class Effects:
    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self._summaries: dict[tuple, tuple[Unfreeze, ...]] = {}

    def unfreezes(self, call: cst.Call, ctx: Context, strings: dict[str, str] | None = None,
                  depth: int = 0) -> tuple[Unfreeze, ...]:
        """The places the call turns gradients on, in it and in what it calls."""
        found = []
        direct = _unfreeze_of(call, ctx)
        if direct is not None:
            return (direct,)
        if depth >= MAX_DEPTH:
            return ()
        for mod, fn, cls in self._targets(call, ctx, strings or {}):
            passed = _string_arguments(call, fn, ctx.module, strings or {})
            found.extend(self._summary(mod, fn, cls, passed, depth + 1))
        return tuple(found)

    def _summary(self, mod: ModuleAnalysis, fn: cst.FunctionDef, cls, strings: dict[str, str],
                 depth: int) -> tuple[Unfreeze, ...]:
        key = (id(fn), tuple(sorted(strings.items())), depth)
        if key not in self._summaries:
            self._summaries[key] = ()  # a recursive call adds nothing
            ctx = Context(mod, fn, cls)
            found: list[Unfreeze] = []
            for assign in walk(fn.body, cst.Assign):
                for target in assign.targets:
                    t = target.target
                    if isinstance(t, cst.Attribute) and t.attr.value == "requires_grad" and not _is_false(assign.value):
                        found.append(Unfreeze(assign, mod, ctx, _parameters_owner(mod, t.value)))
            for call in walk(fn.body, cst.Call):
                found.extend(self.unfreezes(call, ctx, strings, depth))
            self._summaries[key] = tuple(found)
        return self._summaries[key]

    def _targets(self, call: cst.Call, ctx: Context, strings: dict[str, str]):
        """(module, function, class) a call may run: what it resolves to, a subclass's override of a `self.` hook,
        and `getattr(obj, name)(...)` for the names it may be given."""
        flow = self.flow
        found = flow.callee(call, ctx)
        if found is not None:
            mod, fn, cls, _ = found
            yield mod, fn, cls
            for sub, override in flow.overriding(call, ctx, fn):
                yield sub.module, override, sub
            return
        func = flow.getattr_call(call, ctx)
        if func is not None:
            name = func.args[1].value
            names = [strings[name.value]] if isinstance(name, cst.Name) and name.value in strings else None
            for cls, fn, owner in flow.looked_up_methods(call, ctx, names):
                yield cls.module, fn, owner


def _unfreeze_of(call: cst.Call, ctx: Context) -> Unfreeze | None:
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and \
            not (call.args and _is_false(call.args[0].value)):
        return Unfreeze(call, ctx.module, ctx, func.value)
    return None


def _parameters_owner(mod: ModuleAnalysis, param: cst.BaseExpression) -> cst.BaseExpression:
    """`m` for the loop variable `p` of `for p in m.parameters()`: the module whose parameters it walks."""
    if isinstance(param, cst.Name):
        for loop in mod.ancestors(param):
            if isinstance(loop, cst.For) and any(n.value == param.value for n in walk(loop.target, cst.Name)):
                it = loop.iter
                if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
                        it.func.attr.value in ("parameters", "named_parameters"):
                    return it.func.value
                break
    return param


def _string_arguments(call: cst.Call, fn: cst.FunctionDef, mod: ModuleAnalysis, strings: dict[str, str]) -> dict:
    """Parameter name -> the string literal (or string the caller was itself given) passed for it."""
    params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
    if params and params[0] == "self" and isinstance(call.func, cst.Attribute):
        params = params[1:]
    passed = {}
    for i, arg in enumerate(a for a in call.args if not a.star):
        name = arg.keyword.value if arg.keyword is not None else params[i] if i < len(params) else None
        value = arg.value
        if name is None:
            continue
        if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
            passed[name] = value.evaluated_value
        elif isinstance(value, cst.Name) and value.value in strings:
            passed[name] = strings[value.value]
    return passed


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"
