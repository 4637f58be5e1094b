"""Rules about how a model's parameters are declared: registered, used, trainable."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.deaduses import ForwardUses
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register

TENSOR_FACTORIES = frozenset(f"torch.{n}" for n in ("tensor", "randn", "rand", "zeros", "ones", "empty", "full",
                                                      "normal", "eye", "arange", "linspace"))


def creates_parameters(mod: ModuleAnalysis, expr: cst.BaseExpression) -> bool:
    """A constructor call of a layer with parameters: nn.Linear(...), a module class of this file, nn.Parameter."""
    if not isinstance(expr, cst.Call):
        return False
    if mod.qualified(expr) & (names.PARAMETERIZED_NN | names.PARAMETER_CONSTRUCTORS):
        return True
    return isinstance(expr.func, cst.Name) and expr.func.value in mod.module_classes


def self_reads(cls: ClassInfo, attr: str) -> list[tuple[cst.Attribute, str]]:
    """Every read of `self.<attr>` in the class's methods, with the method's name."""
    return cls.self_reads.get(attr, [])


@register
class UnregisteredParameter(Rule):
    code = "GL301"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        for cls_name in sorted(mod.module_classes):
            cls = mod.classes[cls_name]
            for attr, values in cls.attr_values.items():
                for value, method in values:
                    if method.name.value != "__init__":
                        continue
                    problem = self._problem(mod, value)
                    reads = self_reads(cls, attr)
                    # read in forward & co, never in __init__ (where it may be wrapped: nn.Sequential(*self.layers))
                    if problem is not None and reads and all(method != "__init__" for _, method in reads):
                        yield Report(value, f"`self.{attr}` {problem}, so `model.parameters()` does not include it: "
                                     "the optimizer never updates it and `.to(device)`/`state_dict()` skip it.")

    @staticmethod
    def _problem(mod: ModuleAnalysis, value: cst.BaseExpression) -> str | None:
        if isinstance(value, (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp)):
            inner = [value.elt] if isinstance(value, cst.ListComp) else [value.value] if isinstance(value, cst.DictComp) \
                else [e.value for e in value.elements]
            if any(creates_parameters(mod, v) for v in inner):
                kind = "dict" if isinstance(value, (cst.Dict, cst.DictComp)) else "list"
                container = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
                return f"holds layers in a plain Python {kind} (use `{container}`)"
            return None
        if isinstance(value, cst.Call):
            func = value.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("to", "cuda") and \
                    creates_parameters(mod, func.value) and mod.qualified(func.value) & names.PARAMETER_CONSTRUCTORS:
                return f"is `{mod.code(value)}`, a non-leaf copy of the nn.Parameter (move the module instead)"
            if mod.qualified(value) & TENSOR_FACTORIES and any(
                    a.keyword is not None and a.keyword.value == "requires_grad" and
                    isinstance(a.value, cst.Name) and a.value.value == "True" for a in value.args):
                return "is a plain tensor with requires_grad=True, not an `nn.Parameter`"
            if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and \
                    mod.qualified(func.value) & TENSOR_FACTORIES:
                return "is a plain tensor with requires_grad_(), not an `nn.Parameter`"
        return None


@register
class UnusedLayer(Rule):
    code = "GL302"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        used_anywhere = {n.attr.value for n in mod.all(cst.Attribute) if not mod.is_written(n)}
        dynamic = any(isinstance(n.func, cst.Name) and n.func.value in ("getattr", "vars") or
                      isinstance(n.func, cst.Attribute) and n.func.attr.value in ("children", "named_children", "modules",
                                                                                    "named_modules", "__dict__")
                      for n in mod.all(cst.Call))
        if dynamic:
            return
        for cls_name in sorted(mod.module_classes):
            cls = mod.classes[cls_name]
            if mod.class_method(cls, "forward") is None:
                continue
            for attr, values in cls.attr_values.items():
                if attr in used_anywhere:
                    continue
                for value, method in values:
                    if method.name.value == "__init__" and creates_parameters(mod, value):
                        yield Report(value, f"`self.{attr}` = `{mod.code(value)}` is never used: no forward path "
                                     "reads it, so its parameters never get a gradient (and still cost memory, "
                                     "optimizer state and DDP's unused-parameter checks). Use it in forward() or remove it.")


@register
class LayerOnlyInDeadBranch(Rule):
    code = "GL303"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        constants = StringConstants(analysis)
        uses = ForwardUses(analysis.flow, analysis.constants)
        for cls_name in sorted(mod.module_classes):
            cls = mod.classes[cls_name]
            dead = []  # (the suite that never runs, its `if`, why, related places)
            for method in cls.methods.values():
                ctx = _context(mod, method, cls)
                for stmt in walk(method.body, cst.If):
                    found = _never_equal(stmt.test, ctx, constants)
                    if found is not None:
                        compared, options = found
                        dead.append((stmt.body, stmt, f"`{compared}` can only be " + " or ".join(
                            f'"{o}"' for o in sorted(options)) + ", so this layer never trains. Fix the spelling of "
                            "the compared value.", ()))
                    else:
                        dead.extend(_decided_dead_suites(analysis, stmt, ctx))
            for attr, values in cls.attr_values.items():
                creations = [v for v, m in values if m.name.value == "__init__" and creates_parameters(mod, v)]
                reads = [node for node, _ in self_reads(cls, attr)]
                if not creations or not reads or any(_within(mod, c, d[0]) for c in creations for d in dead):
                    continue
                branches = [next((d for d in dead if _within(mod, r, d[0])), None) for r in reads]
                if all(branches):
                    suite, stmt, why, related = branches[0]
                    where = "under" if suite is stmt.body else "in the `else` of"
                    yield Report(creations[0], f"`self.{attr}` is used only {where} `if {mod.code(stmt.test)}` "
                                 f"(line {mod.line(stmt)}), which never runs: {why}",
                                 (Related(stmt, "the branch that never runs"), *related))
                else:
                    yield from _output_used_only_in_dead_branches(analysis, uses, cls, attr, creations[0])


def _output_used_only_in_dead_branches(analysis, uses: ForwardUses, cls: ClassInfo, attr: str,
                                       creation) -> Iterator[Report]:
    """The layer's output is computed on every step, but every use of it (followed through forward's returned tuple,
    the caller's unpacking and a loss helper) sits in a branch the file's values never run."""
    mod = analysis.module
    reads = [(node, cls.methods[method]) for node, method in self_reads(cls, attr)
             if method != "__init__" and method in cls.methods]
    if not reads:
        return
    found = [uses.dead_only(node, _context(mod, method, cls)) for node, method in reads]
    if not all(found):
        return
    dead = found[0][0]
    known = dead.known
    yield Report(creation, f"`self.{attr}`'s output is used only {dead.describe(mod)} with the values this file "
                 f"gives ({known.how}, line {known.module.line(known.origin)}): its term never gets a gradient, so "
                 "this layer never trains.",
                 (Related(dead.place, "the use that has no effect"),
                  Related(known.origin, f"the value that decides it: {known.how}", known.module)))


class StringConstants:
    """The string values an expression can take, when every one of them is a literal in the file."""

    MAX_DEPTH = 5

    def __init__(self, analysis) -> None:
        self.flow = analysis.flow
        self.module = analysis.module
        self.assigned_attrs = {t.target.attr.value for a in self.module.all(cst.Assign) for t in a.targets
                               if isinstance(t.target, cst.Attribute) and not
                               (isinstance(t.target.value, cst.Name) and t.target.value.value == "self")}

    def of(self, expr, ctx, depth: int = 0) -> set[str] | None:
        if depth > self.MAX_DEPTH:
            return None
        if isinstance(expr, cst.SimpleString):
            return {expr.evaluated_value}
        if isinstance(expr, cst.Name):
            declared: set[str] = set()
            for binding in ctx.module.scopes.bindings(expr):
                if isinstance(binding.node, cst.Param):
                    fn = ctx.module.enclosing_function(binding.node)
                    if fn is not None and fn.name.value in ("forward", "__call__"):
                        return None  # whoever calls the model chooses it, from outside this file
                    declared |= _literal_options(ctx.module, binding.node.annotation)
            values = list(self.flow.assigned_values(expr, ctx))
            found = self._union([self.of(v, c, depth + 1) for v, c in values]) if values else None
            return found | declared if found is not None else None
        if isinstance(expr, cst.Attribute):
            owner = self.flow.class_of(expr.value, ctx)
            name = expr.attr.value
            if owner is None or (name in self.assigned_attrs and not _is_self(expr.value)):
                return None
            results = [self.of(v, _context(owner.module, m, owner), depth + 1) for v, m in owner.attr_values.get(name, ())]
            if name in owner.field_defaults:
                results.append(self.of(owner.field_defaults[name], _context(owner.module, None, owner), depth + 1))
                results.append(self._constructor_keywords(owner, name, depth))
            return self._union(results) if results else None
        return None

    def _constructor_keywords(self, owner: ClassInfo, name: str, depth: int) -> set[str] | None:
        """Values passed for a dataclass field: `Config(pooling="attn")`; positional arguments are unknown."""
        results: set[str] = set()
        for call in self.module.all(cst.Call):
            if isinstance(call.func, cst.Name) and call.func.value == owner.node.name.value:
                for arg in call.args:
                    if arg.keyword is None:
                        return None
                    if arg.keyword.value == name:
                        ctx = _context(self.module, self.module.enclosing_function(call), self.module.enclosing_class(call))
                        value = self.of(arg.value, ctx, depth + 1)
                        if value is None:
                            return None
                        results |= value
        return results

    @staticmethod
    def _union(results) -> set[str] | None:
        if not results or any(r is None for r in results):
            return None
        return set().union(*results)


def _literal_options(mod: ModuleAnalysis, annotation: cst.Annotation | None) -> set[str]:
    """The strings a `Literal["a", "b"]` annotation declares valid: the code means to handle each of them."""
    if annotation is None:
        return set()
    return {el.slice.value.evaluated_value for sub in walk(annotation.annotation, cst.Subscript)
            if any(q.endswith(".Literal") for q in mod.qualified(sub.value))
            for el in sub.slice if isinstance(el.slice, cst.Index) and isinstance(el.slice.value, cst.SimpleString)}


def _never_equal(test, ctx, constants: StringConstants):
    """(`compared`, its possible values) for `x == "lit"` / `x in ("a", "b")` when x never takes those values."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    op = test.comparisons[0]
    right = op.comparator
    if isinstance(op.operator, cst.Equal) and isinstance(right, cst.SimpleString):
        wanted = {right.evaluated_value}
    elif isinstance(op.operator, cst.In) and isinstance(right, (cst.Tuple, cst.List, cst.Set)) and \
            all(isinstance(e.value, cst.SimpleString) for e in right.elements):
        wanted = {e.value.evaluated_value for e in right.elements}
    else:
        return None
    options = constants.of(test.left, ctx)
    if not options or options & wanted:
        return None
    return ctx.module.code(test.left), options


def _decided_dead_suites(analysis, stmt: cst.If, ctx):
    """The branch of an `if` whose comparison has one value the file decides (`cfg.aux_weight > 0` with the default
    0.0): its body when the test is always false, its `else` when always true. A bare flag (`if cfg.use_aux:`) is a
    switch its author means to turn, so only tests that compare are decided."""
    if not any(isinstance(n, cst.Comparison) for n in walk(stmt.test, cst.Comparison)):
        return []
    known = analysis.constants.value(stmt.test, ctx)
    if known is None or not isinstance(known.value, bool) or not known.elsewhere:
        return []
    suite = stmt.body if known.value is False else stmt.orelse.body if isinstance(stmt.orelse, cst.Else) else None
    if suite is None:
        return []
    why = (f"the test is always {known.value} with the values this file gives ({known.how}, line "
           f"{known.module.line(known.origin)}), so this layer never trains.")
    return [(suite, stmt, why, (Related(known.origin, f"the value that decides the test: {known.how}", known.module),))]


def _context(mod, method, cls):
    from graphlint.engine.flow import Context

    return Context(mod, method, cls)


def _is_self(expr) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "self"


def _within(mod: ModuleAnalysis, node: cst.CSTNode, suite: cst.CSTNode) -> bool:
    return any(a is suite for a in mod.ancestors(node))
