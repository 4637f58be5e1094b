"""Rules decided by which code runs: the loop a base class defines, the hooks it calls, the methods nobody calls."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine.module import ClassInfo, ModuleAnalysis
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register

# what an optimizer may be asked without being stepped
NOT_STEPPING = frozenset({"zero_grad", "state_dict", "load_state_dict", "param_groups", "add_param_group", "state",
                          "defaults"})
DYNAMIC_ACCESS = frozenset({"getattr", "vars", "setattr", "__dict__", "__getattr__", "__getattribute__"})


@register
class OptimizerNeverStepped(Rule):
    code = "GL207"

    def check(self, analysis) -> Iterator[Report]:
        flow, mod, losses = analysis.flow, analysis.module, analysis.losses
        for site in flow.optimizers:
            if site.module is not mod or site.function is None:
                continue
            stored = _stored_in_self_attribute(mod, site.call)
            cls = mod.enclosing_class(site.call)
            if stored is None or cls is None:
                continue
            assign, attr = stored
            lineage = flow.hierarchy.ancestors(cls) + flow.hierarchy.subclasses(cls)
            modules = {c.module.path: c.module for c in lineage} | {mod.path: mod}
            if any(_may_use(m, attr) for m in modules.values()):
                continue
            loop_steps = [(c, call) for c in lineage for call in _self_steps(c)]
            if not loop_steps:
                continue  # no loop of this class steps anything: the stepping happens where we cannot see
            trains = self._trains_only_here(analysis, site)
            if not trains:
                continue
            owner_cls, step = loop_steps[0]
            stepped = sorted({owner_cls.module.code(c.func.value) for _, c in loop_steps})
            loop = owner_cls.module.enclosing_function(step)
            where = f"`{owner_cls.node.name.value}.{loop.name.value}`" if loop is not None else "the training loop"
            names = ", ".join(f"`{x}`" for x in trains[:3]) + (" …" if len(trains) > 3 else "")
            yield Report(assign, f"`self.{attr}` is never stepped: the loop that trains this class, {where} "
                         f"(line {owner_cls.module.line(step)}), steps only {', '.join(f'`{s}`' for s in stepped)}, and "
                         f"nothing else reads `self.{attr}`. {names} get gradients from the loss and never move. "
                         f"Step `self.{attr}` in the loop (override it), or give these parameters to the stepped "
                         "optimizer.", (Related(step, "the step the loop runs", owner_cls.module),))

    @staticmethod
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
