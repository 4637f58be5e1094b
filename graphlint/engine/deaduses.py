"""Where a value goes, forward, and whether every place it is used is a branch the file's values never run.

A layer's output can be built on every step and still train nothing: `forward` returns it beside the main
logits, the loss helper unpacks it and adds its term only `if cfg.aux_weight > 0`, and the default is 0.
The question asked here is "does every use of this value end inside such a dead branch?". The value is
followed through expressions that compute from it, names it is assigned to, tuple elements (which element of
`return logits, aux` a caller's `a, b = model(x)` takes), arguments of functions and methods the file defines,
and the call sites of the function that returns it. Anything else (an attribute store, a call site we cannot
find) answers no: unknown is never dead.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from graphlint.engine.constants import Constants, EnumMember, Known
from graphlint.engine.flow import Context, FlowGraph
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.tree import walk

_BUDGET = 300  # places visited per question: a value fanning out further is not followed (unknown)


@dataclass(frozen=True)
class DeadUse:
    """Where a use of the value ends without effect: a branch that never runs, or a product with a factor of 0."""

    place: cst.If | cst.IfExp | cst.BinaryOperation
    known: Known  # the test's value or the factor, decided where `known.origin` is

    def describe(self, mod: ModuleAnalysis) -> str:
        if isinstance(self.place, cst.BinaryOperation):
            return f"in `{mod.code(self.place)}` (line {mod.line(self.place)}), multiplied by {self.known.value}"
        return f"under `if {mod.code(self.place.test)}` (line {mod.line(self.place)}), which is always " \
               f"{bool(self.known.value)}"


class _Unknown(Exception):
    pass


class ForwardUses:
    def __init__(self, flow: FlowGraph, constants: Constants) -> None:
        self.flow = flow
        self.constants = constants
        self.module = flow.main
        self._tests: dict[int, Known | None] = {}

    @cached_property
    def any_dead_place(self) -> bool:
        """The file has a branch or a factor its values decide (most files have none: nothing to follow then)."""
        mod = self.module
        for node in [*mod.all(cst.If), *mod.all(cst.IfExp)]:
            if self._test(node, mod) is not None:
                return True
        for op in mod.all(cst.BinaryOperation):
            if isinstance(op.operator, cst.Multiply):
                ctx = Context(mod, mod.enclosing_function(op), mod.enclosing_class(op))
                if any(isinstance(side, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)) and
                       self._zero_factor(side, ctx) is not None for side in (op.left, op.right)):
                    return True
        return False

    def dead_only(self, expr: cst.BaseExpression, ctx: Context) -> tuple[DeadUse, ...] | None:
        """The dead uses (branches that never run, factors of 0) that every use of ``expr``'s value ends in; None when
        some use may count (or is unknown) or when the value is never used at all."""
        if not self.any_dead_place:
            return None
        self._seen: set[tuple[int, int | str | None]] = set()
        self._dead: dict[int, DeadUse] = {}
        self._budget = _BUDGET
        try:
            self._follow(expr, ctx, None)
        except _Unknown:
            return None
        return tuple(self._dead.values()) or None

    def _follow(self, node: cst.CSTNode, ctx: Context, slot: int | str | None) -> None:
        """Follow the value of ``node`` (or its element ``slot``) to its uses; raise _Unknown at a live use."""
        key = (id(node), slot)
        if key in self._seen:
            return
        self._seen.add(key)
        self._budget -= 1
        if self._budget < 0:
            raise _Unknown
        mod = ctx.module
        dead = self._dead_branch(node, mod)
        if dead is not None:
            self._dead[id(dead.place)] = dead
            return
        while True:
            parent = mod.parent(node)
            if isinstance(parent, cst.Element) and isinstance(mod.parent(parent), (cst.Tuple, cst.List)):
                outer = mod.parent(parent)
                index = list(outer.elements).index(parent)
                node, slot = outer, (index if slot is None and not any(
                    isinstance(e, cst.StarredElement) for e in outer.elements) else None)
                continue
            if isinstance(parent, cst.DictElement) and parent.value is node and isinstance(parent.key, cst.SimpleString):
                node, slot = mod.parent(parent), (parent.key.evaluated_value if slot is None else None)
                continue
            if isinstance(parent, cst.Subscript) and parent.value is node and slot is not None:
                index = _constant_index(parent)
                if index is None:
                    node, slot = parent, None
                    continue
                if index != slot:
                    return  # another element: this use does not see the value
                node, slot = parent, None
                continue
            if isinstance(parent, cst.Return):
                self._returned(mod.enclosing_function(parent), ctx, slot)
                return
            if isinstance(parent, cst.Assign) and parent.value is node:
                for target in parent.targets:
                    self._assigned(target.target, ctx, slot)
                return
            if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.value is node:
                self._assigned(parent.target, ctx, None)
                return
            if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Multiply):
                factor = self._zero_factor(parent.right if parent.left is node else parent.left, ctx)
                if factor is not None:  # `cfg.aux_weight * aux_loss` with the weight 0: its gradient is 0
                    self._dead[id(parent)] = DeadUse(parent, factor)
                    return
            if isinstance(parent, cst.Arg) and parent.value is node:
                call = mod.parent(parent)
                if self._passed(call, parent, ctx, slot):
                    return
                node, slot = call, None
                continue
            if isinstance(parent, cst.BaseExpression) or isinstance(parent, (cst.Arg, cst.Index, cst.SubscriptElement,
                                                                             cst.Slice, cst.ComparisonTarget)):
                node, slot = parent, None
                continue
            raise _Unknown  # a statement that uses it (a backward, a log, an attribute store) and may run

    # -- where the value goes next ------------------------------------------------------------------------------
    def _assigned(self, target: cst.BaseExpression, ctx: Context, slot: int | str | None) -> None:
        if isinstance(target, cst.Name):
            for read in _reads(ctx.module, target, ctx.function):
                self._follow(read, ctx, slot)
        elif isinstance(target, (cst.Tuple, cst.List)) and not any(isinstance(e, cst.StarredElement)
                                                                   for e in target.elements):
            if isinstance(slot, str):
                raise _Unknown  # unpacking a dict's keys
            chosen = list(target.elements) if slot is None else target.elements[slot:slot + 1]
            for element in chosen:
                self._assigned(element.value, ctx, None)
        else:
            raise _Unknown  # an attribute or a subscript: the value is kept somewhere we do not follow

    def _passed(self, call: cst.Call, arg: cst.Arg, ctx: Context, slot: int | str | None) -> bool:
        """The value is an argument of a function the file defines: follow its parameter; False when the callee is
        not the file's (its result then carries the value)."""
        found = self.flow.callee(call, ctx)
        if found is None:
            return False
        mod, fn, cls, receiver = found
        if mod is not self.module or arg.star:
            raise _Unknown
        params = [*fn.params.posonly_params, *fn.params.params]
        if cls is not None and params and (receiver is not None or mod.class_method(cls, fn.name.value) is fn):
            params = params[1:]  # `self`
        if arg.keyword is not None:
            param = next((p for p in [*params, *fn.params.kwonly_params] if p.name.value == arg.keyword.value), None)
        else:
            index = [a for a in call.args if a.keyword is None].index(arg)
            param = params[index] if index < len(params) else None
        if param is None:
            raise _Unknown
        inner = Context(mod, fn, cls)
        for read in _reads(mod, param.name, fn):
            self._follow(read, inner, slot)
        return True

    def _returned(self, fn: cst.FunctionDef | None, ctx: Context, slot: int | str | None) -> None:
        calls = self._call_sites.get(id(fn)) if fn is not None else None
        if not calls:
            raise _Unknown  # returned to code we cannot see
        for call, cctx in calls:
            self._follow(call, cctx, slot)

    @cached_property
    def _call_sites(self) -> dict[int, list[tuple[cst.Call, Context]]]:
        """Function id -> the calls of the main file that run it (a module instance's call runs its forward)."""
        mod = self.module
        sites: dict[int, list[tuple[cst.Call, Context]]] = {}
        for call in mod.all(cst.Call):
            ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))
            found = self.flow.callee(call, ctx)
            if found is not None:
                sites.setdefault(id(found[1]), []).append((call, ctx))
        return sites

    # -- dead branches ---------------------------------------------------------------------------------------------
    def _dead_branch(self, node: cst.CSTNode, mod: ModuleAnalysis) -> DeadUse | None:
        """The innermost `if` (or `a if test else b`) around ``node`` (in its function) whose comparison the file's values decide against the
        arm ``node`` is in."""
        child = node
        for parent in mod.ancestors(node):
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return None
            if isinstance(parent, (cst.If, cst.IfExp)) and child is not parent.test:
                known = self._test(parent, mod)
                if known is not None and bool(known.value) is not (child is parent.body):
                    return DeadUse(parent, known)
            child = parent
        return None

    def _zero_factor(self, factor: cst.BaseExpression, ctx: Context) -> Known | None:
        """A factor the file's values make 0, decided away from the product (a weight's default), not a switch."""
        if id(factor) not in self._tests:
            known = self.constants.value(factor, ctx)
            self._tests[id(factor)] = known if known is not None and known.elsewhere and \
                not isinstance(known.value, bool) and isinstance(known.value, (int, float)) and known.value == 0 and \
                not _is_switch(known) else None
        return self._tests[id(factor)]

    def _test(self, stmt: cst.If | cst.IfExp, mod: ModuleAnalysis) -> Known | None:
        """A comparison's value, decided away from it (a bare flag, `if cfg.use_aux:`, is a switch left to the
        user and is not decided here)."""
        if id(stmt) not in self._tests:
            known = None
            if any(True for _ in walk(stmt.test, cst.Comparison)):
                known = self.constants.value(stmt.test, Context(mod, mod.enclosing_function(stmt),
                                                                mod.enclosing_class(stmt)))
                if known is not None and (not known.elsewhere or isinstance(known.value, EnumMember) or
                                          any(_is_switch(k) for k in known.deciding())):
                    known = None
            self._tests[id(stmt)] = known
        return self._tests[id(stmt)]


def _is_switch(known: Known) -> bool:
    """Decided by an on/off setting (a `store_true` option, a click flag, a `True`/`False` default): turning it is
    the user's choice, so what it disables is not a fault."""
    origin = known.origin
    if isinstance(origin, cst.Name) and origin.value in ("True", "False"):
        return True
    return isinstance(origin, cst.Call) and any(
        a.keyword is not None and (a.keyword.value == "action" and isinstance(a.value, cst.SimpleString) and
                                   a.value.evaluated_value in ("store_true", "store_false") or
                                   a.keyword.value == "is_flag") for a in origin.args)


def _constant_index(sub: cst.Subscript) -> int | str | None:
    """`x[1]` or `x["aux"]`: the element a subscript takes."""
    if len(sub.slice) == 1 and isinstance(sub.slice[0].slice, cst.Index):
        index = sub.slice[0].slice.value
        if isinstance(index, cst.Integer):
            return int(index.value)
        if isinstance(index, cst.SimpleString):
            return index.evaluated_value
    return None


def _reads(mod: ModuleAnalysis, name: cst.Name, fn: cst.FunctionDef | None) -> list[cst.Name]:
    """Loads of a name in its function (or the module's top level): every place that sees one of its values."""
    scope = fn.body if fn is not None else mod.tree
    found = []
    for node in walk(scope, cst.Name):
        if node.value != name.value or node is name or mod.is_written(node):
            continue
        parent = mod.parent(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node or \
                isinstance(parent, (cst.Arg, cst.Param)) and getattr(parent, "keyword", None) is node or \
                isinstance(parent, cst.Param) or _is_target(mod, node):
            continue
        found.append(node)
    return found


def _is_target(mod: ModuleAnalysis, node: cst.CSTNode) -> bool:
    """A name inside an unpacking target (`a, b = ...`, `for i, x in ...`)."""
    for parent in mod.ancestors(node):
        if isinstance(parent, cst.AssignTarget):
            return True
        if isinstance(parent, cst.For):
            return any(n is node for n in walk(parent.target, cst.Name))
        if isinstance(parent, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            return False
    return False
