"""Rules decided by which code runs: the loop a base class defines, the hooks it calls, the methods nobody calls."""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Iterator

import libcst as cst

from graphlint.engine.effects import Effects
from graphlint.engine.flow import Context, function_key
from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register

# what an optimizer may be asked without being stepped
NOT_STEPPING = frozenset({"zero_grad", "state_dict", "load_state_dict", "param_groups", "add_param_group", "state",
                          "defaults"})
DYNAMIC_ACCESS = frozenset({"getattr", "vars", "setattr", "__dict__", "__getattr__", "__getattribute__"})


def never_stepped_by_the_class_loop(analysis) -> Iterator[Report]:
    """GL207's second mechanism (the rule lives in optimizer.py): `self.x = Opt(...)` in a class whose loop (its
    own or a base class's, in any analysed file) steps other optimizers and never reads `self.x` but to zero it."""
    flow, mod = analysis.flow, analysis.module
    for site in flow.optimizers:
        if site.module is not mod or site.function is None:
            continue
        stored = _stored_in_self_attribute(mod, site.call)
        cls = mod.enclosing_class(site.call)
        if stored is None or cls is None:
            continue
        _, attr = stored
        lineage = flow.hierarchy.ancestors(cls) + flow.hierarchy.subclasses(cls)
        modules = {c.module.path: c.module for c in lineage} | {mod.path: mod}
        if any(_may_use(m, attr) for m in modules.values()):
            continue
        loop_steps = [(c, call) for c in lineage for call in _self_steps(c)]
        if not loop_steps:
            continue  # no loop of this class steps anything: the stepping happens where we cannot see
        trains = _trains_only_here(analysis, site)
        if not trains:
            continue
        owner_cls, step = loop_steps[0]
        stepped = sorted({owner_cls.module.code(c.func.value) for _, c in loop_steps})
        loop = owner_cls.module.enclosing_function(step)
        where = f"`{owner_cls.node.name.value}.{loop.name.value}`" if loop is not None else "the training loop"
        names = ", ".join(f"`{x}`" for x in trains[:3]) + (" …" if len(trains) > 3 else "")
        yield Report(site.call, f"`self.{attr}` is never stepped: the loop that trains this class, {where} "
                     f"(line {owner_cls.module.line(step)}), steps only {', '.join(f'`{s}`' for s in stepped)}, and "
                     f"nothing else reads `self.{attr}`. {names} get gradients from the loss and never move. "
                     f"Step `self.{attr}` in the loop (override it), or give these parameters to the stepped "
                     "optimizer.", (Related(step, "the step the loop runs", owner_cls.module),))


def _trains_only_here(analysis, site) -> list[str]:
    """Labels of the owners this optimizer holds that reach a loss and that no other optimizer holds."""
    losses = analysis.losses
    mine = losses.coverage_of(site)
    if mine is None:
        return []
    others: set = set()
    for other in analysis.flow.optimizers:
        if other is site:
            continue
        covered = losses.coverage_of(other)
        if covered is None:
            return []
        others |= covered
    owners = [o for o in losses.owners if o in mine and o not in others and o in losses.reaches_loss_cleanly
              and o not in losses.frozen_owners and o not in losses.updated_outside_autograd]
    return list(losses.outermost_labels(owners))


def _stored_in_self_attribute(mod: ModuleAnalysis, call: cst.Call) -> tuple[cst.Assign, str] | None:
    """(`self.x = Opt(...)`, "x") when the optimizer is built straight into an attribute of `self`."""
    assign = mod.parent(call)
    if not isinstance(assign, cst.Assign) or assign.value is not call or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
        return assign, target.attr.value
    return None


def _may_use(mod: ModuleAnalysis, attr: str) -> bool:
    """Anything in the file may step the optimizer stored as ``attr``: a read of it other than zero_grad() or its
    state, its name in a string (`getattr(self, name)`), or an attribute looked up by name."""
    for node in mod.all(cst.Attribute):
        if node.attr.value == attr and not mod.is_written(node):
            parent = mod.parent(node)
            if not (isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in NOT_STEPPING):
                return True
        if node.attr.value in DYNAMIC_ACCESS:
            return True
    if any(n.value in DYNAMIC_ACCESS for n in mod.all(cst.Name)):
        return True
    return any(attr in s.evaluated_value for s in mod.all(cst.SimpleString) if isinstance(s.evaluated_value, str))


def _self_steps(cls: ClassInfo) -> list[cst.Call]:
    """`self.<optimizer>.step()` calls in the class's own methods: the loop this class runs."""
    found = []
    for method in cls.methods.values():
        for call in walk(method.body, cst.Call):
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "step" and not call.args and \
                    isinstance(func.value, cst.Attribute) and isinstance(func.value.value, cst.Name) and \
                    func.value.value.value == "self" and "sched" not in func.value.attr.value.lower():
                found.append(call)
    return found


# bases whose own code calls no method of a subclass by a name the analysed files cannot see
PLAIN_BASES = frozenset({"object", "torch.nn.Module", "abc.ABC"})
MODULE_CALLBACKS = frozenset({"forward", "extra_repr"})


@register
class LayerOnlyInUncalledMethod(Rule):
    code = "GL306"

    def check(self, analysis) -> Iterator[Report]:
        flow, mod, losses = analysis.flow, analysis.module, analysis.losses
        if not flow.sinks:
            return
        for cls in mod.classes.values():
            lineage = flow.hierarchy.ancestors(cls)
            if len(lineage) < 2 or not _only_plain_bases(flow, lineage):
                continue
            hooks = _inherited_hooks(flow, cls, lineage)
            if not hooks:
                continue
            modules = {c.module.path: c.module for c in lineage + flow.hierarchy.subclasses(cls)} | {mod.path: mod}
            for name, method in cls.methods.items():
                if name.startswith("__") or name in MODULE_CALLBACKS or method.decorators or \
                        any(_may_call(m, name) for m in modules.values()):
                    continue
                owners = self._trained_only_through(analysis, ("ret", function_key(cls.module, method)))
                if not owners:
                    continue
                hook_cls, hook_call = max(hooks, key=lambda h: _similarity(h[1].func.attr.value, name))
                hook = hook_call.func.attr.value
                loop = hook_cls.module.enclosing_function(hook_call)
                first = owners[0]
                data = flow.graph.nodes[first]
                labels = losses.outermost_labels(owners)
                names = ", ".join(f"`{x}`" for x in labels[:3]) + (" …" if len(labels) > 3 else "")
                yield Report(data["site"], f"{names} reach{'es' if len(labels) == 1 else ''} a loss only through "
                             f"`{cls.node.name.value}.{name}`, which nothing calls: the loop "
                             f"`{hook_cls.node.name.value}.{loop.name.value}` (line {hook_cls.module.line(hook_call)}) "
                             f"calls `self.{hook}`, and `{cls.node.name.value}` does not define `{hook}`, so the "
                             f"base class's runs instead. {'It gets' if len(labels) == 1 else 'They get'} no gradient. "
                             f"Name the method `{hook}` (the hook the loop calls).",
                             (Related(method.name, "the method nothing calls", cls.module),
                              Related(hook_call, "the hook the loop calls instead", hook_cls.module)),
                             module=data["module"])

    @staticmethod
    def _trained_only_through(analysis, ret) -> list:
        """Owners expected to train that reach no loss, yet reach this return value of a loss computation cleanly."""
        losses, graph = analysis.losses, analysis.flow.graph
        if ret not in graph:
            return []
        upstream = {ret}
        stack = [ret]
        while stack:
            current = stack.pop()
            for pred in graph.predecessors(current):
                if pred not in upstream and graph.edges[pred, current]["cut"] is None:
                    upstream.add(pred)
                    stack.append(pred)
        if not any(graph.nodes[n].get("loss_term") for n in upstream if n in graph):
            return []
        return [o for o in losses.owners if o in upstream and o not in losses.reaches_loss and
                graph.nodes[o].get("kind") == "owner" and losses.expected_to_train(o)]


def _only_plain_bases(flow, lineage: list[ClassInfo]) -> bool:
    """Every base of the lineage is a class of the run or one that calls nothing by name (`object`, `nn.Module`):
    a framework base (Lightning, a library Trainer) calls its hooks from code we do not read."""
    for cls in lineage:
        run_bases = {b.node.name.value for b in flow.hierarchy.bases(cls)}
        if any(b.rpartition(".")[2] not in run_bases and b not in PLAIN_BASES for b in cls.bases):
            return False
    return True


def _inherited_hooks(flow, cls: ClassInfo, lineage: list[ClassInfo]) -> list[tuple[ClassInfo, cst.Call]]:
    """`self.hook(...)` calls in the bases' methods where ``cls`` runs a base's `hook` (it does not override it)."""
    found = []
    for base in lineage[1:]:
        for method in base.methods.values():
            for call in walk(method.body, cst.Call):
                func = call.func
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
                    target = flow.hierarchy.method(cls, func.attr.value)
                    if target is not None and target[0] is not cls:
                        found.append((base, call))
    return found


def _may_call(mod: ModuleAnalysis, name: str) -> bool:
    """The file may call the method ``name``: reads an attribute of that name, uses the bare name, holds it in a
    string (`getattr(self, "name")`, a hook table), or looks attributes up by a computed name."""
    if any(n.attr.value == name and not mod.is_written(n) or n.attr.value in DYNAMIC_ACCESS for n in mod.all(cst.Attribute)):
        return True
    if any(n.value == name and not _defines(mod, n) or n.value in DYNAMIC_ACCESS for n in mod.all(cst.Name)):
        return True
    return any(name in s.evaluated_value for s in mod.all(cst.SimpleString) if isinstance(s.evaluated_value, str))


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio()


def _defines(mod: ModuleAnalysis, name: cst.Name) -> bool:
    parent = mod.parent(name)
    return isinstance(parent, (cst.FunctionDef, cst.ClassDef)) and parent.name is name


@register
class TrainModeDoesNotUnfreeze(Rule):
    code = "GL703"

    def check(self, analysis) -> Iterator[Report]:
        flow, losses = analysis.flow, analysis.losses
        coverage = losses.optimizer_coverage
        if not flow.frozen or not coverage or not losses.training_sink_nodes:
            return
        modules = {analysis.module.path: analysis.module} | {m.path: m for _, _, m in flow.frozen}
        if any(_may_unfreeze(m) for m in modules.values()):
            return
        frozen = []  # (objects frozen as a whole, the freeze, its module)
        for value, node, mod in flow.frozen:
            if _conditional(mod, node):
                continue
            objects = {o for n in value.nodes for o in flow.points_to(n)}
            if objects and any(m in coverage for o in objects for m in flow.members(o)):
                frozen.append((objects, node, mod))
        if not frozen:
            return
        for mod in modules.values():
            for call in mod.all(cst.Call):
                func = call.func
                if not (isinstance(func, cst.Attribute) and func.attr.value == "train") or \
                        call.args and _is_false(call.args[0].value):
                    continue
                ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))
                receiver = {o for n in flow.eval(func.value, ctx).nodes for o in flow.points_to(n)}
                found = next(((node, fmod) for objects, node, fmod in frozen if receiver & objects), None)
                if found is None:
                    continue
                node, fmod = found
                what = mod.code(func.value)
                yield Report(call, f"`{mod.code(call)}` does not make `{what}` trainable: `.train()` only switches "
                             "dropout and batch-norm to training mode, while its parameters were frozen by "
                             f"`{fmod.code(node)}` (line {fmod.line(node)}) and nothing sets `requires_grad` back. "
                             "The optimizer holds them, yet they never get a gradient. Call "
                             f"`{what}.requires_grad_(True)` to unfreeze.",
                             (Related(node, "where the parameters are frozen", fmod),), module=mod)


def _may_unfreeze(mod: ModuleAnalysis) -> bool:
    """Anything in the file may turn gradients back on: `requires_grad_()` / `requires_grad_(x)` with x not False,
    or `requires_grad = x` with x not False."""
    for call in mod.all(cst.Call):
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and \
                not (call.args and _is_false(call.args[0].value)):
            return True
    for assign in mod.all(cst.Assign):
        if any(isinstance(t.target, cst.Attribute) and t.target.attr.value == "requires_grad" for t in assign.targets) \
                and not _is_false(assign.value):
            return True
    return False


def _conditional(mod: ModuleAnalysis, node: cst.CSTNode) -> bool:
    fn = mod.enclosing_function(node)
    return any(isinstance(a, (cst.If, cst.IfExp, cst.For, cst.While)) for a in mod.ancestors(node)
               if fn is None or any(b is fn for b in mod.ancestors(a)))


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


@register
class UnfrozenAfterFilteredOptimizer(Rule):
    code = "GL502"

    def check(self, analysis) -> Iterator[Report]:
        flow, mod, losses = analysis.flow, analysis.module, analysis.losses
        if not flow.frozen or not losses.training_sink_nodes or \
                any(_adds_param_group(m) for m in {mod.path: mod, **{m.path: m for _, _, m in flow.frozen}}.values()):
            return
        effects = Effects(flow)
        for site in flow.optimizers:
            fn = site.function
            if site.module is not mod or fn is None or site.params is None or \
                    not _filters_on_requires_grad(flow, site.params, Context(mod, fn, mod.enclosing_class(site.call))) \
                    or any(isinstance(a, (cst.For, cst.While)) for a in mod.ancestors(site.call)
                           if any(b is fn for b in mod.ancestors(a))):
                continue
            covered = losses.coverage_of(site)
            later = [o for o in flow.optimizers if o.function is fn and mod.line(o.call) > mod.line(site.call)]
            if not covered or later:
                continue
            ctx = Context(mod, fn, mod.enclosing_class(site.call))
            for call in walk(fn.body, cst.Call):
                if mod.line(call) <= mod.line(site.call):
                    continue
                for unfreeze in effects.unfreezes(call, ctx):
                    objects = {m for n in flow.eval(unfreeze.receiver, unfreeze.ctx).nodes
                               for o in flow.points_to(n) for m in flow.members(o)}
                    if not objects & covered or not objects & losses.frozen_owners:
                        continue
                    umod = unfreeze.module
                    yield Report(unfreeze.node, f"`{umod.code(unfreeze.node)}` turns gradients back on after the "
                                 f"optimizer was built from `{mod.code(site.params)}` (line {mod.line(site.call)}), "
                                 "which kept only the parameters that required grad then: the unfrozen ones are in no "
                                 f"optimizer and never move. It runs from `{mod.code(call)}` (line {mod.line(call)}). "
                                 "Build the optimizer over all parameters (frozen ones get no gradient and stay put), "
                                 "or `add_param_group` them when unfreezing.",
                                 (Related(site.call, "the optimizer, built from the parameters trainable then", mod),
                                  Related(call, "the call that runs the unfreeze, after the optimizer", mod)),
                                 module=umod)
                    return


def _filters_on_requires_grad(flow, params: cst.BaseExpression, ctx: Context) -> bool:
    """`filter(lambda p: p.requires_grad, ...)`, `[p for p in ... if p.requires_grad]`, or a name given one."""
    return flow.always(params, ctx, lambda e: any(n.attr.value == "requires_grad" for n in walk(e, cst.Attribute)))


def _adds_param_group(mod: ModuleAnalysis) -> bool:
    return any(n.attr.value == "add_param_group" for n in mod.all(cst.Attribute))
