"""Layers frozen (`requires_grad` False) on the run the file's values decide, against what the code says it wants.

A freeze is only reported with evidence of a mistake beside the value that decides it: a slice meant to keep
the last blocks trainable that covers them all, trainable-name prefixes that name no module of the model, or a
freeze decided by a negated command-line flag / of a module given its own optimizer group.
"""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.constants import EnumMember, Known
from graphlint.engine.flow import Context
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register
from graphlint.rules.structure import creates_parameters

# Calls that give a module attributes its class body does not show: parameter names are then unknown.
_DYNAMIC_ATTRIBUTES = frozenset({"setattr", "add_module", "register_module", "register_parameter", "__setattr__"})


@register
class FrozenByDecidedValue(Rule):
    code = "GL702"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        for site, holder, value in _freezes(mod):
            ctx = Context(mod, mod.enclosing_function(site), mod.enclosing_class(site))
            kept = value if not _is_false(analysis, value, ctx) else _kept_when(mod, site)
            found = _unmatched_prefixes(analysis, site, holder, kept, ctx) if kept is not None else None
            if found is None and _is_false(analysis, value, ctx):
                found = _whole_slice(analysis, holder, ctx) or _decided_branch(analysis, site, holder, ctx)
            elif found is None:
                found = _decided_value(analysis, value, holder, ctx)
            if found is not None:
                message, known = found
                yield Report(site, message, (Related(known.origin, f"the value that decides it: {known.how}",
                                                     known.module),))


def _freezes(mod: ModuleAnalysis) -> Iterator[tuple[cst.CSTNode, cst.BaseExpression, cst.BaseExpression]]:
    """(statement or call, what it sets, the value): `x.requires_grad = v` and `x.requires_grad_(v)`."""
    for assign in mod.all(cst.Assign):
        for target in assign.targets:
            if isinstance(target.target, cst.Attribute) and target.target.attr.value == "requires_grad":
                yield assign, target.target.value, assign.value
    for call in mod.all(cst.Call):
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "requires_grad_":
            arg = call.args[0].value if call.args else cst.Name("True")
            yield call, call.func.value, arg


def _kept_when(mod: ModuleAnalysis, site: cst.CSTNode) -> cst.BaseExpression | None:
    """The condition that spares a parameter from a freeze: `M` of `if not M: p.requires_grad = False`, or of
    `if M: ... else: p.requires_grad = False`."""
    child = site
    for parent in mod.ancestors(site):
        if isinstance(parent, (cst.FunctionDef, cst.For)):
            return None
        if isinstance(parent, cst.If) and child is not parent.test:
            if child is parent.body and isinstance(parent.test, cst.UnaryOperation) and \
                    isinstance(parent.test.operator, cst.Not):
                return parent.test.expression
            return parent.test if child is not parent.body else None
        child = parent
    return None


def _is_false(analysis, value: cst.BaseExpression, ctx: Context) -> bool:
    return isinstance(value, cst.Name) and value.value == "False" or analysis.flow.always_false(value, ctx)


def _loop_over(mod: ModuleAnalysis, name: cst.Name) -> cst.For | None:
    """The `for` loop that binds a name, when that is its only binding."""
    bindings = mod.scopes.bindings(name)
    if len(bindings) != 1:
        return None
    loop = next((a for a in mod.ancestors(bindings[0].node) if isinstance(a, cst.For)), None)
    return loop if loop is not None and any(n is bindings[0].node for n in walk(loop.target, cst.Name)) else None


def _container(mod: ModuleAnalysis, holder: cst.BaseExpression) -> tuple[cst.For, cst.BaseExpression] | None:
    """`p` of `for p in blk.parameters()` inside `for blk in model.blocks[:n]`: that outer loop and its iterable."""
    for _ in range(3):
        if not isinstance(holder, cst.Name):
            return None
        loop = _loop_over(mod, holder)
        if loop is None:
            return None
        it = loop.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
                it.func.attr.value in ("parameters", "children", "modules"):
            holder = it.func.value
            continue
        return loop, it
    return None


def _module_of(mod: ModuleAnalysis, holder: cst.BaseExpression) -> cst.BaseExpression:
    """`model.encoder` for `p` of `for p in model.encoder.parameters()`; the holder itself otherwise."""
    while isinstance(holder, cst.Name):
        loop = _loop_over(mod, holder)
        it = loop.iter if loop is not None else None
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and
                it.func.attr.value in ("parameters", "children", "modules")):
            break
        holder = it.func.value
    return holder


# -- the last N blocks kept trainable, N decided 0 ------------------------------------------------------------------
def _whole_slice(analysis, holder: cst.BaseExpression, ctx: Context) -> tuple[str, Known] | None:
    """`for blk in blocks[:len(blocks) - k]` freezing with k decided 0: the slice meant to spare the last k
    blocks covers them all."""
    mod = ctx.module
    found = _container(mod, holder)
    if found is None or not isinstance(found[1], cst.Subscript) or len(found[1].slice) != 1:
        return None
    sliced = found[1]
    part = sliced.slice[0].slice
    if not isinstance(part, cst.Slice) or part.lower is not None or part.step is not None or part.upper is None:
        return None
    loop_ctx = Context(mod, mod.enclosing_function(found[0]), mod.enclosing_class(found[0]))
    held = analysis.constants.held_in(part.upper, loop_ctx)
    upper, upper_ctx = held if held is not None else (None, None)
    if not (isinstance(upper, cst.BinaryOperation) and isinstance(upper.operator, cst.Subtract) and
            _is_length_of(analysis, upper.left, upper_ctx, sliced.value, loop_ctx)):
        return None
    spared = analysis.constants.value(upper.right, upper_ctx)
    if spared is None or not spared.elsewhere or isinstance(spared.value, bool) or \
            not isinstance(spared.value, (int, float)) or spared.value > 0:
        return None
    return (f"`{mod.code(sliced)}` covers every element of `{mod.code(sliced.value)}`: it ends at "
            f"`{mod.code(upper)}` and `{mod.code(upper.right)}` is {spared.value} ({spared.how}, line "
            f"{spared.module.line(spared.origin)}), so no block is left trainable. Make the default keep the blocks "
            "meant to train, or fail on 0.", spared)


def _is_length_of(analysis, expr: cst.BaseExpression, ctx: Context, container: cst.BaseExpression,
                  container_ctx: Context) -> bool:
    """`len(blocks)` for `blocks`, or a value equal to the number of layers the model builds into it
    (`cfg.depth` for `nn.ModuleList(Block() for _ in range(cfg.depth))`)."""
    mod = ctx.module
    if isinstance(expr, cst.Call) and mod.code(expr.func) == "len" and len(expr.args) == 1:
        return mod.code(expr.args[0].value) == container_ctx.module.code(container)
    length = _built_length(analysis, container, container_ctx)
    value = analysis.constants.value(expr, ctx) if length is not None else None
    return value is not None and not isinstance(value.value, bool) and value.value == length


def _built_length(analysis, container: cst.BaseExpression, ctx: Context) -> int | None:
    """The number of layers in `model.blocks` when its class builds it from `range(n)` with n known
    (`nn.ModuleList(Block() for _ in range(depth))`, `nn.Sequential(*[... for _ in range(depth)])`)."""
    if not isinstance(container, cst.Attribute):
        return None
    cls = analysis.flow.class_of(container.value, ctx)
    values = cls.attr_values.get(container.attr.value, ()) if cls is not None else ()
    if len(values) != 1 or not isinstance(values[0][0], cst.Call) or len(values[0][0].args) != 1:
        return None
    built, method = values[0]
    items = built.args[0].value
    if isinstance(items, (cst.List, cst.Tuple)) and len(items.elements) == 1 and \
            isinstance(items.elements[0], cst.StarredElement):
        items = items.elements[0].value
    if not isinstance(items, (cst.GeneratorExp, cst.ListComp)) or items.for_in.ifs or items.for_in.inner_for_in or \
            not isinstance(items.for_in.iter, cst.Call) or cls.module.code(items.for_in.iter.func) != "range" or \
            len(items.for_in.iter.args) != 1:
        return None
    count = analysis.constants.value(items.for_in.iter.args[0].value, Context(cls.module, method, cls))
    return count.value if count is not None and isinstance(count.value, int) and \
        not isinstance(count.value, bool) else None


# -- a freeze under a condition the values decide ---------------------------------------------------------------------
def _decided_branch(analysis, site: cst.CSTNode, holder: cst.BaseExpression, ctx: Context) -> tuple[str, Known] | None:
    """`if not args.finetune_backbone: model.backbone.requires_grad_(False)` where the values decide the freeze runs,
    and the code shows it wants the module trained (see `_meant_to_train`)."""
    mod = ctx.module
    child: cst.CSTNode = site
    for parent in mod.ancestors(site):
        if isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
            return None
        if isinstance(parent, cst.If) and child is not parent.test:
            break
        child = parent
    else:
        return None
    known = analysis.constants.value(parent.test, ctx)
    runs = child is parent.body
    if known is None or not known.elsewhere or isinstance(known.value, EnumMember) or bool(known.value) is not runs:
        return None
    return _meant_to_train(analysis, holder, known, f"`if {mod.code(parent.test)}` is always {bool(known.value)}")


def _decided_value(analysis, value: cst.BaseExpression, holder: cst.BaseExpression, ctx: Context
                   ) -> tuple[str, Known] | None:
    """`model.backbone.requires_grad_(args.finetune_backbone)` with a value the file decides False."""
    known = analysis.constants.value(value, ctx)
    if known is None or not known.elsewhere or known.value is not False:
        return None
    return _meant_to_train(analysis, holder, known, f"`{ctx.module.code(value)}` is False")


def _meant_to_train(analysis, holder: cst.BaseExpression, known: Known, decided: str) -> tuple[str, Known] | None:
    """A freeze the defaults decide is a fault only with evidence the module should train: the deciding flag is
    negated against its destination (`--no-backbone-finetune` storing True into `finetune_backbone`), or the module
    gets its own optimizer group."""
    mod = analysis.module
    target = mod.code(_module_of(mod, holder))
    negated = _negated_flag(mod, known)
    grouped = _own_optimizer_group(analysis, target)
    written_false = _written_false(known)
    if not negated and not grouped and not written_false:
        return None
    if written_false:
        why = (f"the default is written {written_false!r}, but argparse passes a string default through "
               f"`type=bool` and any non-empty string is True")
    elif negated:
        why = (f"the option `{negated}` stores True into a destination named for the opposite, so it defaults to "
               "the freezing side")
    else:
        why = f"yet `{target}` gets its own optimizer group (line {mod.line(grouped)}), so it is meant to train"
    return (f"`{target}` is frozen on every run with the file's defaults: {decided} ({known.how}, line "
            f"{known.module.line(known.origin)}); {why}.", known)


def _written_false(known: Known) -> str | None:
    """`add_argument("--freeze", type=bool, default="False")`: the default says off, `bool("False")` is True."""
    call = known.origin
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_argument"):
        return None
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    kind, default = keywords.get("type"), keywords.get("default")
    if isinstance(kind, cst.Name) and kind.value == "bool" and isinstance(default, cst.SimpleString) and \
            default.evaluated_value.strip().lower() in ("false", "0", "no", "off", "none", "f", "n"):
        return default.evaluated_value
    return None


def _negated_flag(mod: ModuleAnalysis, known: Known) -> str | None:
    """`add_argument("--no-x", dest="x", action="store_true")`: the flag's name says off, its value says on."""
    call = known.origin
    if not isinstance(call, cst.Call) or not (isinstance(call.func, cst.Attribute) and
                                              call.func.attr.value == "add_argument"):
        return None
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    action, dest = keywords.get("action"), keywords.get("dest")
    if not (isinstance(action, cst.SimpleString) and action.evaluated_value == "store_true" and
            isinstance(dest, cst.SimpleString)):
        return None
    flags = [a.value.evaluated_value for a in call.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
    negated = [f for f in flags if f.startswith(("--no-", "--no_", "--disable-", "--disable_"))]
    destination = dest.evaluated_value
    if negated and not destination.startswith(("no_", "disable")):
        return negated[0]
    return None


def _own_optimizer_group(analysis, target: str) -> cst.CSTNode | None:
    """A `{"params": <target>.parameters(), ...}` group with its own settings in an optimizer of the file."""
    mod = analysis.module
    for opt in analysis.flow.optimizers:
        if opt.module is not mod or opt.params is None:
            continue
        held = analysis.constants.held(opt.params, Context(mod, opt.function, mod.enclosing_class(opt.call)))
        for group in walk(held if held is not None else opt.params, cst.Dict):
            entries = {e.key.evaluated_value: e.value for e in group.elements
                       if isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString)}
            params = entries.get("params")
            if params is not None and len(entries) > 1 and any(
                    isinstance(c.func, cst.Attribute) and c.func.attr.value == "parameters" and
                    mod.code(c.func.value) == target for c in walk(params, cst.Call)):
                return group
    return None


# -- trainable-name prefixes ---------------------------------------------------------------------------------------------
def _unmatched_prefixes(analysis, site: cst.CSTNode, holder: cst.BaseExpression, value: cst.BaseExpression,
                        ctx: Context) -> tuple[str, Known] | None:
    """`p.requires_grad = name.startswith(cfg.trainable)` over `model.named_parameters()`, where a prefix names no
    module of the model's class (defined in the file) and so the modules only it would have kept are frozen."""
    mod = ctx.module
    if not isinstance(holder, cst.Name):
        return None
    loop = _loop_over(mod, holder)
    if loop is None or not isinstance(loop.target, cst.Tuple) or len(loop.target.elements) != 2 or \
            not isinstance(loop.iter, cst.Call) or not isinstance(loop.iter.func, cst.Attribute) or \
            loop.iter.func.attr.value != "named_parameters" or loop.iter.args:
        return None
    name = loop.target.elements[0].value
    if not isinstance(name, cst.Name):
        return None
    prefixes = _prefixes_tested(analysis, value, name.value, ctx)
    if prefixes is None:
        return None
    known, strings = prefixes
    cls = analysis.flow.class_of(loop.iter.func.value, ctx)
    layers = _layer_names(mod, cls) if cls is not None else None
    if not layers:
        return None
    attributes = set(cls.attr_values)

    def matches(prefix: str, attr: str) -> bool:
        return attr.startswith(prefix) or prefix.startswith(attr + ".")

    dead = [p for p in strings if not any(matches(p, a) for a in attributes)]
    frozen = sorted(a for a in layers if not any(matches(p, a) for p in strings))
    if not dead or not frozen:
        return None
    return (f"`{mod.code(value)}` keeps only parameters whose names start with one of {list(strings)} "
            f"({known.how}, line {known.module.line(known.origin)}), but " +
            ", ".join(f'"{p}"' for p in dead) + f" names no module of `{cls.node.name.value}` (its modules: " +
            ", ".join(sorted(layers)) + "), so " + ", ".join(f"`{a}`" for a in frozen) +
            " are frozen and never train.", known)


def _prefixes_tested(analysis, value: cst.BaseExpression, name: str, ctx: Context) -> tuple[Known, tuple] | None:
    """The prefixes (decided elsewhere) that `name.startswith(P)` or `any(name.startswith(x) for x in P)` tests."""
    collection = None
    if isinstance(value, cst.Call) and _is_startswith(value, name):
        collection = value.args[0].value
    elif isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "any" and \
            len(value.args) == 1 and isinstance(value.args[0].value, (cst.GeneratorExp, cst.ListComp)):
        gen = value.args[0].value
        loop = gen.for_in
        if loop.inner_for_in is None and not loop.ifs and isinstance(loop.target, cst.Name) and \
                isinstance(gen.elt, cst.Call) and _is_startswith(gen.elt, name) and \
                isinstance(gen.elt.args[0].value, cst.Name) and gen.elt.args[0].value.value == loop.target.value:
            collection = loop.iter
    if collection is None:
        return None
    known = analysis.constants.value(collection, ctx)
    if known is None or not known.elsewhere:
        return None
    strings = known.value if isinstance(known.value, tuple) else (known.value,)
    return (known, strings) if strings and all(isinstance(s, str) and s for s in strings) else None


def _is_startswith(call: cst.Call, name: str) -> bool:
    return isinstance(call.func, cst.Attribute) and call.func.attr.value == "startswith" and \
        isinstance(call.func.value, cst.Name) and call.func.value.value == name and len(call.args) == 1 and \
        call.args[0].keyword is None


def _layer_names(mod: ModuleAnalysis, cls: ClassInfo) -> set[str] | None:
    """The attributes of a module class that hold layers with parameters, when the class shows all its attributes
    (no base but nn.Module, no setattr / add_module); None otherwise."""
    if cls.module is not mod or cls.node.name.value not in mod.module_classes or \
            any(b not in names.MODULE_BASES for b in cls.bases):
        return None
    for call in walk(cls.node, cst.Call):
        func = call.func
        called = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if called in _DYNAMIC_ATTRIBUTES:
            return None
    if any(a.attr.value == "__dict__" for a in walk(cls.node, cst.Attribute)):
        return None
    return {attr for attr, values in cls.attr_values.items()
            if any(creates_parameters(mod, v) for v, _ in values)}
