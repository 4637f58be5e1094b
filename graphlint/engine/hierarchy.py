"""Classes of the run and what runs when a method is called on one of their instances, across files.

A trainer's loop often lives in a base class in another file and calls its own overridable hooks
(`self.training_step(batch)`, `self.compute_loss(batch)`): which body runs is decided by the subclass
the script builds, not by the line that calls it. This module answers the questions that decides:
the bases of a class that the run's files define (followed through imports), the method a name finds
(the class's own, else the first base's that defines it, depth first as Python's MRO does for single
inheritance), and the subclasses in the analysed file and the class's own file that override it.
Each answer is computed once per run of a file.
"""
from __future__ import annotations

from typing import Callable

import libcst as cst

from graphlint.engine.module import ClassInfo, ModuleAnalysis


class Hierarchy:
    def __init__(self, main: ModuleAnalysis,
                 load_module: Callable[[str, ModuleAnalysis], ModuleAnalysis | None]) -> None:
        self.main = main
        self.load_module = load_module
        self._bases: dict[str, list[ClassInfo]] = {}
        self._subclasses: dict[str, list[ClassInfo]] = {}

    def bases(self, cls: ClassInfo) -> list[ClassInfo]:
        """The direct bases of ``cls`` that the run's files define (a library base is left out)."""
        found = self._bases.get(cls.key)
        if found is None:
            found = self._bases[cls.key] = []
            for base in cls.bases:
                module_name, _, name = base.rpartition(".")
                if not module_name:  # a class of the same file
                    if name in cls.module.classes:
                        found.append(cls.module.classes[name])
                    continue
                other = self.load_module(module_name, cls.module)
                if other is not None and name in other.classes:
                    found.append(other.classes[name])
        return found

    def ancestors(self, cls: ClassInfo) -> list[ClassInfo]:
        """``cls`` and its bases the run defines, in lookup order."""
        order: list[ClassInfo] = []
        stack = [cls]
        while stack:
            current = stack.pop()
            if all(c.key != current.key for c in order):
                order.append(current)
                stack.extend(reversed(self.bases(current)))
        return order

    def method(self, cls: ClassInfo, name: str) -> tuple[ClassInfo, cst.FunctionDef] | None:
        """(the class that defines it, the method) that ``instance.name`` finds on an instance of ``cls``."""
        for klass in self.ancestors(cls):
            if name in klass.methods:
                return klass, klass.methods[name]
        return None

    def attribute_owner(self, cls: ClassInfo, attr: str) -> ClassInfo:
        """The class whose methods assign `self.<attr>` for an instance of ``cls``: ``cls`` itself, or the first
        base that does (a subclass reads the `self.model` its base's `__init__` stored)."""
        if attr in cls.attr_values:
            return cls
        return next((c for c in self.ancestors(cls) if attr in c.attr_values), cls)

    def subclasses(self, cls: ClassInfo) -> list[ClassInfo]:
        """Classes of the analysed file and of ``cls``'s own file that inherit from ``cls`` (not ``cls`` itself)."""
        found = self._subclasses.get(cls.key)
        if found is None:
            candidates = {c.key: c for m in (self.main, cls.module) for c in m.classes.values()}
            found = self._subclasses[cls.key] = [
                c for c in candidates.values()
                if c.key != cls.key and any(a.key == cls.key for a in self.ancestors(c))]
        return found

    def overrides(self, cls: ClassInfo, name: str, called: cst.FunctionDef) -> list[tuple[ClassInfo, cst.FunctionDef]]:
        """What `self.name(...)` in a method of ``cls`` runs instead of ``called`` on an instance of a subclass."""
        result = []
        for sub in self.subclasses(cls):
            found = self.method(sub, name)
            if found is not None and found[1] is not called and all(f is not found[1] for _, f in result):
                result.append(found)
        return result

    def defining_class(self, module: ModuleAnalysis, fn: cst.FunctionDef) -> ClassInfo | None:
        """The class whose body holds ``fn`` (a method's own class, whatever instance it was entered for)."""
        cls = module.enclosing_class(fn)
        return cls if cls is not None and fn in cls.methods.values() else None
