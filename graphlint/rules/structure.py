"""Rules about how a model's parameters are declared: registered, used, trainable."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.module import ClassInfo, ModuleAnalysis, walk
from graphlint.findings import Severity
from graphlint.rules import Report, Rule, register

TENSOR_FACTORIES = frozenset(f"torch.{n}" for n in ("tensor", "randn", "rand", "zeros", "ones", "empty", "full",
                                                      "normal", "eye", "arange", "linspace"))


def creates_parameters(mod: ModuleAnalysis, expr: cst.BaseExpression) -> bool:
    """A constructor call of a layer with parameters: nn.Linear(...), a module class of this file, nn.Parameter."""
    if not isinstance(expr, cst.Call):
        return False
    if mod.qualified(expr) & (names.PARAMETERIZED_NN | names.PARAMETER_CONSTRUCTORS):
        return True
    return isinstance(expr.func, cst.Name) and expr.func.value in mod.module_classes


def _attribute_reads(cls: ClassInfo, attr: str, outside_init: bool) -> int:
    count = 0
    for name, method in cls.methods.items():
        if outside_init and name == "__init__":
            continue
        for node in walk(method.body, cst.Attribute):
            if node.attr.value == attr and isinstance(node.value, cst.Name) and node.value.value == "self":
                parent = cls.module.parent(node)
                if not (isinstance(parent, cst.AssignTarget) and parent.target is node):
                    count += 1
    return count


@register
class UnregisteredParameter(Rule):
    code = "GL301"
    name = "unregistered-parameter"
    category = "unregistered-param"
    summary = "Layers in a plain list/dict or a tensor attribute with requires_grad are invisible to model.parameters()."

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        for cls_name in sorted(mod.module_classes):
            cls = mod.classes[cls_name]
            for attr, values in cls.attr_values.items():
                for value, method in values:
                    if method.name.value != "__init__":
                        continue
                    problem = self._problem(mod, value)
                    if problem is None or _attribute_reads(cls, attr, outside_init=False) == 0:
                        continue
                    if _attribute_reads(cls, attr, outside_init=True) == _attribute_reads(cls, attr, False) and \
                            _attribute_reads(cls, attr, True) > 0:
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
    name = "layer-never-used"
    category = "unused-param"
    severity = Severity.WARNING
    summary = "A layer with parameters is built in __init__ but never used anywhere, so it never trains."

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        used_anywhere = {n.attr.value for n in walk(mod.tree, cst.Attribute) if not _is_store(mod, n)}
        dynamic = any(isinstance(n.func, cst.Name) and n.func.value in ("getattr", "vars") or
                      isinstance(n.func, cst.Attribute) and n.func.attr.value in ("children", "named_children", "modules",
                                                                                    "named_modules", "__dict__")
                      for n in walk(mod.tree, cst.Call))
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


def _is_store(mod: ModuleAnalysis, node: cst.Attribute) -> bool:
    parent = mod.parent(node)
    return isinstance(parent, cst.AssignTarget) and parent.target is node
