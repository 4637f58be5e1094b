"""The loss-flow analysis: a directed graph of value nodes, built from the source alone.

Nodes are places a value lives (a variable in a scope, `self.<attr>` of a class, a
function's parameters and return value, the result of a call) and the objects created
in the file (parameterized layers, optimizers). An edge says "this value flows into
that one"; an edge that passes through `.detach()`, `.item()`, `torch.tensor(...)`, a
non-differentiable op or a no-grad block carries a ``Cut``. Alias edges (the same
object under another name) are marked, so the graph also answers "which module does
this name hold". The analysis is context-insensitive and flow-insensitive inside a
function: that over-approximates where values go, which only makes cut-only paths
rarer, so rules built on "reaches the loss only through cuts" stay quiet when unsure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import libcst as cst

from graphlint.engine import names, scopes
from graphlint.engine.digraph import DiGraph
from graphlint.engine.library import (ancestor_bases, entry_points, is_backward_helper, is_library_function,
                                     is_library_object)
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.returns import dict_keys, returns_of, string_key, tuple_arity
from graphlint.engine.tree import child_nodes
from graphlint.knowledge import Knowledge, bundled

Node = tuple


@dataclass(frozen=True)
class Cut:
    category: str
    node: cst.CSTNode  # where the cut happens (the call, the `with`, the decorator)
    module: ModuleAnalysis
    what: str  # e.g. "`feats.detach()`"


@dataclass(frozen=True)
class Value:
    """What an expression evaluates to: nodes it is (aliases) and nodes it is computed from."""

    alias: frozenset = frozenset()
    derive: frozenset = frozenset()
    elements: tuple["Value", ...] | None = None  # for tuple/list literals and tuple-returning calls
    fields: tuple[tuple[str, "Value"], ...] | None = None  # for dicts with string keys: {"logits": ..., "aux": ...}

    @property
    def nodes(self) -> frozenset:
        return self.alias | self.derive

    def __or__(self, other: "Value") -> "Value":
        return Value(self.alias | other.alias, self.derive | other.derive)

    def derived(self) -> "Value":
        return Value(derive=self.nodes)


EMPTY = Value()
# Knowledge tables whose calls cut their result out of the graph, and the kind of cut, checked in this order.
CUT_KINDS = (("cuts.detach", "detach"), ("cuts.scalar", "scalar-escape"), ("cuts.rewrap", "rewrap"),
             ("cuts.non-differentiable", "non-differentiable"))


def is_string(expr: cst.BaseExpression) -> bool:
    """A string literal, an f-string, or %-formatting / concatenation with a string literal."""
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return True
    return isinstance(expr, cst.BinaryOperation) and (
        isinstance(expr.operator, cst.Modulo) and is_string(expr.left) or
        isinstance(expr.operator, cst.Add) and (is_string(expr.left) or is_string(expr.right)))


def _contents(value: Value) -> Value:
    """The objects a value holds, without its tuple elements or dict fields."""
    return Value(value.alias, value.derive)


def union(values: Iterable[Value]) -> Value:
    out = EMPTY
    for v in values:
        out = out | v
    return out


@dataclass
class Sink:
    node: Node
    site: cst.CSTNode  # the backward()/grad() call or the returned loss
    module: ModuleAnalysis
    loss: cst.BaseExpression | None
    # `torch.autograd.grad(out, inputs)`: the tensors whose gradients it computes, and where that expression is read
    inputs: tuple[cst.BaseExpression, "Context"] | None = None


@dataclass
class Accumulation:
    """A value added into a running total or container: `total += x`, `outputs.append(x)`."""

    site: cst.CSTNode
    target: cst.BaseExpression
    value: "Value"
    ctx: "Context"
    added: tuple[tuple[cst.BaseExpression, "Value"], ...] = ()  # what is added (`x`, or each argument), as evaluated there


@dataclass
class OptimizerSite:
    call: cst.Call
    module: ModuleAnalysis
    function: cst.FunctionDef | None
    params: cst.BaseExpression | None


@dataclass
class Context:
    module: ModuleAnalysis
    function: cst.FunctionDef | None
    cls: ClassInfo | None
    no_grad: Cut | None = None
    # name -> the definitions of a local name that reach the current statement (flow-sensitive);
    # a name missing here is read through its summary node (every definition)
    env: dict = field(default_factory=dict)

    def with_no_grad(self, cut: Cut) -> "Context":
        return Context(self.module, self.function, self.cls, cut, self.env)

    @property
    def key(self) -> str:
        return function_key(self.module, self.function)


def function_key(module: ModuleAnalysis, fn: cst.FunctionDef | None) -> str:
    if fn is None:
        return f"{module.path}::<module>"
    return f"{module.path}::{fn.name.value}@{id(fn)}"


class FlowGraph:
    """Builds and holds the value graph of one file (and the project files it calls into)."""

    MAX_INFERENCE_DEPTH = 4

    def __init__(self, main: ModuleAnalysis, load_module: Callable[[str, ModuleAnalysis], ModuleAnalysis | None],
                 extra_sinks: tuple[str, ...] = (), knowledge: Knowledge | None = None) -> None:
        self.main = main
        self.knowledge = knowledge or bundled()
        self.load_module = load_module
        self.extra_sinks = extra_sinks
        self.graph = DiGraph()
        self.sinks: list[Sink] = []
        self.optimizers: list[OptimizerSite] = []
        self.parameter_calls: list[Value] = []  # receivers of `.parameters()`: those objects own parameters
        self.parameters_of: dict[int, Value] = {}  # id of a `.parameters()` call -> its receiver
        self.non_autograd_updates: list[Value] = []  # objects updated outside autograd (EMA / target nets)
        self.frozen: list[tuple[Value, cst.CSTNode, ModuleAnalysis]] = []
        self.accumulations: list[Accumulation] = []  # `total += x`, `outputs.append(x)`
        # function key -> the calls that entered it, as resolved (a module's forward from `model(x)`, `__call__`)
        self.entered: dict[str, list[tuple[cst.Call, Context]]] = {}
        self._done: set[str] = set()
        self._recorded: set[tuple] = set()
        self._call_sites: dict[str, list[tuple[cst.Call, Context]]] | None = None
        self._resolving: set[int] = set()  # calls whose callee is being looked up (a guard against cycles)

    # -- building ---------------------------------------------------------------------------
    def build(self) -> "FlowGraph":
        mod = self.main
        self._process_function(mod, None, None)
        for fn in mod.functions.values():
            self._process_function(mod, fn, None)
        for cls in mod.classes.values():
            for method in cls.methods.values():
                self._process_function(mod, method, cls)
        return self

    def _process_function(self, mod: ModuleAnalysis, fn: cst.FunctionDef | None, cls: ClassInfo | None,
                          inherited_no_grad: Cut | None = None) -> None:
        key = function_key(mod, fn)
        if key in self._done:
            return
        self._done.add(key)
        ctx = Context(mod, fn, cls, inherited_no_grad)
        if fn is None:
            body = [s for s in mod.tree.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
        else:
            ctx.no_grad = self._grad_off_by_caller(mod, fn, cls) or inherited_no_grad
            body = list(fn.body.body) if isinstance(fn.body, cst.IndentedBlock) else [fn.body]
            for param in _parameters(fn):
                node = self.define(param.name, ctx, "param")
                if param.default is not None:
                    self._flow(self.eval(param.default, ctx), node, ctx)
            for param in _star_parameters(fn):
                self.define(param.name, ctx, "param")
        self._block(body, ctx)
        if fn is not None and cls is not None and fn.name.value == "training_step" and any(
                b in names.LIGHTNING_BASES for b in cls.bases):
            for ret in returns_of(fn):
                if ret.value is not None:
                    self._add_sink(self.eval(ret.value, ctx), ret, mod, ret.value)

    def _grad_off_by_caller(self, mod: ModuleAnalysis, fn: cst.FunctionDef, cls: ClassInfo | None) -> Cut | None:
        """`@torch.no_grad()` on the function, or a hook its framework runs without grad (`validation_step`)."""
        for dec in fn.decorators:
            if self.knowledge.matches("grad-off.contexts", mod.qualified(dec.decorator)):
                return Cut("no-grad", dec, mod, f"`@{mod.code(dec.decorator)}` on `{fn.name.value}`")
        hooks = {f"{base}.{fn.name.value}" for base in ancestor_bases(cls)} if cls is not None else ()
        if hooks and self.knowledge.matches("grad-off.hooks", hooks):
            return Cut("no-grad", fn.name, mod, f"`{fn.name.value}` (its framework runs it without grad)")
        return None

    def _block(self, body: Iterable[cst.CSTNode], ctx: Context) -> None:
        for stmt in body:
            self._statement(stmt, ctx)

    def _statement(self, stmt: cst.CSTNode, ctx: Context) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._small(small, ctx)
        elif isinstance(stmt, cst.If):
            self.eval(stmt.test, ctx)
            before = dict(ctx.env)
            self._suite(stmt.body, ctx)
            after_body, ctx.env = ctx.env, dict(before)
            if stmt.orelse is not None:
                self._statement(stmt.orelse, ctx) if isinstance(stmt.orelse, cst.If) else self._suite(stmt.orelse.body, ctx)
            merged = _merge(after_body, ctx.env)
            ctx.env.clear()
            ctx.env.update(merged)
        elif isinstance(stmt, (cst.For, cst.While)):
            self._loop(stmt, ctx)
        elif isinstance(stmt, cst.With):
            inner = ctx
            for item in stmt.items:
                value = self.eval(item.item, ctx)
                if item.asname is not None:
                    self._assign(item.asname.name, value, ctx, stmt)
                cut = self._grad_off(item.item, ctx.module)
                if cut is not None:
                    inner = ctx.with_no_grad(cut)
            self._suite(stmt.body, inner)
        elif isinstance(stmt, cst.Try):
            before = dict(ctx.env)
            self._suite(stmt.body, ctx)
            for handler in stmt.handlers:
                ctx.env.update(_merge(before, ctx.env))
                self._suite(handler.body, ctx)
            for part in (stmt.orelse, stmt.finalbody):
                if part is not None:
                    self._suite(part.body, ctx)
        elif isinstance(stmt, cst.FunctionDef):
            self._process_function(ctx.module, stmt, ctx.cls if ctx.function is None else None, ctx.no_grad)
        elif isinstance(stmt, cst.ClassDef):
            return

    def _loop(self, stmt: cst.For | cst.While, ctx: Context) -> None:
        """Run the body twice so that values from the end of one iteration reach the start of the next."""
        entry = dict(ctx.env)
        for _ in range(2):
            if isinstance(stmt, cst.For):
                self._assign(stmt.target, self._iteration(stmt.target, stmt.iter, ctx), ctx, stmt)
            else:
                self.eval(stmt.test, ctx)
            self._suite(stmt.body, ctx)
            merged = _merge(entry, ctx.env)
            ctx.env.clear()
            ctx.env.update(merged)
        if stmt.orelse:
            self._suite(stmt.orelse.body, ctx)

    def _iteration(self, target: cst.BaseExpression, iterable: cst.BaseExpression, ctx: Context) -> Value:
        """What one iteration of `for target in iterable` binds: in `for k, v in d.items()` and `for i, x in
        enumerate(xs)` the second name is what the container holds, the first a key or a count; in
        `for x, y in zip(xs, ys)` each name what its container holds."""
        value = self.eval(iterable, ctx)
        if _pairs(target, iterable, ctx.module):
            return Value(value.alias, value.derive, (EMPTY, _contents(value)))
        if isinstance(target, (cst.Tuple, cst.List)) and isinstance(iterable, cst.Call) and \
                "builtins.zip" in ctx.module.qualified(iterable) and len(iterable.args) == len(target.elements) and \
                not any(a.star or a.keyword for a in iterable.args):  # `for x, y in zip(xs, ys)`: what each holds
            return Value(value.alias, value.derive, tuple(_contents(self.eval(a.value, ctx)) for a in iterable.args))
        return value

    def _suite(self, suite: cst.BaseSuite, ctx: Context) -> None:
        self._block(suite.body if isinstance(suite, cst.IndentedBlock) else [suite], ctx)

    def _grad_off(self, expr: cst.BaseExpression, mod: ModuleAnalysis) -> Cut | None:
        if self.knowledge.matches("grad-off.contexts", mod.qualified(expr)) and not \
                (isinstance(expr, cst.Call) and expr.args and _is_false(expr.args[0].value)):  # inference_mode(False)
            return Cut("no-grad", expr, mod, f"`with {mod.code(expr)}`")
        if isinstance(expr, cst.Call) and self.knowledge.matches("grad-off.switches", mod.qualified(expr)) and expr.args and \
                isinstance(expr.args[0].value, cst.Name) and expr.args[0].value.value == "False":
            return Cut("no-grad", expr, mod, f"`with {mod.code(expr)}`")
        return None

    def _small(self, small: cst.CSTNode, ctx: Context) -> None:
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, ctx)
            added = _added_terms(small.targets[0].target, small.value) if len(small.targets) == 1 else []
            if added:  # `ema = beta * ema + (1 - beta) * loss`: a running value carried from one pass to the next
                terms = tuple((term, self.eval(term, ctx)) for term in added)
                self._record("accumulation", small, lambda: self.accumulations.append(
                    Accumulation(small, small.targets[0].target, value, ctx, terms)))
            for target in small.targets:
                self._assign(target.target, value, ctx, small)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._assign(small.target, self.eval(small.value, ctx), ctx, small)
        elif isinstance(small, cst.AugAssign):
            value = self.eval(small.value, ctx)
            self._record("accumulation", small, lambda: self.accumulations.append(
                Accumulation(small, small.target, value, ctx, ((small.value, value),))))
            old = self.eval(small.target, ctx) if isinstance(small.target, cst.Name) else EMPTY
            self._assign(small.target, (value | old).derived(), ctx, small)
        elif isinstance(small, cst.Expr):
            self.eval(small.value, ctx)
            if isinstance(small.value, cst.Call) and self.knowledge.matches("grad-off.switches", ctx.module.qualified(small.value)):
                ctx.no_grad = self._grad_off(small.value, ctx.module)  # `torch.set_grad_enabled(False)` from here on
        elif isinstance(small, cst.Return) and small.value is not None and ctx.function is not None:
            value = self.eval(small.value, ctx)
            self._flow(value, ("ret", ctx.key), ctx)
            for name, field_value in value.fields or ():
                self._flow(field_value, ("ret", ctx.key, f"[{name!r}]"), ctx)
            if value.elements is not None:
                for i, el in enumerate(value.elements):
                    self._flow(el, ("ret", ctx.key, i), ctx)

    def _record(self, kind: str, site: cst.CSTNode, action) -> None:
        """Run a bookkeeping action once per site (loop bodies are walked twice)."""
        if (kind, id(site)) not in self._recorded:
            self._recorded.add((kind, id(site)))
            action()

    # -- assignment -------------------------------------------------------------------------
    def _assign(self, target: cst.BaseExpression, value: Value, ctx: Context, stmt: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            node = self.define(target, ctx, stmt)
            self._flow(value, node, ctx)
            for name, field_value in value.fields or ():
                field = node + (f"[{name!r}]",)
                self.graph.add_node(field, label=f"{target.value}[{name!r}]")
                self._flow(field_value, field, ctx)
        elif isinstance(target, cst.Attribute):
            if not self.knowledge.matches("attributes.metadata", (), target.attr.value):  # `p.grad = g` does not make g part of p's value
                for node in self.attribute_nodes(target, ctx, for_write=True):
                    self._flow(value, node, ctx)
            if target.attr.value == "requires_grad":
                if isinstance(stmt, cst.Assign) and self.always_false(stmt.value, ctx):
                    frozen = (self.eval(target.value, ctx), stmt, ctx.module)
                    self._record("frozen", stmt, lambda: self.frozen.append(frozen))
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = value.elements if value.elements is not None and len(value.elements) == len(target.elements) else None
            for i, el in enumerate(target.elements):
                self._assign(el.value, elements[i] if elements else self._part(value, stmt, i, ctx), ctx, stmt)
        elif isinstance(target, cst.Subscript):
            for node in self.eval(target.value, ctx).nodes:
                self._flow(value, node, ctx)
        elif isinstance(target, cst.StarredElement):
            self._assign(target.value, value, ctx, stmt)

    def _part(self, value: Value, stmt: cst.CSTNode, index: int, ctx: Context) -> Value:
        """One element of a value whose shape is unknown (`loss, n = model.forward_loss(batch)`): it holds
        something of that value, not necessarily computed from it (`n` may be a count)."""
        node = ("part", id(stmt), index)
        self.graph.add_node(node, label=f"element {index}")
        self._flow(value.derived(), node, ctx, held=True)
        return Value(alias=frozenset({node}))

    def always(self, expr: cst.BaseExpression, ctx: Context, test: Callable[[cst.BaseExpression], bool],
               names_deep: int = 3) -> bool:
        """``test`` holds for the expression or, for a name, for every value it is ever given (assignments,
        arguments at the call sites), following at most ``names_deep`` names."""
        if test(expr):
            return True
        if isinstance(expr, cst.Name) and names_deep > 0:
            values = list(self.assigned_values(expr, ctx))
            return bool(values) and all(self.always(v, c, test, names_deep - 1) for v, c in values)
        return False

    def always_false(self, expr: cst.BaseExpression, ctx: Context) -> bool:
        """`False`, or a name (a helper's `requires_grad` parameter) that is only ever given False."""
        return self.always(expr, ctx, _is_false)

    def var_node(self, name: cst.Name, ctx: Context) -> Node:
        """The summary node of a name: every definition of it flows here (for reads from other scopes)."""
        scope = ctx.module.scopes.lookup(name)
        node = ("var", id(scope) if scope is not None else ctx.key, name.value)
        if node not in self.graph:
            self.graph.add_node(node, label=name.value)
        return node

    def define(self, name: cst.Name, ctx: Context, site: cst.CSTNode | str) -> Node:
        """A new definition of a name at ``site``; later reads in the same function see only it."""
        summary = self.var_node(name, ctx)
        node = summary + (site if isinstance(site, str) else id(site),)
        if node not in self.graph:
            self.graph.add_node(node, label=name.value, defined_at=None if isinstance(site, str) else site,
                                module=ctx.module)
            self._edge(node, summary, alias=True, cut=None)
        if self._is_local(name, ctx):
            ctx.env[name.value] = frozenset({node})
        return node

    def read(self, name: cst.Name, ctx: Context) -> frozenset:
        if self._is_local(name, ctx) and name.value in ctx.env:
            return ctx.env[name.value]
        return frozenset({self.var_node(name, ctx)})

    def _is_local(self, name: cst.Name, ctx: Context) -> bool:
        """A name of the function being walked (or of the module's top level), whose order we follow."""
        scope = ctx.module.scopes.lookup(name) or ctx.module.scopes.scope_of(name)
        if scope is None:
            return False
        if ctx.function is None:
            return scope.kind == scopes.MODULE
        return scope.kind == scopes.FUNCTION and scope.node is ctx.function

    def label(self, node: Node) -> str:
        """How a message names a node; a call's source text is rendered only when a message asks."""
        data = self.graph.nodes[node]
        if "label" in data:
            return data["label"]
        return data["module"].code(data["site"]) if "site" in data else "?"

    def versions(self, summary: Node) -> set[Node]:
        """Every definition of a name, given its summary node."""
        return {p for p in self.graph.predecessors(summary) if len(p) == 4 and p[:3] == summary} | {summary}

    def _flow(self, value: Value, target: Node, ctx: Context, cut: Cut | None = None, held: bool = False) -> None:
        """Add edges from a value into a node; in a no-grad context, computed values are cut. ``held``: the
        node may hold the derived values' objects rather than be computed from them."""
        derive_cut = cut or ctx.no_grad
        for src in value.alias:
            if src != target:
                self._edge(src, target, alias=cut is None, cut=cut)
        for src in value.derive:
            if src != target:
                self._edge(src, target, alias=False, cut=derive_cut, held=held)

    def _edge(self, src: Node, dst: Node, alias: bool, cut: Cut | None, held: bool = False) -> None:
        """``alias``: dst is the same object as src. ``held``: dst may hold src rather than be computed from it
        (`model.state_dict()`, `strategy.setup(model)`). Neither: dst is computed from src."""
        data = self.graph.get_edge_data(src, dst)
        if data is not None:
            # keep the strongest claim: a clean edge beats a cut one, an alias edge beats a derived one
            if data["cut"] is not None and cut is None:
                data["cut"] = None
            data["alias"] = data["alias"] or alias
            data["held"] = data["held"] and held
            return
        self.graph.add_edge(src, dst, alias=alias, cut=cut, held=held)

    # -- expressions ------------------------------------------------------------------------
    def eval(self, expr: cst.BaseExpression, ctx: Context) -> Value:
        handler = getattr(self, f"_eval_{type(expr).__name__}", None)
        if handler is not None:
            return handler(expr, ctx)
        return union(self.eval(child, ctx) for child in child_nodes(expr) if isinstance(child, cst.BaseExpression)).derived()

    def _eval_Name(self, expr: cst.Name, ctx: Context) -> Value:
        if expr.value in ("True", "False", "None"):
            return EMPTY
        return Value(alias=self.read(expr, ctx))

    def _eval_Integer(self, expr, ctx) -> Value:
        return EMPTY

    _eval_Float = _eval_SimpleString = _eval_ConcatenatedString = _eval_FormattedString = _eval_Integer
    _eval_Imaginary = _eval_Lambda = _eval_Integer

    def _eval_Attribute(self, expr: cst.Attribute, ctx: Context) -> Value:
        if expr.attr.value == "data":
            return self._cut(self.eval(expr.value, ctx), Cut("detach", expr, ctx.module, f"`{ctx.module.code(expr)}`"), ctx)
        if self.knowledge.matches("attributes.metadata", (), expr.attr.value):
            return EMPTY  # gradients and metadata (shape, dtype, device) are not values on the graph
        return Value(alias=frozenset(self.attribute_nodes(expr, ctx)))

    def attribute_nodes(self, expr: cst.Attribute, ctx: Context, for_write: bool = False) -> list[Node]:
        owner = self.class_of(expr.value, ctx)
        if owner is not None:
            node = ("attr", owner.key, expr.attr.value)
            if node not in self.graph:
                self.graph.add_node(node, label=f"{owner.node.name.value}.{expr.attr.value}")
            return [node]
        return list(self.eval(expr.value, ctx).nodes)

    def _eval_Tuple(self, expr, ctx) -> Value:
        elements = tuple(self.eval(el.value, ctx) for el in expr.elements)
        whole = union(elements)
        return Value(whole.alias, whole.derive, elements)

    _eval_List = _eval_Tuple

    def _eval_Dict(self, expr: cst.Dict, ctx) -> Value:
        values = [self.eval(el.value, ctx) for el in expr.elements]
        whole = union(values)
        keys = [string_key(el) for el in expr.elements]
        if values and all(k is not None for k in keys):
            return Value(whole.alias, whole.derive, fields=tuple(zip(keys, values)))
        return whole

    def _eval_Subscript(self, expr: cst.Subscript, ctx) -> Value:
        for el in expr.slice:
            self.eval(el.slice.value, ctx) if isinstance(el.slice, cst.Index) else None
        base = self.eval(expr.value, ctx).nodes
        key = expr.slice[0].slice.value if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) else None
        if isinstance(key, cst.SimpleString):  # out["logits"]: only that entry, when we know the dict's entries
            field = f"[{key.evaluated_value!r}]"
            base = frozenset(n + (field,) if n + (field,) in self.graph else n for n in base)
        return Value(alias=base)

    def _eval_Comparison(self, expr: cst.Comparison, ctx) -> Value:
        operands = self.eval(expr.left, ctx) | union(self.eval(c.comparator, ctx) for c in expr.comparisons)
        return self._cut(operands, Cut("non-differentiable", expr, ctx.module, f"the comparison `{ctx.module.code(expr)}`"), ctx)

    def _eval_BinaryOperation(self, expr: cst.BinaryOperation, ctx) -> Value:
        operands = self.eval(expr.left, ctx) | self.eval(expr.right, ctx)
        if isinstance(expr.operator, cst.Add) and any(isinstance(side, (cst.List, cst.Tuple, cst.ListComp))
                                                      for side in (expr.left, expr.right)):
            return _contents(operands)  # `tokens + [eos_id]`: a list joined to a list holds the same objects
        return EMPTY if is_string(expr) else operands.derived()  # "%.3f" % loss is text

    def _eval_IfExp(self, expr: cst.IfExp, ctx) -> Value:
        self.eval(expr.test, ctx)
        return self.eval(expr.body, ctx) | self.eval(expr.orelse, ctx)

    def _eval_BooleanOperation(self, expr, ctx) -> Value:
        return self.eval(expr.left, ctx) | self.eval(expr.right, ctx)

    def _eval_comprehension(self, expr, ctx) -> Value:
        comp = expr.for_in
        while comp is not None:
            self._assign(comp.target, self._iteration(comp.target, comp.iter, ctx), ctx, expr)
            for cond in comp.ifs:
                self.eval(cond.test, ctx)
            comp = comp.inner_for_in
        # a new container of the element values: the same objects, nothing computed
        if isinstance(expr, cst.DictComp):
            return _contents(self.eval(expr.value, ctx))
        return _contents(self.eval(expr.elt, ctx))

    _eval_ListComp = _eval_GeneratorExp = _eval_SetComp = _eval_DictComp = _eval_comprehension

    def _cut(self, value: Value, cut: Cut, ctx: Context) -> Value:
        if not value.nodes:
            return EMPTY
        node = ("cut", id(cut.node), cut.category)
        self.graph.add_node(node, label=cut.what)
        self._flow(value, node, ctx, cut=cut)
        return Value(derive=frozenset({node}))

    def _call_node(self, call: cst.Call, ctx: Context, value: Value, kind: str = "call", held: Value = EMPTY,
                   **attrs) -> Value:
        """A call's result, computed from ``value`` and perhaps holding the objects in ``held``."""
        node = ("call", id(call))
        self.graph.add_node(node, kind=kind, site=call, module=ctx.module, **attrs)
        self._flow(value.derived(), node, ctx)
        self._flow(held.derived(), node, ctx, held=True)
        return Value(alias=frozenset({node}))

    def _eval_Call(self, call: cst.Call, ctx: Context) -> Value:
        mod, kb, func = ctx.module, self.knowledge, call.func
        qualified = entry_points(self, call, ctx)
        args = [self.eval(a.value, ctx) for a in call.args]
        all_args = union(args)
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver = self.eval(func.value, ctx) if isinstance(func, cst.Attribute) else EMPTY

        # gradient sinks
        if kb.matches("gradients.sinks", (), method):
            if call.args and is_backward_helper(func.value, mod):
                loss_value, loss_expr = args[0], call.args[0].value
            else:
                loss_value, loss_expr = receiver, func.value
            self._add_sink(loss_value, call, mod, loss_expr)
            return EMPTY
        if kb.matches("gradients.sinks", qualified) and args:
            self._add_sink(args[0], call, mod, call.args[0].value, _inputs_argument(call, ctx))
            return self._call_node(call, ctx, EMPTY)
        if method and any(method == s.lstrip(".") for s in self.extra_sinks if s.startswith(".")) or \
                qualified & {s for s in self.extra_sinks if not s.startswith(".")}:
            if args:
                self._add_sink(args[0], call, mod, call.args[0].value)
            return EMPTY

        # cuts, and results that are never values on the graph
        if kb.matches("returns.fresh", qualified):  # torch.zeros_like(x), torch.randn(3): a tensor with no history
            return self._call_node(call, ctx, EMPTY, kind="tensor")
        if kb.matches("returns.non-tensor", qualified, method) or isinstance(func, cst.Attribute) and is_string(func.value):
            return EMPTY  # x.size(), len(xs), m.register_forward_hook(f), ", ".join(names)
        cut = next((c for key, c in CUT_KINDS if kb.matches(key, qualified, method)), None)
        if cut == "rewrap" or kb.matches("cuts.rewrap-lists", qualified) and call.args and \
                isinstance(call.args[0].value, (cst.List, cst.ListComp, cst.Tuple)):
            return self._cut(all_args, Cut("rewrap", call, mod, f"`{mod.code(call)}`"), ctx)
        if cut is not None:
            return self._cut(receiver if cut == "detach" else receiver | all_args, Cut(cut, call, mod, f"`{mod.code(call)}`"), ctx)
        if kb.matches("grad-off.calls", qualified) or kb.matches("grad-off.calls", (), method) and \
                self.definition(func, ctx) is None and self.resolve_call(call, ctx) is None:
            # a pipeline's __call__, `model.generate()` of a library model: no graph comes out
            value = self._call_node(call, ctx, self.eval(func, ctx), held=all_args)
            return self._cut(value, Cut("no-grad", call, mod, f"`{mod.code(call)}` (it runs without grad)"), ctx)
        if method == "requires_grad_" and call.args and self.always_false(call.args[0].value, ctx):
            self._record("frozen", call, lambda: self.frozen.append((receiver, call, mod)))
        if method in ("parameters", "named_parameters"):
            if isinstance(func.value, cst.Name) and func.value.value == "self" and ctx.cls is not None:
                receiver = Value(alias=frozenset({("class", ctx.cls.key)}))
            self.parameter_calls.append(receiver)
            self.parameters_of[id(call)] = receiver
            if ctx.no_grad is not None:
                self.non_autograd_updates.append(receiver)
        if kb.matches("updates.load", (), method) or (method == "mul_" and ctx.no_grad is not None):
            self.non_autograd_updates.append(receiver)

        # objects created here
        if kb.matches("modules.parameters", qualified):  # a leaf, whatever its initial values came from
            value = self._call_node(call, ctx, EMPTY, kind="owner", leaf=True)
            if any(a.keyword and a.keyword.value == "requires_grad" and self.always_false(a.value, ctx) for a in call.args):
                self._record("frozen", call, lambda: self.frozen.append((value, call, mod)))
            return value
        if kb.matches("modules.parameterized", qualified) or \
                any(q.startswith("torch.nn.") and q.endswith(".from_pretrained") for q in qualified):
            return self._call_node(call, ctx, all_args, kind="owner")
        if any(names.is_optimizer(q) for q in qualified):
            self._record("optimizer", call, lambda: self.optimizers.append(
                OptimizerSite(call, mod, ctx.function, _argument(call, 0, "params"))))
            return self._call_node(call, ctx, EMPTY, kind="optimizer")
        if kb.matches("returns.arguments", qualified) and args:  # accelerator.prepare(model, opt, loader)
            return _contents(args[0]) if len(args) == 1 else \
                Value(all_args.alias, all_args.derive, tuple(_contents(a) for a in args))
        if kb.matches("returns.same-object", qualified) and args:  # torch.compile(model), DDP(model)
            return _contents(args[0])
        if kb.matches("returns.regrouped", qualified):  # list(xs), tuple(g), zip(a, b): the same objects, regrouped
            return _contents(all_args)
        if kb.matches("returns.regrouped", (), method):  # masks.values(), groups.pop(): what the container holds
            return _contents(receiver | all_args)
        if kb.matches("returns.copy", qualified):  # separate parameters: no gradient flows back to the original
            return self._call_node(call, ctx, EMPTY, copy=True)
        if kb.matches("returns.same-object", (), method):  # model.to(device), model.train()
            return _contents(receiver)
        if kb.matches("returns.computed", qualified, method):  # sum(losses), loss.clone(): history kept
            return self._call_node(call, ctx, receiver | all_args)

        # calls into code we can read
        found = self.definition(func, ctx)
        if isinstance(found, ClassInfo):
            return self._construct(call, ctx, args, found)
        target = self.resolve_call(call, ctx)
        if target is not None:
            return self._enter(call, ctx, args, *target)

        # a container mutated with a value: that value now lives in the container
        if method in ("append", "extend", "insert", "add", "update", "setdefault", "put", "appendleft"):
            if method in ("append", "extend", "insert", "appendleft"):  # list-like: it keeps what it is given
                self._record("accumulation", call, lambda: self.accumulations.append(
                    Accumulation(call, func.value, all_args, ctx, tuple((a.value, v) for a, v in zip(call.args, args)))))
            for node in receiver.nodes:
                self._flow(all_args, node, ctx)
            return EMPTY
        if kb.matches("updates.in-place", (), method):  # h.add_(y): y's history is now part of h
            for node in receiver.nodes:
                self._flow(all_args, node, ctx)
        if kb.matches("returns.parts", qualified, method):  # parts of the object, not computed from it
            return self._call_node(call, ctx, EMPTY, held=receiver | all_args)
        # anything else is opaque: its result is computed from the callee (a layer's weights) and what went in;
        # an object handed to a call that is not torch's (`strategy.setup(model)`) may come back wrapped, not computed
        callee = self.eval(func, ctx)
        if any(q.startswith("torch.") for q in qualified):
            return self._call_node(call, ctx, callee | all_args, loss_term=kb.matches("gradients.loss-terms", qualified))
        return self._call_node(call, ctx, callee, held=all_args, library_function=is_library_function(self, func, ctx),
                               taken_from_a_container=self._loop_variable(func, ctx) and callee,
                               library_object=is_library_object(self, func, ctx))

    def _unpacked_values(self, element: cst.Element, ctx: Context):
        """For `a, b = x, y`: `y` for `b`; for `model, opt = build(...)`: what `build` returns in that position."""
        found = _unpacking(ctx.module, element)
        if found is None:
            return
        target, stmt = found
        value = _element_at(stmt.value, target, element)
        if value is not None:
            yield value, ctx
            return
        callee = self.callee(stmt.value, ctx) if isinstance(stmt.value, cst.Call) else None
        if callee is not None:
            fmod, fn, cls, _ = callee
            for ret in returns_of(fn):
                value = _element_at(ret.value, target, element)
                if value is not None:
                    yield value, Context(fmod, fn, cls)

    def _add_sink(self, value: Value, site: cst.CSTNode, mod: ModuleAnalysis, loss: cst.BaseExpression | None,
                  inputs: tuple[cst.BaseExpression, Context] | None = None) -> None:
        node = ("sink", id(site))
        self.graph.add_node(node, label="loss")
        for src in value.nodes:
            self._edge(src, node, alias=False, cut=None)
        self._record("sink", site, lambda: self.sinks.append(Sink(node, site, mod, loss, inputs)))

    def _enter(self, call: cst.Call, ctx: Context, args: list[Value], mod: ModuleAnalysis,
               fn: cst.FunctionDef, cls: ClassInfo | None, bound: Value | None, result: bool = True) -> Value:
        """Flow arguments into a function we can read and its return value out of it."""
        self._process_function(mod, fn, cls)
        key = function_key(mod, fn)
        fn_ctx = Context(mod, fn, cls)
        params = {p.name.value: self.var_node(p.name, fn_ctx) + ("param",) for p in _parameters(fn)}
        positional = [p.name.value for p in fn.params.posonly_params] + [p.name.value for p in fn.params.params]
        if bound is not None and positional:
            self._flow(bound, params[positional[0]], ctx)
            positional = positional[1:]
        star_arg, star_kwarg = (self.var_node(p.name, fn_ctx) + ("param",) if p is not None else None
                                for p in _star_parameters(fn, separately=True))
        self._record("entered", call, lambda: self.entered.setdefault(key, []).append((call, ctx)))
        for i, arg in enumerate(call.args):
            if arg.keyword is not None:
                name = arg.keyword.value
            elif arg.star:
                continue
            elif i < len(positional):
                name = positional[i]
            else:  # gathered by `*args`: its elements are what was passed
                if star_arg is not None:
                    self._flow(args[i], star_arg, ctx)
                continue
            if name in params:
                self._flow(args[i], params[name], ctx)
            elif star_kwarg is not None:  # gathered by `**kwargs`: its values are what was passed
                self._flow(args[i], star_kwarg, ctx)
        if not result:
            return EMPTY
        result = self._call_node(call, ctx, EMPTY)
        self._edge(("ret", key), next(iter(result.alias)), alias=True, cut=ctx.no_grad)
        arity = tuple_arity(fn)
        if arity:
            return Value(result.alias, elements=tuple(Value(alias=frozenset({("ret", key, i)})) for i in range(arity)))
        keys = dict_keys(fn)
        if keys:
            return Value(result.alias, fields=tuple((k, Value(alias=frozenset({("ret", key, f"[{k!r}]")}))) for k in keys))
        return result

    # -- resolving what a call or a name refers to ------------------------------------------
    def resolve_call(self, call: cst.Call, ctx: Context):
        """(module, function, class, bound receiver) for calls into code in the analysed files."""
        found = self.callee(call, ctx)
        if found is None:
            return None
        mod, fn, cls, receiver = found
        return mod, fn, cls, self.eval(receiver, ctx) if receiver is not None else None

    def callee(self, call: cst.Call, ctx: Context):
        """(module, function, class, receiver expression) of the function a call runs, when the analysed files
        define it: a method (receiver `obj` in `obj.m()`), a function, or a module instance's forward."""
        if id(call) in self._resolving:  # `a, b = a.f()`: asking what `a` is leads back here
            return None
        self._resolving.add(id(call))
        try:
            func = call.func
            if isinstance(func, cst.Attribute):
                if isinstance(func.value, cst.Name) and func.value.value == "super":
                    return None
                owner = self.class_of(func.value, ctx)
                if owner is not None:
                    method = owner.module.class_method(owner, func.attr.value)
                    if method is not None:
                        return owner.module, method, owner, func.value
            found = self.definition(func, ctx)
            if isinstance(found, tuple) and isinstance(found[1], cst.FunctionDef):
                return found[0], found[1], None, None
            owner = self.class_of(func, ctx)  # calling an instance runs a module's forward, another class's __call__
            if owner is not None:
                names_run = ("forward",) if owner.node.name.value in owner.module.module_classes else ("__call__", "forward")
                run = next(filter(None, (owner.module.class_method(owner, n) for n in names_run)), None)
                if run is not None:
                    return owner.module, run, owner, func
            return None
        finally:
            self._resolving.discard(id(call))

    def _construct(self, call: cst.Call, ctx: Context, args: list[Value], cls: ClassInfo) -> Value:
        """`Net(...)`: a new instance of a class we can read; its arguments flow into `__init__`."""
        node = ("call", id(call))
        self.graph.add_node(node, kind="instance", cls=cls, site=call, module=ctx.module)
        instance = Value(alias=frozenset({node}))
        init = cls.module.class_method(cls, "__init__")
        if init is not None:
            self._enter(call, ctx, args, cls.module, init, cls, instance, result=False)
        return instance

    def definition(self, expr: cst.BaseExpression, ctx: Context):
        """The class (ClassInfo) or (module, FunctionDef) a name refers to, across the project's files."""
        mod = ctx.module
        if isinstance(expr, cst.Name):
            for binding in mod.scopes.bindings(expr):
                if isinstance(binding.node, cst.FunctionDef):
                    return mod, binding.node
                if isinstance(binding.node, cst.ClassDef):
                    return mod.classes.get(binding.node.name.value)
        for q in mod.qualified(expr):
            if "." not in q:
                continue
            module_name, _, attr = q.rpartition(".")
            other = self.load_module(module_name, mod)
            if other is None:
                continue
            if attr in other.classes:
                return other.classes[attr]
            if attr in other.functions:
                return other, other.functions[attr]
        return None

    def class_of(self, expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> ClassInfo | None:
        """The class defined in the analysed files that an expression's object is an instance of."""
        if depth > self.MAX_INFERENCE_DEPTH:
            return None
        mod = ctx.module
        if isinstance(expr, cst.Name):
            if expr.value == "self" and ctx.cls is not None:
                return ctx.cls
            for value, vctx in self.assigned_values(expr, ctx):
                found = self.class_of(value, vctx, depth + 1)
                if found is not None:
                    return found
            return self._loop_variable_class(expr, ctx, depth)
        if isinstance(expr, cst.Subscript):  # `self.meters[name]`: an element of a container
            return self.element_class(expr.value, ctx, depth + 1)
        if isinstance(expr, cst.Attribute):
            if self.knowledge.matches("returns.same-object", (), expr.attr.value):
                return None
            owner = self.class_of(expr.value, ctx, depth + 1)
            if owner is None:
                return None
            for value, method in owner.attr_values.get(expr.attr.value, ()):
                found = self.class_of(value, Context(owner.module, method, owner), depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute) and self.knowledge.matches("returns.same-object", (), func.attr.value):
                return self.class_of(func.value, ctx, depth + 1)
            if (self.knowledge.matches("returns.same-object", mod.qualified(expr)) or
                    self.knowledge.matches("returns.copy", mod.qualified(expr))) and expr.args:
                return self.class_of(expr.args[0].value, ctx, depth + 1)
            found = self.definition(func, ctx)
            if isinstance(found, ClassInfo):
                return found
            if isinstance(found, tuple):
                fmod, fn = found
                fctx = Context(fmod, fn, None)
                for ret in returns_of(fn):
                    if ret.value is not None:
                        cls = self.class_of(ret.value, fctx, depth + 1)
                        if cls is not None:
                            return cls
        return None

    def element_class(self, expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> ClassInfo | None:
        """The class (defined in the analysed files) of what a container holds: `[Meter(), Meter()]`,
        `{"loss": Meter()}`, `defaultdict(Meter)`, a name or `self.<attr>` bound to one, or a parameter given one."""
        if depth > self.MAX_INFERENCE_DEPTH:
            return None
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set, cst.Dict)):
            items = [el.value for el in expr.elements if isinstance(el, (cst.Element, cst.DictElement))]
            return next(filter(None, (self.class_of(item, ctx, depth + 1) for item in items)), None)
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            return self.class_of(expr.elt, ctx, depth + 1)
        if isinstance(expr, cst.DictComp):
            return self.class_of(expr.value, ctx, depth + 1)
        if isinstance(expr, cst.Name):
            return next(filter(None, (self.element_class(v, c, depth + 1) for v, c in self.assigned_values(expr, ctx))), None)
        if isinstance(expr, cst.Attribute):
            owner = self.class_of(expr.value, ctx, depth + 1)
            if owner is None:
                return None
            return next(filter(None, (self.element_class(v, Context(owner.module, m, owner), depth + 1)
                                      for v, m in owner.attr_values.get(expr.attr.value, ()))), None)
        if isinstance(expr, cst.Call) and expr.args:
            qualified = ctx.module.qualified(expr)
            first = expr.args[0].value
            if "collections.defaultdict" in qualified:  # defaultdict(Meter), defaultdict(lambda: Meter())
                factory = first.body if isinstance(first, cst.Lambda) else first
                found = self.definition(factory, ctx) if not isinstance(first, cst.Lambda) else None
                return found if isinstance(found, ClassInfo) else self.class_of(factory, ctx, depth + 1) \
                    if isinstance(first, cst.Lambda) else None
            if self.knowledge.matches("returns.regrouped", qualified) or \
                    self.knowledge.matches("modules.containers", qualified):  # list(meters), nn.ModuleList(blocks)
                return self.element_class(first, ctx, depth + 1)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                expr.func.attr.value == "values" and not expr.args:  # meters.values()
            return self.element_class(expr.func.value, ctx, depth + 1)
        return None

    def _loop_variable(self, expr: cst.BaseExpression, ctx: Context) -> bool:
        """A name bound only as the target of `for` loops (`for name, fn in metrics.items()`)."""
        mod = ctx.module
        bindings = mod.scopes.bindings(expr) if isinstance(expr, cst.Name) else []
        return bool(bindings) and all(isinstance(b.node, cst.Name) and any(
            isinstance(a, cst.For) and any(n is b.node for n in _target_names(a.target))
            for a in mod.ancestors(b.node)) for b in bindings)

    def _loop_variable_class(self, name: cst.Name, ctx: Context, depth: int) -> ClassInfo | None:
        """For the name a `for` loop binds: the class of the elements it goes over (`for cb in self.callbacks`,
        `for name, meter in meters.items()`)."""
        mod = ctx.module
        for binding in mod.scopes.bindings(name):
            node, loop = binding.node, mod.parent(binding.node)
            if isinstance(loop, cst.For) and loop.target is node:
                found = self.element_class(loop.iter, ctx, depth + 1)
            elif isinstance(loop, cst.Element) and isinstance(mod.parent(loop), cst.Tuple) and \
                    isinstance(mod.parent(mod.parent(loop)), cst.For):
                target, loop = mod.parent(loop), mod.parent(mod.parent(loop))
                found = self.element_class(_pair_container(loop.iter), ctx, depth + 1) \
                    if loop.target is target and _pairs(target, loop.iter, mod) and target.elements[1].value is node \
                    else None
            else:
                continue
            if found is not None:
                return found
        return None

    def assigned_values(self, name: cst.Name, ctx: Context):
        """Expressions assigned to a name in its scope, or passed for it when it is a parameter."""
        mod = ctx.module
        for binding in mod.scopes.bindings(name):
            node = binding.node
            parent = mod.parent(node)
            if isinstance(parent, cst.Element):
                yield from self._unpacked_values(parent, ctx)
            elif isinstance(parent, cst.AssignTarget):
                stmt = mod.parent(parent)
                if isinstance(stmt, cst.Assign) and parent.target is node:
                    yield stmt.value, ctx
            elif isinstance(parent, cst.AnnAssign) and parent.value is not None and parent.target is node:
                yield parent.value, ctx
            elif isinstance(parent, cst.AsName) and isinstance(mod.parent(parent), cst.WithItem):
                yield mod.parent(parent).item, ctx
            elif isinstance(parent, cst.Param) or isinstance(node, cst.Param):
                param = node if isinstance(node, cst.Param) else parent
                if param.default is not None:
                    yield param.default, ctx
                owner = next((a for a in mod.ancestors(param) if isinstance(a, (cst.FunctionDef, cst.Lambda))), None)
                if not isinstance(owner, cst.FunctionDef):
                    continue
                positional = [p.name.value for p in (*owner.params.posonly_params, *owner.params.params)]
                index = positional.index(name.value) if name.value in positional else -1
                if index >= 0 and mod.enclosing_class(owner) is not None and \
                        isinstance(mod.parent(mod.parent(owner)), cst.ClassDef):
                    index -= 1  # called as obj.method(...): `self` is not among the arguments
                for call, cctx in self.call_sites(mod, owner):
                    arg = _argument(call, index, name.value)
                    if arg is not None:
                        yield arg, cctx

    def call_sites(self, mod: ModuleAnalysis, fn: cst.FunctionDef) -> list[tuple[cst.Call, Context]]:
        """Calls `fn(...)` / `obj.fn(...)` in the main file, by name (cheap and good enough for inference)."""
        if self._call_sites is None:
            self._call_sites = {}
            main = self.main
            for call in main.all(cst.Call):
                func = call.func
                callee = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
                if callee:
                    enclosing = main.enclosing_function(call)
                    self._call_sites.setdefault(callee, []).append((call, Context(main, enclosing, main.enclosing_class(call))))
        name = fn.name.value
        if name == "__init__":
            cls = mod.enclosing_class(fn)
            name = cls.node.name.value if cls is not None else name
        return self._call_sites.get(name, [])

    # -- queries ------------------------------------------------------------------------------
    def owners(self) -> list[Node]:
        """Objects that hold trainable parameters: layers built here, and anything `.parameters()` is called on."""
        result = {n for n, d in self.graph.nodes(data=True) if d.get("kind") == "owner"}
        for receiver in self.parameter_calls:
            for node in receiver.nodes:  # instances of classes we read own nothing themselves: their layers do
                result |= {h for h in self.parameter_holders(node)
                           if h not in self.graph or self.graph.nodes[h].get("kind") != "instance"}
        return sorted(result, key=repr)

    def parameter_holders(self, node: Node) -> set[Node]:
        """What `node.parameters()` refers to: the objects it holds, or, when we cannot see where the
        object comes from (a function's `model` parameter with no visible caller), the name itself."""
        objects = {a for a in self.points_to(node) if a in self.graph and self.graph.nodes[a].get("kind") in ("owner", "call", "instance")}
        return objects or ({node} if node[0] == "var" else set())

    def points_to(self, node: Node) -> set[Node]:
        """Objects a node may hold: sources reaching it through alias edges only."""
        seen = {node}
        stack = [node]
        objects = set()
        while stack:
            current = stack.pop()
            if current[0] in ("call", "class"):
                objects.add(current)
            if current not in self.graph:
                continue
            for pred in self.graph.predecessors(current):
                if pred not in seen and self.graph.edges[pred, current]["alias"]:
                    seen.add(pred)
                    stack.append(pred)
        return objects

    def members(self, obj: Node) -> set[Node]:
        """An object and the objects stored in its attributes (its submodules), transitively."""
        result = {obj}
        stack = [obj]
        while stack:
            current = stack.pop()
            cls = current[1] if current[0] == "class" else self.graph.nodes[current].get("cls") if current in self.graph else None
            cls = cls.key if isinstance(cls, ClassInfo) else cls
            children = set()
            if cls is not None:
                for node in self.graph.nodes:
                    if node[0] == "attr" and node[1] == cls:
                        children |= self.points_to(node)
            if current in self.graph and self.graph.nodes[current].get("kind") == "owner":
                for pred in self.graph.predecessors(current):  # layers passed into a container
                    children |= self.points_to(pred)
            for child in children - result:
                result.add(child)
                stack.append(child)
        return result


def _added_terms(target: cst.BaseExpression, value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """For `x = beta * x + (1 - beta) * y` (a name or `self.<attr>`, either arm of a conditional): the terms added
    to the carried `x` (`(1 - beta) * y`); empty when `x` is not carried by arithmetic (`x = f(x)`,
    `x = 0.9 * x.detach() + y`) or nothing is added to it."""
    if not (isinstance(target, cst.Name) or isinstance(target, (cst.Attribute, cst.Subscript)) and
            isinstance(target.value, (cst.Name, cst.Attribute))):
        return []
    terms: list[cst.BaseExpression] = []
    pending = [value]
    while pending:
        expr = pending.pop()
        if isinstance(expr, cst.IfExp):
            pending += [expr.body, expr.orelse]
        elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract)):
            pending += [expr.left, expr.right]
        else:
            terms.append(expr)
    carried = [t for t in terms if _carries(t, target)]
    return [t for t in terms if not _carries(t, target)] if carried else []


def _carries(expr: cst.BaseExpression, target: cst.BaseExpression) -> bool:
    """``expr`` is ``target`` scaled by arithmetic (`beta * x`, `-x`, `x / 2`), not passed through a call."""
    if isinstance(expr, cst.BinaryOperation):
        return _carries(expr.left, target) or _carries(expr.right, target)
    if isinstance(expr, cst.UnaryOperation):
        return _carries(expr.expression, target)
    if isinstance(target, cst.Subscript) and isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            expr.func.attr.value == "get" and expr.args and len(target.slice) == 1 and \
            isinstance(target.slice[0].slice, cst.Index):  # totals[k] = totals.get(k, 0) + v
        return expr.func.value.deep_equals(target.value) and expr.args[0].value.deep_equals(target.slice[0].slice.value)
    return expr.deep_equals(target)


def _target_names(target: cst.BaseExpression):
    """The names a `for` target binds (`k`, `v` of `k, v`)."""
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)


def _pairs(target: cst.BaseExpression, iterable: cst.BaseExpression, mod: ModuleAnalysis) -> bool:
    """`for k, v in d.items()` or `for i, x in enumerate(xs)`: a key or count, then what the container holds."""
    if not (isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 and isinstance(iterable, cst.Call)):
        return False
    if isinstance(iterable.func, cst.Attribute):
        return iterable.func.attr.value == "items" and not iterable.args
    return len(iterable.args) == 1 and "builtins.enumerate" in mod.qualified(iterable)


def _pair_container(iterable: cst.Call) -> cst.BaseExpression:
    """The container `d.items()` or `enumerate(xs)` goes over."""
    return iterable.func.value if isinstance(iterable.func, cst.Attribute) else iterable.args[0].value


def _merge(a: dict, b: dict) -> dict:
    """Definitions reaching a join point: a name defined on only one side keeps its summary (both may reach)."""
    return {k: a[k] | b[k] for k in a.keys() & b.keys()}


def _unpacking(mod: ModuleAnalysis, element: cst.Element) -> tuple[cst.Tuple | cst.List, cst.Assign] | None:
    """For an element of `a, b = ...`: the target tuple and the assignment."""
    target = mod.parent(element)
    stmt = mod.parent(mod.parent(target)) if isinstance(mod.parent(target), cst.AssignTarget) else None
    if not isinstance(target, (cst.Tuple, cst.List)) or not isinstance(stmt, cst.Assign):
        return None
    return target, stmt


def _element_at(values: cst.BaseExpression, target: cst.Tuple | cst.List, element: cst.Element):
    """In `a, b = x, y`: the value in the element's position (`y` for `b`), when the lengths match."""
    if isinstance(values, (cst.Tuple, cst.List)) and len(values.elements) == len(target.elements):
        return values.elements[list(target.elements).index(element)].value
    return None


def _inputs_argument(call: cst.Call, ctx: Context) -> tuple[cst.BaseExpression, Context] | None:
    """The `inputs` of `torch.autograd.grad(outputs, inputs)` or `torch.autograd.backward(t, inputs=...)`."""
    name = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
    inputs = _argument(call, 1, "inputs") if name == "grad" else _argument(call, -1, "inputs")
    return (inputs, ctx) if inputs is not None else None


def _parameters(fn: cst.FunctionDef) -> list[cst.Param]:
    p = fn.params
    return list(p.posonly_params) + list(p.params) + list(p.kwonly_params)


def _star_parameters(fn: cst.FunctionDef, separately: bool = False) -> list:
    """`*args` and `**kwargs` of a function: those it has, or (``separately``) both places, None where absent."""
    star = fn.params.star_arg if isinstance(fn.params.star_arg, cst.Param) else None
    found = [star, fn.params.star_kwarg]
    return found if separately else [p for p in found if p is not None]


def _argument(call: cst.Call, index: int, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index].value if 0 <= index < len(positional) else None


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


