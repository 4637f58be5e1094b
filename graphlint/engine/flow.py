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
from graphlint.engine.hierarchy import Hierarchy
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


@dataclass(frozen=True)
class KeySelection:
    """`sum(losses[k] * w for k, w in weights.items())`: only the keys of the dict literal `weights` holds are read of
    `losses`; an entry under another key is left out here."""

    site: cst.CSTNode  # the comprehension
    keys: frozenset[str]
    origin: cst.BaseExpression  # the dict (or tuple, list, set) literal that decides the keys
    origin_module: ModuleAnalysis
    module: ModuleAnalysis
    dicts: frozenset = frozenset()  # the nodes of the dicts read by those keys
    name: str = ""  # the key variable


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
class ModuleCall:
    """`self.tower(x)` / `G(z)`: a module held in an attribute or a name, called; its result node, and the no-grad
    it runs under."""

    call: cst.Call
    module: ModuleAnalysis
    bound: Value
    result: tuple
    no_grad: Cut | None


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
        # id of a call `f(...)` / `f.m(...)` with a plain name `f` -> the definitions of `f` that reach the call
        self.names_at_call: dict[int, frozenset] = {}
        self.module_calls: list[ModuleCall] = []  # `self.encoder(x)`, `G(z)`: a module instance, called
        # function key -> the calls that entered it, as resolved (a module's forward from `model(x)`, `__call__`)
        self.entered: dict[str, list[tuple[cst.Call, Context]]] = {}
        self._done: set[str] = set()
        self._recorded: set[tuple] = set()
        self._call_sites: dict[str, list[tuple[cst.Call, Context]]] | None = None
        self._resolving: set[int] = set()  # calls whose callee is being looked up (a guard against cycles)
        self.hierarchy = Hierarchy(main, load_module)
        self._arguments: dict[Node, list[tuple[Value, Context]]] = {}  # parameter node -> arguments passed for it
        self._parameter_elements: dict[Node, dict[int | str, bool]] = {}  # parameter -> parts read (unpacked or not)
        self.shapes: dict[Node, frozenset] = {}  # node -> its known parts: tuple indices, dict entries (`"['cls']"`)
        self._bound_keys: dict[str, "KeySelection"] = {}  # comprehension key variables whose keys constants decide
        self.key_selections: list[KeySelection] = []  # `losses[k] for k in weights` with weights' keys known
        self._constants = None
        self._returned_shapes: dict[str, set] = {}  # function key -> arities of its returned tuples, "other"

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

    def read_function(self, mod: ModuleAnalysis, fn: cst.FunctionDef, cls: ClassInfo | None) -> None:
        """Add a function that nothing in the file calls (a hook torch calls) to the graph."""
        self._process_function(mod, fn, cls)

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
            narrowing = self._not_a_tuple(stmt.test)
            before = dict(ctx.env)
            self._branch(lambda: self._suite(stmt.body, ctx), ctx, narrowing, in_else=False)
            after_body, ctx.env = ctx.env, dict(before)
            if stmt.orelse is not None:
                self._branch(lambda: self._statement(stmt.orelse, ctx) if isinstance(stmt.orelse, cst.If) else
                             self._suite(stmt.orelse.body, ctx), ctx, narrowing, in_else=True)
            elif narrowing is not None and narrowing[1]:  # `if isinstance(out, tuple): out = out[0]`, then on
                ctx.env.update({k: v for k, v in self._narrowed(narrowing[0], ctx).items() if k == narrowing[0].value})
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

    def _branch(self, walk_branch, ctx: Context, narrowing: tuple[cst.Name, bool] | None, in_else: bool) -> None:
        """Walk one branch of an `if`; in the branch where `isinstance(out, tuple)` fails, `out` is not a tuple."""
        if narrowing is None or narrowing[1] != in_else:
            walk_branch()
            return
        name = narrowing[0].value
        original = ctx.env.get(name)
        narrowed = self._narrowed(narrowing[0], ctx).get(name)
        if narrowed is not None:
            ctx.env[name] = narrowed
        walk_branch()
        if narrowed is not None and ctx.env.get(name) is narrowed:  # not reassigned in the branch
            if original is None:
                ctx.env.pop(name, None)
            else:
                ctx.env[name] = original

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
                self.graph.add_node(("ret", ctx.key, f"[{name!r}]"), label=f"{ctx.function.name.value}()[{name!r}]",
                                    site=small, module=ctx.module)
                self._flow(field_value, ("ret", ctx.key, f"[{name!r}]"), ctx)
            if value.elements is not None:
                for i, el in enumerate(value.elements):
                    self.graph.add_node(("ret", ctx.key, i), label=f"{ctx.function.name.value}()[{i}]", site=small,
                                        module=ctx.module)
                    self._flow(el, ("ret", ctx.key, i), ctx)
            elif value.fields is None:  # not a tuple: what `isinstance(out, tuple)` turns away
                self._flow(value, ("ret", ctx.key, "other"), ctx)
            shape = len(value.elements) if value.elements is not None else "fields" if value.fields else "other"
            self._returned_shapes.setdefault(ctx.key, set()).add(shape)

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
            for i, element in enumerate(value.elements or ()):  # `out = a, b`: `out[1]` is b alone
                self.graph.add_node(node + (i,), label=f"{target.value}[{i}]")
                self._flow(element, node + (i,), ctx)
            if value.fields is not None or value.elements is not None:
                self.shapes[node] = frozenset([f"[{k!r}]" for k, _ in value.fields or ()] + list(range(len(value.elements or ()))))
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
            star = next((i for i, el in enumerate(target.elements) if isinstance(el, cst.StarredElement)), None)
            plain = isinstance(stmt, (cst.Assign, cst.AnnAssign))  # a loop's items are not split by position
            if star is not None and plain:
                self._assign_starred(target, star, value, ctx, stmt)
                return
            for i, el in enumerate(target.elements):
                part = elements[i] if elements else self._element(value, i, stmt, ctx) if plain and star is None else \
                    self._part(value, stmt, i, ctx)
                self._assign(el.value, part, ctx, stmt)
        elif isinstance(target, cst.Subscript):
            for node in self.eval(target.value, ctx).nodes:
                self._flow(value, node, ctx)
                index = 0
                while node + (index,) in self.graph:  # `parts[0] = x`: any element may now be x
                    self._flow(value, node + (index,), ctx)
                    index += 1
        elif isinstance(target, cst.StarredElement):
            self._assign(target.value, value, ctx, stmt)

    def _assign_starred(self, target: cst.Tuple | cst.List, star: int, value: Value, ctx: Context, stmt) -> None:
        """`q, *rest = vq(z)`: the names before the star take their elements; where the tuple's length is known
        (a call of a function returning an n-tuple, a tuple built here), the star and the names after it take
        theirs too, else a part of the whole value each."""
        after = len(target.elements) - star - 1
        known = value.elements if value.elements is not None and len(value.elements) >= star + after else None
        for i, el in enumerate(target.elements):
            if known is not None:
                last = len(known) - after
                part = known[i] if i < star else union(known[star:last]) if i == star else \
                    known[last + i - star - 1]
            else:
                part = self._element(value, i, stmt, ctx) if i < star else self._part(value, stmt, i, ctx)
            self._assign(el.value, part, ctx, stmt)

    def _element(self, value: Value, index: int, site: cst.CSTNode, ctx: Context, unpacked: bool = True) -> Value:
        """Element ``index`` of a value whose tuple shape a node records: a name given a tuple, a function's
        returned tuple, a parameter whose callers pass tuples (`cls_logits, box_pred = outputs`). What has no
        known shape gives an unknown part of itself when ``unpacked``, else itself (`layers[0]`)."""
        known, unknown = set(), Value(derive=value.derive)
        for node in value.alias:
            if node + (index,) not in self.graph and self._is_parameter(node):
                self._parameter_element(node, index, unpacked)
            if node + (index,) in self.graph:
                known.add(node + (index,))
                if "other" in self.shapes.get(node, ()):  # `out[0]` of a value that may not be a tuple
                    known.add(node + ("other",))
            else:
                unknown = unknown | Value(alias=frozenset({node}))
        if not unknown.nodes:
            return Value(alias=frozenset(known))
        return Value(alias=frozenset(known)) | (self._part(unknown, site, index, ctx) if unpacked else unknown)

    @staticmethod
    def _is_parameter(node: Node) -> bool:
        return node[0] == "var" and len(node) == 4 and node[3] == "param"

    def _parameter_element(self, param: Node, index: int | str, unpacked: bool) -> None:
        """A node for one element of a parameter: each caller's argument's element in that place; of an
        argument whose shape is not known, an unknown part when ``unpacked``, else the argument itself."""
        self.graph.add_node(param + (index,), label=f"{self.graph.nodes[param].get('label', '?')}[{index}]")
        self._parameter_elements.setdefault(param, {})[index] = unpacked
        for arg, ctx in self._arguments.get(param, ()):
            self._pass_element(arg, param, index, ctx)

    def _pass_element(self, arg: Value, param: Node, index: int | str, ctx: Context) -> None:
        """Part ``index`` of an argument into that part of the parameter: an element (an int) or an entry (`"['cls']"`)
        of a tuple or dict whose shape is known; nothing when the shape is known and lacks it; else the whole."""
        target = param + (index,)
        if index == "other" and (arg.elements is not None or arg.fields is not None):
            if arg.fields is not None:
                self._flow(arg, target, ctx)  # a dict is not a tuple
            return
        if isinstance(index, int) and arg.elements is not None:
            if index < len(arg.elements):
                self._flow(arg.elements[index], target, ctx)
            return
        if isinstance(index, str) and arg.fields is not None:
            self._flow(union(v for k, v in arg.fields if f"[{k!r}]" == index), target, ctx)
            return
        whole = Value(derive=arg.derive)
        for node in arg.alias:
            if node + (index,) not in self.graph and self._is_parameter(node) and node != param:  # passed on
                self._parameter_element(node, index, self._parameter_elements[param][index])
            if node + (index,) in self.graph:
                self._flow(Value(alias=frozenset({node + (index,)})), target, ctx)
                if isinstance(index, int) and "other" in self.shapes.get(node, ()):
                    self._flow(Value(alias=frozenset({node + ("other",)})), target, ctx)
            elif index == "other" and node in self.shapes and not all(isinstance(p, int) for p in self.shapes[node]):
                self._flow(Value(alias=frozenset({node})), target, ctx)  # a dict is not a tuple
            elif node not in self.shapes:
                whole = whole | Value(alias=frozenset({node}))
        if self._parameter_elements[param][index]:
            self._flow(whole.derived(), target, ctx, held=True)
        else:
            self._flow(whole, target, ctx)

    def _pass_argument(self, arg: Value, param: Node, ctx: Context) -> None:
        """Flow an argument into a parameter, element by element into the parameter's element nodes."""
        self._flow(arg, param, ctx)
        self._arguments.setdefault(param, []).append((arg, ctx))
        for index in self._parameter_elements.get(param, ()):
            self._pass_element(arg, param, index, ctx)

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
            owner = self.hierarchy.attribute_owner(owner, expr.attr.value)  # `self.model` a base class assigns
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
        whole = self.eval(expr.value, ctx)
        base = whole.nodes
        key = expr.slice[0].slice.value if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) else None
        if isinstance(key, cst.SimpleString):  # out["logits"]: only that entry, when we know the dict's entries
            entry = next((v for k, v in whole.fields or () if k == key.evaluated_value), None)
            if entry is not None:  # model(x)["logits"]: the entry of the dict its forward returns
                return entry
            field = f"[{key.evaluated_value!r}]"
            for node in base:
                if node + (field,) not in self.graph and self._is_parameter(node):
                    self._parameter_element(node, field, False)
            base = frozenset(n + (field,) if n + (field,) in self.graph else n for n in base)
        elif isinstance(key, cst.Integer) and base:  # out[0]: that element, when we know the tuple's elements
            return self._element(Value(alias=base), int(key.value, 0), expr, ctx, unpacked=False)
        elif isinstance(key, cst.Name) and key.value in self._bound_keys and base:
            return self._entries(base, self._bound_keys[key.value], ctx)
        return Value(alias=base)

    def _entries(self, base: frozenset, selection: "KeySelection", ctx: Context) -> Value:
        """`losses[k]` where only the keys a constant decides reach `k`: the entries of those keys, of each dict
        whose entries are known (a parameter: of the dicts its callers pass); an unknown dict stays whole."""
        parts, restricted = set(), set()
        for node in base:
            wanted = [f"[{k!r}]" for k in sorted(selection.keys)]
            if self._is_parameter(node):
                for part in wanted:
                    if node + (part,) not in self.graph:
                        self._parameter_element(node, part, False)
            elif node not in self.shapes:
                parts.add(node)
                continue
            parts |= {node + (p,) for p in wanted if node + (p,) in self.graph}
            restricted.add(node)
        if restricted:
            self._record("keys", selection.site, lambda: self.key_selections.append(
                KeySelection(selection.site, selection.keys, selection.origin, selection.origin_module,
                             ctx.module, frozenset(restricted))))
        return Value(alias=frozenset(parts))

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
        narrowing = self._not_a_tuple(expr.test)
        if narrowing is None:
            return self.eval(expr.body, ctx) | self.eval(expr.orelse, ctx)
        name, in_else = narrowing
        env = ctx.env
        ctx.env = self._narrowed(name, ctx)
        narrowed = self.eval(expr.orelse if in_else else expr.body, ctx)
        ctx.env = env
        return narrowed | self.eval(expr.body if in_else else expr.orelse, ctx)

    def _eval_BooleanOperation(self, expr, ctx) -> Value:
        return self.eval(expr.left, ctx) | self.eval(expr.right, ctx)

    def _eval_comprehension(self, expr, ctx) -> Value:
        comp = expr.for_in
        bound = dict(self._bound_keys)
        while comp is not None:
            self._assign(comp.target, self._iteration(comp.target, comp.iter, ctx), ctx, expr)
            for cond in comp.ifs:
                self.eval(cond.test, ctx)
            selection = self._key_selection(expr, comp, ctx)
            if selection is not None:
                bound[selection.name] = selection
            comp = comp.inner_for_in
        outer, self._bound_keys = self._bound_keys, bound
        try:  # a new container of the element values: the same objects, nothing computed
            return _contents(self.eval(expr.value if isinstance(expr, cst.DictComp) else expr.elt, ctx))
        finally:
            self._bound_keys = outer

    def _key_selection(self, expr, comp: cst.CompFor, ctx: Context) -> "KeySelection | None":
        """`for k in weights` / `for k, w in weights.items()` / `for k in losses if k in weights`, where `weights` is
        a dict literal the file never adds keys to: `k` takes no key outside it."""
        target, source = comp.target, comp.iter
        if isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) and not source.args and \
                source.func.attr.value in ("keys", "items"):
            if source.func.attr.value == "items":
                if not (isinstance(target, cst.Tuple) and len(target.elements) == 2):
                    return None
                target = target.elements[0].value
            source = source.func.value
        if not isinstance(target, cst.Name):
            return None
        holders = [source] + [c.test.comparisons[0].comparator for c in comp.ifs if isinstance(c.test, cst.Comparison)
                              and len(c.test.comparisons) == 1 and isinstance(c.test.comparisons[0].operator, cst.In)
                              and isinstance(c.test.left, cst.Name) and c.test.left.value == target.value]
        if self._constants is None:
            from graphlint.engine.constants import Constants  # constants reads this graph: made once it is asked
            self._constants = Constants(self)
        for holder in holders:
            found = self._constants.dict_keys(holder, ctx) or self._string_collection(holder, ctx)
            if found is not None:
                return KeySelection(expr, found[0], found[1], found[2], ctx.module, frozenset(), target.value)
        return None

    def _string_collection(self, expr: cst.BaseExpression, ctx: Context):
        """(its strings, the literal, its module) for the one tuple, list or set literal of strings a name holds
        (`LOSS_NAMES = ("cls", "box")`); None for a list or set when the file may add to some collection in place."""
        literal = self._constants.held(expr, ctx)
        if not isinstance(literal, (cst.Tuple, cst.List, cst.Set)) or not literal.elements or \
                not all(isinstance(e.value, cst.SimpleString) for e in literal.elements):
            return None
        module = next((m for m in (ctx.module, self.main) if m.parent(literal) is not None), None)
        if module is None or not isinstance(literal, cst.Tuple) and any(
                isinstance(c.func, cst.Attribute) and c.func.attr.value in ("append", "extend", "insert", "add", "update")
                for c in module.all(cst.Call)):
            return None
        return frozenset(e.value.evaluated_value for e in literal.elements), literal, module

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
        called = func.value if isinstance(func, cst.Attribute) else func
        if isinstance(called, cst.Name):
            self.names_at_call[id(call)] = self.read(called, ctx)

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
        if self._is_namedtuple(func, ctx) and all(a.keyword is None and not a.star for a in call.args):
            return Value(all_args.alias, all_args.derive, tuple(args))
        found = self.definition(func, ctx)
        if isinstance(found, ClassInfo):
            return self._construct(call, ctx, args, found)
        target = self.resolve_call(call, ctx)
        if target is not None:
            value = self._enter(call, ctx, args, *target)
            for cls, fn in self.overriding(call, ctx, target[1]):
                value = _joined(value, self._enter(call, ctx, args, cls.module, fn, cls, target[3]))
            return value
        looked_up = self.looked_up_methods(call, ctx)
        if looked_up:
            bound = self.eval(self.getattr_call(call, ctx).args[0].value, ctx)
            return union(self._enter(call, ctx, args, cls.module, fn, owner, bound) for cls, fn, owner in looked_up)

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
        if bound is not None and positional and not _is_static(fn):
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
                self._pass_argument(args[i], params[name], ctx)
            elif star_kwarg is not None:  # gathered by `**kwargs`: its values are what was passed
                self._flow(args[i], star_kwarg, ctx)
        if not result:
            return EMPTY
        result = self._call_node(call, ctx, EMPTY)
        self._edge(("ret", key), next(iter(result.alias)), alias=True, cut=ctx.no_grad)
        if bound is not None and fn.name.value in ("forward", "__call__") and \
                isinstance(call.func, (cst.Attribute, cst.Name)):
            self._record("module call", call, lambda: self.module_calls.append(
                ModuleCall(call, ctx.module, bound, next(iter(result.alias)), ctx.no_grad)))
        arity = tuple_arity(fn)
        if arity:
            self.shapes[("ret", key)] = frozenset(range(arity))
            return Value(result.alias, elements=tuple(Value(alias=frozenset({("ret", key, i)})) for i in range(arity)))
        shapes = self._returned_shapes.get(key, set())
        arities = [n for n in shapes if isinstance(n, int)]
        if len(arities) == 1 and shapes <= {arities[0], "other"}:  # `return Outputs(a, b)` (and `return a`)
            return self._tuple_or_other(result, key, arities[0], "other" in shapes)
        keys = dict_keys(fn)
        if keys:
            self.shapes[("ret", key)] = frozenset(f"[{k!r}]" for k in keys)
            return Value(result.alias, fields=tuple((k, Value(alias=frozenset({("ret", key, f"[{k!r}]")}))) for k in keys))
        return result

    def _tuple_or_other(self, result: Value, key: str, arity: int, other: bool) -> Value:
        """A call of a function that returns an `arity`-tuple, or on some paths (`other`) a value of another shape:
        the call's result has a part per element, and a part for that other value."""
        if not other:
            return Value(result.alias, elements=tuple(Value(alias=frozenset({("ret", key, i)})) for i in range(arity)))
        node = next(iter(result.alias))
        for part in (*range(arity), "other"):
            self.graph.add_node(node + (part,), label=f"{self.label(node)}[{part}]" if part != "other" else self.label(node))
            self._edge(("ret", key, part), node + (part,), alias=True, cut=None)
        self.shapes[node] = frozenset((*range(arity), "other"))
        return result

    def _is_namedtuple(self, func: cst.BaseExpression, ctx: Context) -> bool:
        """`Outputs = namedtuple("Outputs", [...])`: calling it makes a tuple of its arguments."""
        return isinstance(func, cst.Name) and any(
            isinstance(v, cst.Call) and ctx.module.qualified(v.func) & {"collections.namedtuple", "typing.NamedTuple"}
            for v, _ in self.assigned_values(func, ctx))

    def _not_a_tuple(self, test: cst.BaseExpression) -> tuple[cst.Name, bool] | None:
        """(`out`, True) for `isinstance(out, tuple)`: the else branch sees `out` when it is not a tuple; (`out`, False)
        for `not isinstance(out, tuple)`, whose body does."""
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        call = test.expression if negated else test
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "isinstance" and
                len(call.args) == 2 and isinstance(call.args[0].value, cst.Name)):
            return None
        kinds = call.args[1].value
        kinds = [e.value for e in kinds.elements] if isinstance(kinds, cst.Tuple) else [kinds]
        names_of = {k.value for k in kinds if isinstance(k, cst.Name)}
        if len(names_of) != len(kinds) or "tuple" not in names_of or not names_of <= {"tuple", "list"}:
            return None  # (`isinstance(out, list)` alone: the other branch may still see a tuple)
        return call.args[0].value, not negated

    def _narrowed(self, name: cst.Name, ctx: Context) -> dict:
        """The environment in which `name` holds only what is not a tuple: a call's or a parameter's non-tuple
        part; a value known to be a tuple drops out; anything else stays whole."""
        if not self._is_local(name, ctx):
            return ctx.env
        kept = set()
        for node in self.read(name, ctx):
            if self._is_parameter(node):
                if node + ("other",) not in self.graph:
                    self._parameter_element(node, "other", False)
                kept.add(node + ("other",))
            elif node in self.shapes and "other" in self.shapes[node]:
                kept.add(node + ("other",))
            elif node not in self.shapes or not all(isinstance(p, int) for p in self.shapes[node]):
                kept.add(node)
        return {**ctx.env, name.value: frozenset(kept)}

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
                if _is_super(func.value):
                    return self._super_method(func.attr.value, ctx)
                owner = self.class_of(func.value, ctx)
                if owner is not None:
                    found = self.hierarchy.method(owner, func.attr.value)
                    if found is not None:
                        return found[0].module, found[1], owner, func.value
            found = self.definition(func, ctx)
            if isinstance(found, tuple) and isinstance(found[1], cst.FunctionDef):
                return found[0], found[1], None, None
            owner = self.class_of(func, ctx)  # calling an instance runs a module's forward, another class's __call__
            if owner is not None:
                names_run = ("forward",) if owner.node.name.value in owner.module.module_classes else ("__call__", "forward")
                run = next(filter(None, (self.hierarchy.method(owner, n) for n in names_run)), None)
                if run is not None:
                    return run[0].module, run[1], owner, func
            return None
        finally:
            self._resolving.discard(id(call))

    def _super_method(self, name: str, ctx: Context):
        """`super().name(...)` in a method: the method the bases of the method's own class find, bound to `self`."""
        fn = ctx.function
        defining = self.hierarchy.defining_class(ctx.module, fn) if fn is not None else None
        params = _parameters(fn) if defining is not None else []
        if not params:
            return None
        for base in self.hierarchy.bases(defining):
            found = self.hierarchy.method(base, name)
            if found is not None:
                return found[0].module, found[1], ctx.cls or defining, params[0].name
        return None

    def looked_up_methods(self, call: cst.Call, ctx: Context, wanted: list[str] | None = None):
        """`getattr(obj, name)(...)` (a callback dispatcher): (defining class, method, obj's class) for each method
        of obj's class the name may be: a string literal, or every string the name is ever given."""
        func = self.getattr_call(call, ctx)
        if func is None:
            return []
        owner = self.class_of(func.args[0].value, ctx)
        if owner is None:
            return []
        if wanted is None:
            wanted = self.string_values(func.args[1].value, ctx)
        found = [self.hierarchy.method(owner, n) for n in wanted]
        return [(f[0], f[1], owner) for f in found if f is not None]

    def getattr_call(self, call: cst.Call, ctx: Context) -> cst.Call | None:
        """The `getattr(obj, name)` a call calls: `getattr(obj, name)(...)`, or `method(...)` after
        `method = getattr(obj, name)`."""
        func = call.func
        if isinstance(func, cst.Name):
            values = list(self.assigned_values(func, ctx))
            func = values[0][0] if len(values) == 1 else None
        if isinstance(func, cst.Call) and isinstance(func.func, cst.Name) and func.func.value == "getattr" and \
                len(func.args) >= 2:
            return func
        return None

    def string_values(self, expr: cst.BaseExpression, ctx: Context) -> list[str]:
        """The strings an expression may be, when each is a literal (at the call sites, for a parameter)."""
        if isinstance(expr, cst.SimpleString) and isinstance(expr.evaluated_value, str):
            return [expr.evaluated_value]
        if isinstance(expr, cst.Name):
            values = list(self.assigned_values(expr, ctx))
            if values and all(isinstance(v, cst.SimpleString) and isinstance(v.evaluated_value, str) for v, _ in values):
                return sorted({v.evaluated_value for v, _ in values})
        return []

    def overriding(self, call: cst.Call, ctx: Context, called: cst.FunctionDef) -> list[tuple[ClassInfo, cst.FunctionDef]]:
        """`self.name(...)` in a method of a class: the subclasses' own `name` methods run instead on their
        instances (a base trainer's loop calling the `training_step` its subclass defines)."""
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self") \
                or ctx.function is None:
            return []
        defining = self.hierarchy.defining_class(ctx.module, ctx.function)
        return self.hierarchy.overrides(defining, func.attr.value, called) if defining is not None else []

    def _construct(self, call: cst.Call, ctx: Context, args: list[Value], cls: ClassInfo) -> Value:
        """`Net(...)`: a new instance of a class we can read; its arguments flow into `__init__`."""
        node = ("call", id(call))
        self.graph.add_node(node, kind="instance", cls=cls, site=call, module=ctx.module)
        instance = Value(alias=frozenset({node}))
        init = self.hierarchy.method(cls, "__init__")
        if init is not None:
            self._enter(call, ctx, args, init[0].module, init[1], cls, instance, result=False)
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
            assigner = self.hierarchy.attribute_owner(owner, expr.attr.value)
            for value, method in assigner.attr_values.get(expr.attr.value, ()):
                found = self.class_of(value, Context(assigner.module, method, owner), depth + 1)
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
        if depth > self.MAX_INFERENCE_DEPTH:  # counts the names and attributes resolved, which may cycle
            return None
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set, cst.Dict)):
            items = [el.value for el in expr.elements if isinstance(el, (cst.Element, cst.DictElement))]
            return next(filter(None, (self.class_of(item, ctx, depth) for item in items)), None)
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            return self.class_of(expr.elt, ctx, depth)
        if isinstance(expr, cst.DictComp):
            return self.class_of(expr.value, ctx, depth)
        if isinstance(expr, cst.Name):
            return next(filter(None, (self.element_class(v, c, depth + 1) for v, c in self.assigned_values(expr, ctx))), None)
        if isinstance(expr, cst.Attribute):
            owner = self.class_of(expr.value, ctx, depth + 1)
            if owner is None:
                return None
            assigner = self.hierarchy.attribute_owner(owner, expr.attr.value)  # a base class may assign it
            return next(filter(None, (self.element_class(v, Context(assigner.module, m, owner), depth + 1)
                                      for v, m in assigner.attr_values.get(expr.attr.value, ()))), None)
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
                return self.element_class(first, ctx, depth)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                expr.func.attr.value == "values" and not expr.args:  # meters.values()
            return self.element_class(expr.func.value, ctx, depth)
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
                if index >= 0 and mod.enclosing_class(owner) is not None and not _is_static(owner) and \
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
            if cls is not None:  # `Net(...)`, a subclass that inherits this __init__, `super().__init__(...)`
                subclasses = self.hierarchy.subclasses(cls)
                inheriting = [c.node.name.value for c in subclasses if (self.hierarchy.method(c, "__init__") or
                                                                        (None, None))[1] is fn]
                return [site for n in (cls.node.name.value, *inheriting) for site in self._call_sites.get(n, [])] + [
                    (call, ctx) for call, ctx in self._call_sites.get("__init__", [])
                    if _is_super(call.func.value) and ctx.cls is not None and ctx.cls.key in {c.key for c in subclasses}]
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
            keys = {c.key for c in self.hierarchy.ancestors(cls)} if isinstance(cls, ClassInfo) else {cls}
            children = set()
            if cls is not None:
                for node in self.graph.nodes:
                    if node[0] == "attr" and node[1] in keys:
                        children |= self.points_to(node)
            if current in self.graph and self.graph.nodes[current].get("kind") == "owner":
                for pred in self.graph.predecessors(current):  # layers passed into a container
                    children |= self.points_to(pred)
            for child in children - result:
                result.add(child)
                stack.append(child)
        return result


def _is_super(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "super" and not expr.args


def _joined(a: Value, b: Value) -> Value:
    """What either of two bodies returns (a method and its override): tuple elements kept when both agree."""
    whole = a | b
    if a.elements is not None and b.elements is not None and len(a.elements) == len(b.elements):
        return Value(whole.alias, whole.derive, tuple(x | y for x, y in zip(a.elements, b.elements)))
    return whole


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


def _is_static(fn: cst.FunctionDef) -> bool:
    """A `@staticmethod`: called as `self.f(a, b)`, its first parameter is `a`, not the receiver."""
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod" for d in fn.decorators)


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


