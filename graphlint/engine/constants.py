"""Constant evaluation: the value an expression surely holds when the program runs with its defaults.

Rules ask it one question: "what is this value, and where was it decided?" It answers from what the
file shows: literals, names whose every assignment gives the same value, command-line defaults
(argparse `add_argument(..., default=...)` read as `args.x`, click `@click.option` and typer
`Option(...)` defaults), class-body defaults of a config object built without that field
(`cfg = Config()` then `cfg.lr`), keys of a dict literal (`cfg["lr"]`), `d.get(key, fallback)` when the
dict literal lacks the key, enum members, and arithmetic, comparisons and `min` / `max` of those.
The answer is None whenever anything on the way is not certain (a name assigned twice with different
values, a field written somewhere, a dict the file may update, a parse with explicit argv): unknown
never becomes a finding. A known value carries its origin, the place a report should name as where
the value was decided (the `default=`, the fallback, the field default).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from functools import lru_cache

import libcst as cst

from graphlint.engine.flow import Context, FlowGraph
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.tree import walk

_ENUM_BASES = ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag")
_COMPARE = {cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
            cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge}
_ARITHMETIC = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
               cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod,
               cst.Power: operator.pow}
# Calls that change a dict or an object in place, after which its literal keys or fields no longer tell its values.
_LIST_MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "clear"})
_MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "merge", "set_defaults", "__setitem__"})


class _Enumerate(Exception):
    """Raised by `value` inside `over_loops` at a loop variable not yet bound: enumerate that loop's range."""

    def __init__(self, loop: cst.For, module: ModuleAnalysis) -> None:
        super().__init__()
        self.loop = loop
        self.module = module


@dataclass(frozen=True)
class EnumMember:
    """`Task.MULTITASK`: equal only to itself, or also to its value when the enum mixes in str / int."""

    enum: str
    name: str
    value: object
    mixed_in: bool

    def equals(self, other: object) -> bool | None:
        if isinstance(other, EnumMember):
            return (self.enum, self.name) == (other.enum, other.name)
        return self.value == other if self.mixed_in else False


@dataclass(frozen=True)
class Known:
    value: object  # int, float, bool, str, None or an EnumMember
    origin: cst.CSTNode  # where the value was decided
    module: ModuleAnalysis
    elsewhere: bool = False  # decided away from the expression asked about (a default, a fallback, an assignment)
    how: str = "a literal"  # what the origin is, for a message: "the default of `--lr`"
    others: tuple["Known", ...] = ()  # the other operands decided elsewhere that the value was computed from

    def deciding(self) -> tuple["Known", ...]:
        """This value and every operand decided elsewhere that it was computed from (`epoch >= args.frozen_epochs`
        is decided by the range of `epoch` and by the default of `--frozen-epochs`)."""
        return (self, *self.others) if self.elsewhere else self.others

    def decided_at(self, how: str, origin: cst.CSTNode | None = None) -> "Known":
        """The value as decided by ``how`` at ``origin``; a value already decided farther away keeps that place."""
        return self if self.elsewhere else replace(self, origin=origin or self.origin, elsewhere=True, how=how)


class Constants:
    """Constant values of expressions, asked of the flow graph's view of names and definitions."""

    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self._iteration: tuple[cst.For, object] | None = None  # a `for` loop's variable, bound to one of its values
        self._bound: dict[int, Known] = {}  # `over_loops`: loop id -> the value its variable holds in this evaluation
        self._enumerating = False
        self._cache: dict[tuple[int, int, int, int], Known | None] = {}

    def over_loop(self, test: cst.BaseExpression, mod: ModuleAnalysis, limit: int = 10_000
                  ) -> tuple[list[Known], list[Known]] | None:
        """The test's value on every iteration of the innermost `for <name> in range(...)` around it whose variable it
        reads, the range's bounds being known (`epoch >= cfg.warmup_epochs` over `range(cfg.epochs)`), with those
        bounds; the test's one value (and no bounds) when it reads no loop variable; None when any is unknown."""
        ctx = Context(mod, mod.enclosing_function(test), mod.enclosing_class(test))
        read = {n.value for n in walk(test, cst.Name)}
        loop = next((a for a in mod.ancestors(test) if isinstance(a, cst.For) and isinstance(a.target, cst.Name)
                     and a.target.value in read), None)
        if loop is None:
            known = self.value(test, ctx)
            return ([known], []) if known is not None else None
        bounds = self._range(loop, ctx)
        if bounds is None or len(range(*(b.value for b in bounds))) > limit or \
                not all(isinstance(mod.parent(b.node), cst.For) for b in mod.scopes.bindings(loop.target)):
            return None  # an unknown or huge range, or a loop variable also assigned in the loop
        results = []
        for index in range(*(b.value for b in bounds)):
            self._iteration = (loop, index)
            try:
                known = self.value(test, ctx)
            finally:
                self._iteration = None
            if known is None:
                return None
            results.append(known)
        return results, bounds

    def over_loops(self, expr: cst.BaseExpression, ctx: Context, limit: int = 256
                   ) -> tuple[list[Known], list[Known]] | None:
        """The expression's value for every value of the `for <name> in range(...)` variables it reads, here or
        through a helper's parameters at its call sites (`adjust_lr(optimizer, epoch, args)` inside
        `for epoch in range(args.epochs)`), when the ranges are known and small; with the ranges' bounds. An `if`
        whose test those values decide drops the assignments of its dead arm. None when anything is unknown."""
        if self._enumerating:
            return None
        self._enumerating = True
        results: list[Known] = []
        bounds: dict[int, list[Known]] = {}
        pending: list[dict[int, Known]] = [{}]
        try:
            while pending:
                self._bound = pending.pop()
                try:
                    known = self.value(expr, ctx)
                except _Enumerate as need:
                    loop = need.loop
                    mod = need.module
                    try:
                        found = self._iterations(loop, Context(mod, mod.enclosing_function(loop),
                                                               mod.enclosing_class(loop)))
                    except _Enumerate:
                        return None  # a range whose bounds are another loop's variable
                    if found is None or not found[0] or len(found[0]) * (len(pending) + 1) > limit:
                        return None
                    values, found = found
                    bounds[id(loop)] = found
                    origin = loop.iter
                    counter = loop.target.elements[0].value if isinstance(loop.target, cst.Tuple) else loop.target
                    how = f"`{mod.code(counter)}` on each iteration of `{mod.code(loop.iter)}`"
                    pending.extend({**self._bound, id(loop): Known(v, origin, mod, True, how)} for v in values)
                    continue
                if known is None or len(results) >= limit:
                    return None
                results.append(known)
        finally:
            self._bound = {}
            self._enumerating = False
        return results, [b for found in bounds.values() for b in found]

    def _loop_variable(self, name: cst.Name, mod: ModuleAnalysis) -> cst.For | None:
        """The `for` loop whose plain target, or whose `enumerate` counter (`i` of `for i, batch in
        enumerate(loader)`), is the name's only binding."""
        bindings = mod.scopes.bindings(name)
        if len(bindings) != 1:
            return None
        node = bindings[0].node
        loop = mod.parent(node)
        if isinstance(loop, cst.For) and loop.target is node:
            return loop
        target = mod.parent(loop) if isinstance(loop, cst.Element) else None
        loop = mod.parent(target) if isinstance(target, cst.Tuple) else None
        if isinstance(loop, cst.For) and loop.target is target and target.elements[0].value is node and \
                isinstance(loop.iter, cst.Call) and _qualified_tail(mod, loop.iter.func) == "enumerate":
            return loop
        return None

    def _iterations(self, loop: cst.For, ctx: Context) -> tuple[range, list[Known]] | None:
        """The values a loop variable takes: `range(...)` with known bounds, or the counter of `enumerate(loader)`
        over a loader whose number of batches the file decides."""
        it = loop.iter
        if isinstance(it, cst.Call) and _qualified_tail(ctx.module, it.func) == "enumerate":
            if len(it.args) != 1 or it.args[0].keyword is not None or it.args[0].star:
                return None
            batches = self._batches(it.args[0].value, ctx)
            return (range(batches.value), [batches]) if batches is not None else None
        bounds = self._range(loop, ctx)
        return (range(*(b.value for b in bounds)), bounds) if bounds is not None else None

    def _batches(self, loader: cst.BaseExpression, ctx: Context) -> Known | None:
        """`len(loader)` for `DataLoader(TensorDataset(x, ...), batch_size=b)` where the first size of `x` (a tensor
        factory's literal or default size) and `b` are known: ceil(n / b), or floor with `drop_last=True`."""
        found = self.held_in(loader, ctx)
        if found is None or not isinstance(found[0], cst.Call) or \
                not _qualified_tail(found[1].module, found[0].func).endswith("DataLoader"):
            return None
        call, lctx = found
        if any(a.star or a.keyword is not None and a.keyword.value in ("sampler", "batch_sampler") for a in call.args):
            return None
        positional = [a.value for a in call.args if a.keyword is None]
        dataset = _keyword(call, "dataset") or (positional[0] if positional else None)
        batch = _keyword(call, "batch_size") or (positional[1] if len(positional) > 1 else None)
        drop = _keyword(call, "drop_last")
        size = self._first_size(dataset, lctx, dataset_level=True) if dataset is not None else None
        batch_size = self.value(batch, lctx) if batch is not None else Known(1, call, lctx.module)
        drop_last = self.value(drop, lctx) if drop is not None else Known(False, call, lctx.module)
        if size is None or batch_size is None or drop_last is None or not isinstance(batch_size.value, int) or \
                isinstance(batch_size.value, bool) or batch_size.value <= 0 or not isinstance(drop_last.value, bool):
            return None
        n, b = size.value, batch_size.value
        count = n // b if drop_last.value else -(-n // b)
        decisive = size if size.elsewhere else batch_size
        return replace(decisive, value=count, elsewhere=True, how=f"`len({lctx.module.code(call)[:60]})` = {count} "
                       f"batches ({n} samples, batch size {b})",
                       others=tuple(k for k in (size, batch_size) if k is not decisive and k.elsewhere))

    def _first_size(self, expr: cst.BaseExpression, ctx: Context, dataset_level: bool = False) -> Known | None:
        """The first dimension of a tensor built by a factory with a known size (`torch.randn(96, 20)`,
        `torch.randint(0, 5, (96,))`), through names, `.float()`-like casts and slices that keep the first dimension;
        for a `TensorDataset(x, ...)`, that of its first tensor."""
        found = self.held_in(expr, ctx)
        if found is None:
            return None
        expr, ctx = found
        mod = ctx.module
        if isinstance(expr, cst.Subscript):
            first = expr.slice[0].slice
            keeps = isinstance(first, cst.Slice) and first.lower is None and first.upper is None and first.step is None
            return self._first_size(expr.value, ctx) if keeps and not dataset_level else None
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("float", "long", "int", "double", "half", "to",
                                                                   "cuda", "cpu", "contiguous", "clone") \
                and not dataset_level:
            return self._first_size(func.value, ctx)
        called = _qualified_tail(mod, func)
        positional = [a.value for a in expr.args if a.keyword is None and not a.star]
        if dataset_level:
            return self._first_size(positional[0], ctx) if called.endswith("TensorDataset") and positional else None
        if called in ("torch.randn", "torch.rand", "torch.zeros", "torch.ones", "torch.empty"):
            shape = _keyword(expr, "size") or (positional[0] if positional else None)
        elif called == "torch.randint":
            shape = _keyword(expr, "size") or (positional[-1] if len(positional) >= 2 else None)
        elif called in ("torch.arange", "torch.randperm") and len(positional) == 1:
            shape = positional[0]
        else:
            return None
        if isinstance(shape, (cst.Tuple, cst.List)):
            shape = shape.elements[0].value if shape.elements else None
        size = self.value(shape, ctx) if shape is not None else None
        return size if size is not None and isinstance(size.value, int) and not isinstance(size.value, bool) else None

    def _in_dead_arm(self, value: cst.BaseExpression, ctx: Context, depth: int) -> bool:
        """The assignment giving ``value`` sits in an arm of an `if` that the values being enumerated rule out."""
        mod = ctx.module
        child: cst.CSTNode = value
        for parent in mod.ancestors(value):
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return False
            if isinstance(parent, cst.If) and child is not parent.test:
                test = self.value(parent.test, Context(mod, mod.enclosing_function(parent),
                                                       mod.enclosing_class(parent)), depth - 1)
                if test is not None and not isinstance(test.value, EnumMember) and \
                        bool(test.value) is not (child is parent.body):
                    return True
            child = parent
        return False

    def _range(self, loop: cst.For, ctx: Context) -> list[Known] | None:
        """The known integer arguments of `range(...)` a loop iterates over."""
        it = loop.iter
        if not isinstance(it, cst.Call) or _qualified_tail(ctx.module, it.func) != "range" or \
                not 1 <= len(it.args) <= 3 or any(a.keyword is not None or a.star for a in it.args):
            return None
        bounds = [self.value(a.value, ctx) for a in it.args]
        return bounds if all(b is not None and isinstance(b.value, int) and not isinstance(b.value, bool)
                             for b in bounds) else None

    def at(self, expr: cst.BaseExpression, mod: ModuleAnalysis) -> Known | None:
        """The value of an expression of ``mod``, evaluated in the function that encloses it."""
        return self.value(expr, Context(mod, mod.enclosing_function(expr), mod.enclosing_class(expr)))

    def value(self, expr: cst.BaseExpression, ctx: Context, depth: int = 6) -> Known | None:
        """The value, computed once per expression, function and depth (values bound to loop variables are not
        kept: they change from one evaluation to the next)."""
        if self._enumerating or self._iteration is not None:
            return self._value(expr, ctx, depth)
        key = (id(expr), id(ctx.function), id(ctx.cls), depth)
        if key not in self._cache:
            self._cache[key] = self._value(expr, ctx, depth)
        return self._cache[key]

    def _value(self, expr: cst.BaseExpression, ctx: Context, depth: int) -> Known | None:
        if depth < 0:
            return None
        mod = ctx.module
        if isinstance(expr, (cst.Integer, cst.Float)):
            return Known(expr.evaluated_value, expr, mod)
        if isinstance(expr, cst.SimpleString):
            return Known(expr.evaluated_value, expr, mod)
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None") and not mod.scopes.bindings(expr):
                return Known({"True": True, "False": False, "None": None}[expr.value], expr, mod)
            if self._iteration is not None and expr.value == self._iteration[0].target.value:
                return Known(self._iteration[1], expr, mod)
            if self._enumerating:
                loop = self._loop_variable(expr, mod)
                if loop is not None:
                    if id(loop) not in self._bound:
                        raise _Enumerate(loop, mod)
                    return self._bound[id(loop)]
            return self._name(expr, ctx, depth)
        if isinstance(expr, cst.UnaryOperation):
            inner = self.value(expr.expression, ctx, depth)
            if inner is None or isinstance(inner.value, EnumMember):
                return None
            if isinstance(expr.operator, cst.Not):  # decided where the operand was
                return replace(inner, value=not inner.value)
            if isinstance(expr.operator, cst.Minus) and _is_number(inner.value):
                return replace(inner, value=-inner.value)
            return None
        if isinstance(expr, cst.BinaryOperation):
            return self._arithmetic(expr, ctx, depth)
        if isinstance(expr, cst.Comparison):
            return self._comparison(expr, ctx, depth)
        if isinstance(expr, cst.BooleanOperation):
            left = self.value(expr.left, ctx, depth)
            if left is None or isinstance(left.value, EnumMember):
                return None
            decides = bool(left.value) if isinstance(expr.operator, cst.Or) else not left.value
            return left if decides else self.value(expr.right, ctx, depth)
        if isinstance(expr, cst.IfExp):
            test = self.value(expr.test, ctx, depth)
            if test is None or isinstance(test.value, EnumMember):
                return None
            return self.value(expr.body if test.value else expr.orelse, ctx, depth)
        if isinstance(expr, cst.Attribute):
            return self._attribute(expr, ctx, depth)
        if isinstance(expr, cst.Subscript):
            key = _string_index(expr)
            return self._dict_value(expr.value, key, ctx, depth) if key is not None else None
        if isinstance(expr, cst.Call):
            return self._call(expr, ctx, depth)
        if isinstance(expr, (cst.Tuple, cst.List)):
            return self._sequence(expr, ctx, depth)
        return None

    def _sequence(self, expr: cst.Tuple | cst.List, ctx: Context, depth: int) -> Known | None:
        """A tuple of known values (`("encoder", "head")`), or such a list in a file that changes no list in place."""
        if isinstance(expr, cst.List) and any(isinstance(c.func, cst.Attribute) and c.func.attr.value in _LIST_MUTATORS
                                              for c in ctx.module.all(cst.Call)):
            return None
        items = [self.value(e.value, ctx, depth) if isinstance(e, cst.Element) else None for e in expr.elements]
        if not items or None in items:
            return None
        return _derived(tuple(i.value for i in items), items)

    # -- names ---------------------------------------------------------------------------------
    def _name(self, name: cst.Name, ctx: Context, depth: int) -> Known | None:
        """Every value the name is given agrees; a name bound any other way (a loop target, `+=`, an import)
        is unknown."""
        mod = ctx.module
        bindings = mod.scopes.bindings(name)
        if not bindings:
            return None
        for binding in bindings:
            node = binding.node
            parent = mod.parent(node)
            if isinstance(node, cst.Param) or isinstance(parent, cst.Param):
                param = node if isinstance(node, cst.Param) else parent
                cli = self._command_line_default(param, mod)
                if cli is not None:
                    return cli if len(bindings) == 1 else None
                owner = next((a for a in mod.ancestors(param) if isinstance(a, (cst.FunctionDef, cst.Lambda))), None)
                if not isinstance(owner, cst.FunctionDef) or owner.decorators or \
                        param.star or not self.flow.call_sites(mod, owner) or \
                        any(a.star for call, _ in self.flow.call_sites(mod, owner) for a in call.args):
                    return None
            elif not (isinstance(parent, cst.AssignTarget) and parent.target is node or
                      isinstance(parent, cst.AnnAssign) and parent.value is not None and parent.target is node):
                return None
        given = list(self.flow.assigned_values(name, ctx))
        if self._enumerating and len(given) > 1:
            given = [(v, c) for v, c in given if not self._in_dead_arm(v, c, depth)]
        agreed = _agreed([self.value(v, c, depth - 1) for v, c in given])
        return agreed.decided_at(f"the value given to `{name.value}`", given[0][0]) if agreed is not None else None

    def _command_line_default(self, param: cst.Param, mod: ModuleAnalysis) -> Known | None:
        """The default of a click option / typer option a command's parameter receives."""
        owner = mod.parent(mod.parent(param))
        if not isinstance(owner, cst.FunctionDef):
            return None
        name = param.name.value
        if isinstance(param.default, cst.Call) and _qualified_tail(mod, param.default.func) in ("typer.Option", "typer.Argument"):
            default = next((a.value for a in param.default.args if a.keyword is None and not a.star), None)
            default = _keyword(param.default, "default") or default
            return self._default(default, param.default, mod, name)
        for decorator in owner.decorators:
            call = decorator.decorator
            if isinstance(call, cst.Call) and _qualified_tail(mod, call.func) == "click.option":
                flags = [a.value.evaluated_value for a in call.args
                         if a.keyword is None and isinstance(a.value, cst.SimpleString)]
                if name in (_dest(f) for f in flags if f.startswith("-")) or name in flags:
                    default = _keyword(call, "default")
                    if default is None and _is_flag_option(call):
                        return Known(False, call, mod, True, f"the command-line default of `{name}`")
                    return self._default(default, call, mod, name)
        return None

    # -- attributes: parsed arguments, config objects, enum members -------------------------------
    def _attribute(self, expr: cst.Attribute, ctx: Context, depth: int) -> Known | None:
        mod = ctx.module
        field = expr.attr.value
        if _written_anywhere(mod, field):
            return None
        if isinstance(expr.value, cst.Name) and expr.value.value == "self" and ctx.cls is not None:
            return self._instance_attribute(ctx.cls, field, depth)
        if isinstance(expr.value, cst.Name):
            cls = self._class(expr.value, ctx)
            if cls is not None and _is_enum(cls) and field in cls.field_defaults:
                member = self.value(cls.field_defaults[field], Context(mod, None, cls), depth - 1)
                if member is None:
                    return None
                mixed = any(b.split(".")[-1] in ("str", "int", "IntEnum", "StrEnum", "IntFlag") for b in cls.bases)
                return Known(EnumMember(cls.node.name.value, field, member.value, mixed), cls.field_defaults[field], mod,
                             how=f"the enum member `{cls.node.name.value}.{field}`")
        built = self.held(expr.value, ctx)
        if not isinstance(built, cst.Call):
            return None
        if isinstance(built.func, cst.Attribute) and built.func.attr.value == "parse_args":
            return self._argparse_default(built, field, mod)
        if _qualified_tail(mod, built.func) == "types.SimpleNamespace":
            given = _keyword(built, field)
            where = Context(mod, mod.enclosing_function(built), mod.enclosing_class(built))
            known = self.value(given, where, depth - 1) if given is not None and not any(a.star for a in built.args) \
                else None
            return known.decided_at(f"the value given to `{field}` in `SimpleNamespace(...)`", given) \
                if known is not None else None
        cls = self._class(built.func, ctx)
        if cls is None or _is_enum(cls) or any(b.split(".")[-1] == "BaseSettings" for b in cls.bases) or field not in cls.field_defaults or built.args or \
                field in cls.attr_values or any(m in cls.methods for m in ("__init__", "__post_init__", "__new__")) and \
                not _is_dataclass(cls):
            return None
        known = self.value(cls.field_defaults[field], Context(mod, None, cls), depth - 1)
        return known.decided_at(f"the default of `{cls.node.name.value}.{field}`", cls.field_defaults[field]) \
            if known is not None else None

    def _instance_attribute(self, cls: ClassInfo, field: str, depth: int) -> Known | None:
        """`self.<field>`: every value the class gives it (in its methods, in its body) agrees; `+=` is unknown."""
        mod = cls.module
        if any(isinstance(t.target, cst.Attribute) and t.target.attr.value == field
               for method in cls.methods.values() for t in walk(method, cst.AugAssign)):
            return None
        if any(b != "object" and not self.flow.knowledge.matches("modules.bases", {b}) for b in cls.bases):
            return None  # a base class (`super().__init__(lr=lr)`) may give the field its value
        given = [(v, Context(mod, m, cls)) for v, m in cls.attr_values.get(field, ())]
        if field in cls.field_defaults:
            given.append((cls.field_defaults[field], Context(mod, None, cls)))
        agreed = _agreed([self.value(v, c, depth - 1) for v, c in given])
        return agreed.decided_at(f"the value given to `self.{field}`") if agreed is not None else None

    def _argparse_default(self, parse: cst.Call, field: str, mod: ModuleAnalysis) -> Known | None:
        """`args = parser.parse_args()` then `args.<field>`: the default of the one option whose destination is
        ``field``. Explicit argv, `set_defaults`, or several options for the destination: unknown."""
        if parse.args or any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "set_defaults"
                             for c in mod.all(cst.Call)):
            return None
        options = []
        for call in mod.all(cst.Call):
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_argument":
                flags = [a.value.evaluated_value for a in call.args
                         if a.keyword is None and isinstance(a.value, cst.SimpleString)]
                dest = _keyword(call, "dest")
                dest_name = dest.evaluated_value if isinstance(dest, cst.SimpleString) else None
                long = [f for f in flags if f.startswith("--")]
                derived = _dest(long[0]) if long else _dest(flags[0]) if flags else None
                if (dest_name or derived) == field:
                    options.append(call)
        if len(options) != 1:
            return None
        call = options[0]
        required = _keyword(call, "required")
        if required is not None and not (isinstance(required, cst.Name) and required.value == "False"):
            return None
        default = _keyword(call, "default")
        action = _keyword(call, "action")
        if default is None and isinstance(action, cst.SimpleString) and \
                action.evaluated_value in ("store_true", "store_false"):
            return Known(action.evaluated_value == "store_false", call, mod, True,
                         f"the command-line default of `{field}`")
        kind = _keyword(call, "type")
        if isinstance(default, cst.SimpleString) and kind is not None:  # argparse converts a string default
            return _converted(default.evaluated_value, kind, call, mod, field)
        return self._default(default, call, mod, field)

    def _default(self, default: cst.BaseExpression | None, option: cst.CSTNode, mod: ModuleAnalysis,
                 name: str) -> Known | None:
        """A command-line option's default, decided at the option's declaration."""
        known = self.value(default, Context(mod, None, None)) if default is not None else None
        return known.decided_at(f"the command-line default of `{name}`", option) if known is not None else None

    # -- dicts -----------------------------------------------------------------------------------
    def _dict_value(self, holder: cst.BaseExpression, key: str, ctx: Context, depth: int,
                    fallback: cst.BaseExpression | None = None) -> Known | None:
        """``holder[key]`` (or ``holder.get(key, fallback)``) of a dict literal the file never changes."""
        mod = ctx.module
        literal = self._dict_literal(holder, ctx, depth)
        if literal is None or _dict_changed(mod, key):
            return None
        literal_dict, lctx = literal
        for element in literal_dict.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                return None  # `**other`: the key may come from elsewhere
            if element.key.evaluated_value == key:
                known = self.value(element.value, lctx, depth - 1)
                return known.decided_at(f"the entry `{key!r}` of the dict", element) if known is not None else None
        known = self.value(fallback, ctx, depth - 1) if fallback is not None else None
        return known.decided_at(f"the fallback of `.get({key!r}, ...)`, the dict having no such key") \
            if known is not None else None

    def dict_keys(self, expr: cst.BaseExpression, ctx: Context) -> tuple[frozenset[str], cst.Dict, ModuleAnalysis] | None:
        """The keys of the one dict literal an expression holds (a name, a parameter given it at every call, a
        `self.<attr>` given it in `__init__`, an entry of a config dict), with that literal: None when any key is not a
        string, or the file may add keys (a subscript write of another key, an update)."""
        literal = self._dict_literal(expr, ctx, 6)
        if literal is None:
            return None
        keys = [e.key.evaluated_value if isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString) else None
                for e in literal[0].elements]
        if None in keys or _keys_added(ctx.module, set(keys)) or _keys_added(literal[1].module, set(keys)):
            return None
        return frozenset(keys), literal[0], literal[1].module

    def _dict_literal(self, expr: cst.BaseExpression, ctx: Context, depth: int) -> tuple[cst.Dict, Context] | None:
        if depth < 0:
            return None
        if isinstance(expr, cst.Dict):
            return expr, ctx
        if isinstance(expr, cst.Attribute):  # `self.weights`, given one dict in `__init__`
            found = self._one_instance_value(expr, ctx)
            return self._dict_literal(*found, depth - 1) if found is not None else None
        if isinstance(expr, cst.Subscript):
            key = _string_index(expr)
            outer = self._dict_literal(expr.value, ctx, depth - 1) if key is not None else None
            if outer is None or _dict_changed(ctx.module, key):
                return None
            entries = [e for e in outer[0].elements if isinstance(e, cst.DictElement) and
                       isinstance(e.key, cst.SimpleString) and e.key.evaluated_value == key]
            return self._dict_literal(entries[0].value, outer[1], depth - 1) if len(entries) == 1 else None
        if isinstance(expr, cst.Name):
            found = [(v, c) for v, c in self._assignments(expr, ctx)]
            literals = {id(d): d for d in (self._dict_literal(v, c, depth - 1) for v, c in found)}
            return next(iter(literals.values())) if len(literals) == 1 and None not in literals.values() and \
                len(found) >= 1 else None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self" and \
                ctx.cls is not None and not _written_anywhere(ctx.module, expr.attr.value):
            found = [(v, Context(ctx.cls.module, method, ctx.cls)) for v, method in ctx.cls.attr_values.get(expr.attr.value, ())]
            return self._one_literal(found, depth)
        return None

    def _one_literal(self, found: list, depth: int) -> tuple[cst.Dict, Context] | None:
        """The dict literal every one of these assigned values holds, when they agree."""
        literals = {id(d[0]) if d else None: d for d in (self._dict_literal(v, c, depth - 1) for v, c in found)}
        return next(iter(literals.values())) if len(literals) == 1 and None not in literals else None

    # -- calls -----------------------------------------------------------------------------------
    def _call(self, call: cst.Call, ctx: Context, depth: int) -> Known | None:
        func = call.func
        returned = self._returned(call, ctx)
        if returned is not None:
            return self.value(*returned, depth - 1)
        if isinstance(func, cst.Attribute) and func.attr.value == "get" and 1 <= len(call.args) <= 2 and \
                isinstance(call.args[0].value, cst.SimpleString) and all(a.keyword is None for a in call.args):
            fallback = call.args[1].value if len(call.args) == 2 else cst.Name("None")
            return self._dict_value(func.value, call.args[0].value.evaluated_value, ctx, depth, fallback)
        called = _qualified_tail(ctx.module, func)
        if called not in ("min", "max", "int", "float", "abs", "round", "bool") or \
                any(a.keyword is not None or a.star for a in call.args) or not call.args:
            return None
        values = [self.value(a.value, ctx, depth) for a in call.args]
        if None in values or not all(_is_number(v.value) for v in values):
            return None
        numbers = [v.value for v in values]
        if called in ("min", "max"):
            result = (min if called == "min" else max)(numbers)
        elif len(values) != 1 and called != "round":
            return None
        else:
            result = {"int": int, "float": float, "abs": abs, "bool": bool}.get(called, round)(*numbers)
        return _derived(result, values)

    def _arithmetic(self, expr: cst.BinaryOperation, ctx: Context, depth: int) -> Known | None:
        left, right = self.value(expr.left, ctx, depth), self.value(expr.right, ctx, depth)
        op = _ARITHMETIC.get(type(expr.operator))
        if left is None or right is None or op is None or not (_is_number(left.value) and _is_number(right.value)):
            return None
        try:
            result = op(left.value, right.value)
        except (ZeroDivisionError, OverflowError, ValueError):
            return None
        if not _is_number(result) or isinstance(result, float) and abs(result) == float("inf"):
            return None
        if isinstance(expr.operator, cst.FloorDivide) and result == 0 and left.value != 0:
            return Known(result, expr, ctx.module, True, f"`{ctx.module.code(expr)}`, which rounds down to 0")
        if isinstance(expr.operator, cst.Multiply) and right.value == 0:
            return _derived(result, [right, left])  # the factor that is 0 decides the product
        return _derived(result, [left, right])

    def _comparison(self, expr: cst.Comparison, ctx: Context, depth: int) -> Known | None:
        left = self.value(expr.left, ctx, depth)
        known = [left]
        result = True
        for target in expr.comparisons:
            right = self.value(target.comparator, ctx, depth)
            if left is None or right is None:
                return None
            known.append(right)
            outcome = _compare(target.operator, left.value, right.value)
            if outcome is None:
                return None
            result = result and outcome
            left = right
        return _derived(result, known)

    # -- helpers ---------------------------------------------------------------------------------
    def _assignments(self, name: cst.Name, ctx: Context) -> list:
        """What a plain name is assigned, when every binding of it is a plain assignment or a parameter."""
        mod = ctx.module
        for binding in mod.scopes.bindings(name):
            parent = mod.parent(binding.node)
            if not (isinstance(binding.node, cst.Param) or isinstance(parent, cst.Param) or
                    isinstance(parent, cst.AssignTarget) or isinstance(parent, cst.AnnAssign) and parent.value):
                return []
        return list(self.flow.assigned_values(name, ctx))

    def held(self, expr: cst.BaseExpression, ctx: Context) -> cst.BaseExpression | None:
        """The one expression a name holds (following names and parameters: `groups` for `[{"params": ...}]`), or
        None when it is given several."""
        found = self.held_in(expr, ctx)
        return found[0] if found is not None else None

    def held_in(self, expr: cst.BaseExpression, ctx: Context) -> tuple[cst.BaseExpression, Context] | None:
        """`held`, with the context the expression is evaluated in."""
        for _ in range(6):
            if isinstance(expr, cst.Name):
                found = self._assignments(expr, ctx)
                if len({id(v) for v, _ in found}) != 1:
                    return None
                expr, ctx = found[0]
            elif isinstance(expr, cst.Call) and self._returned(expr, ctx) is not None:
                expr, ctx = self._returned(expr, ctx)
            elif isinstance(expr, cst.Attribute) and self._one_instance_value(expr, ctx) is not None:
                expr, ctx = self._one_instance_value(expr, ctx)
            else:
                return expr, ctx
        return None

    def _one_instance_value(self, expr: cst.Attribute, ctx: Context) -> tuple[cst.BaseExpression, Context] | None:
        """`self.cfg` given one value in the class (`self.cfg = cfg` in `__init__`), and written nowhere else."""
        cls = ctx.cls
        field = expr.attr.value
        if not (isinstance(expr.value, cst.Name) and expr.value.value == "self") or cls is None or \
                field in cls.field_defaults or _written_anywhere(ctx.module, field) or \
                any(b != "object" and not self.flow.knowledge.matches("modules.bases", {b}) for b in cls.bases):
            return None
        values = cls.attr_values.get(field, ())
        if len(values) != 1 or any(isinstance(t.target, cst.Attribute) and t.target.attr.value == field
                                   for method in cls.methods.values() for t in walk(method, cst.AugAssign)):
            return None
        value, method = values[0]
        return value, Context(cls.module, method, cls)

    def _returned(self, call: cst.Call, ctx: Context) -> tuple[cst.BaseExpression, Context] | None:
        """`get_args()`: the one expression a plain function of the file returns, in the function's context."""
        found = self.flow.definition(call.func, ctx) if isinstance(call.func, cst.Name) else None
        if not isinstance(found, tuple) or found[0] is not ctx.module or found[1].decorators:
            return None
        fn = found[1]
        returns = [r for r in walk(fn.body, cst.Return)
                   if next(a for a in ctx.module.ancestors(r) if isinstance(a, (cst.FunctionDef, cst.Lambda))) is fn]
        if len(returns) != 1 or returns[0].value is None or any(True for _ in walk(fn.body, (cst.Yield, cst.Await))):
            return None
        return returns[0].value, Context(ctx.module, fn, None)

    def _class(self, expr: cst.BaseExpression, ctx: Context) -> ClassInfo | None:
        found = self.flow.definition(expr, ctx) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        return found if isinstance(found, ClassInfo) else None


def _agreed(values: list[Known | None]) -> Known | None:
    """The one value every assignment gives (the first one's origin), or None."""
    if not values or None in values:
        return None
    first = values[0]
    if any(type(v.value) is not type(first.value) or v.value != first.value for v in values[1:]):
        return None
    return first


def _derived(result: object, operands: list[Known]) -> Known:
    """A value computed from operands, decided where the first operand decided away from the expression was."""
    decisive = next((v for v in operands if v.elsewhere), operands[0])
    others = tuple({id(k.origin): k for v in operands for k in v.deciding() if k.origin is not decisive.origin}.values())
    return replace(decisive, value=result, others=others)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float))  # bool included, as in Python arithmetic


def _compare(op: cst.BaseCompOp, left: object, right: object) -> bool | None:
    if isinstance(op, (cst.Is, cst.IsNot)):
        if left is None or right is None or isinstance(left, bool) and isinstance(right, bool):  # singletons
            same = left is right
            return same if isinstance(op, cst.Is) else not same
        return None
    if isinstance(left, EnumMember) or isinstance(right, EnumMember):
        member, other = (left, right) if isinstance(left, EnumMember) else (right, left)
        if not isinstance(op, (cst.Equal, cst.NotEqual)):
            return None
        equal = member.equals(other)
        return equal if isinstance(op, cst.Equal) else not equal
    compare = _COMPARE.get(type(op))
    if compare is None:
        return None
    if type(op) not in (cst.Equal, cst.NotEqual) and not (_is_number(left) and _is_number(right)) and \
            not (isinstance(left, str) and isinstance(right, str)):
        return None
    return bool(compare(left, right))


def _string_index(expr: cst.Subscript) -> str | None:
    if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) and \
            isinstance(expr.slice[0].slice.value, cst.SimpleString):
        return expr.slice[0].slice.value.evaluated_value
    return None


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _is_flag_option(call: cst.Call) -> bool:
    flag = _keyword(call, "is_flag")
    return isinstance(flag, cst.Name) and flag.value == "True"


def _converted(text: str, kind: cst.BaseExpression, option: cst.Call, mod: ModuleAnalysis, name: str) -> Known | None:
    """A string default argparse passes through `type=` (as it does with every string default): `bool("False")`
    is True; int and float parse it; any other type is not evaluated."""
    convert = {"bool": bool, "int": int, "float": float, "str": str}.get(kind.value if isinstance(kind, cst.Name) else "")
    try:
        value = convert(text) if convert is not None else None
    except ValueError:
        return None
    if value is None:
        return None
    how = f"the command-line default of `{name}`"
    if convert is bool:
        how += f" (`type=bool` turns the string {text!r} into {value})"
    return Known(value, option, mod, True, how)


def _qualified_tail(mod: ModuleAnalysis, func: cst.BaseExpression) -> str:
    """`click.option` for `@click.option` or `from click import option`; `min` for the builtin."""
    for name in mod.qualified(func):
        return name.removeprefix("builtins.")
    return ""


def _is_enum(cls: ClassInfo) -> bool:
    return any(b.split(".")[-1] in _ENUM_BASES for b in cls.bases)


def _is_dataclass(cls: ClassInfo) -> bool:
    return any("dataclass" in cls.module.code(d.decorator) for d in cls.node.decorators)


_WRITTEN: dict[int, tuple[ModuleAnalysis, frozenset[str] | None]] = {}


def _written_anywhere(mod: ModuleAnalysis, field: str) -> bool:
    """`x.<field> = ...`, `setattr(...)` or `vars(...)` anywhere in the file: the field's default is not its value."""
    written = _WRITTEN.get(id(mod))
    if written is None or written[0] is not mod:  # computed once per file (the id of a freed file may be reused)
        if len(_WRITTEN) > 64:
            _WRITTEN.clear()
        dynamic = any(isinstance(c.func, cst.Name) and c.func.value in ("setattr", "vars") for c in mod.all(cst.Call)) \
            or any(a.attr.value == "__dict__" for a in mod.all(cst.Attribute))
        fields = None if dynamic else frozenset(
            el.attr.value for target in [*mod.all(cst.AssignTarget), *mod.all(cst.AugAssign), *mod.all(cst.AnnAssign)]
            for el in walk(target.target, cst.Attribute)
            if not (isinstance(el.value, cst.Name) and el.value.value == "self"))
        written = _WRITTEN[id(mod)] = (mod, fields)
    return written[1] is None or field in written[1]


def _dict_changed(mod: ModuleAnalysis, key: str) -> bool:
    """A subscript write of ``key`` (or of a key it cannot read) or a call that updates dicts in place anywhere in the
    file."""
    for target in [*mod.all(cst.AssignTarget), *mod.all(cst.AugAssign)]:
        if isinstance(target.target, cst.Subscript) and _string_index(target.target) in (key, None):
            return True
    return any(isinstance(c.func, cst.Attribute) and c.func.attr.value in _MUTATORS for c in mod.all(cst.Call))


def _keys_added(mod: ModuleAnalysis, keys: set[str]) -> bool:
    """A subscript write of a key not among ``keys`` (or of a key it cannot read), or a call that updates dicts in
    place, anywhere in the file: a dict literal's keys may not be all its keys."""
    written, mutated = _dict_writes(mod)
    return mutated or not written <= keys


@lru_cache(maxsize=64)
def _dict_writes(mod: ModuleAnalysis) -> tuple[frozenset, bool]:
    """The keys the file writes by subscript (None for one it cannot read), and whether it updates dicts in place."""
    written = frozenset(_string_index(t.target) for t in [*mod.all(cst.AssignTarget), *mod.all(cst.AugAssign)]
                        if isinstance(t.target, cst.Subscript))
    return written, any(isinstance(c.func, cst.Attribute) and c.func.attr.value in _MUTATORS for c in mod.all(cst.Call))
