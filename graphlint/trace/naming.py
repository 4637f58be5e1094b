"""Name each parameter after the user's own outermost module that owns it (CONTRACT.md, "Names").

The tracer first meets modules as *units*: the modules a forward pass entered from outside any
other module. Under a framework those are rarely the user's model: a LightningModule's
training_step calls `self.encoder` directly (units `Sequential`, `Linear`), and DDP,
`torch.compile`, Lightning and accelerate wrap the model in modules of their own. Two facts,
gathered while the script runs, turn naming into a question of ownership:

* parent links, from torch's global submodule-registration hook: which module holds which, so
  a unit is named under the outermost module that holds it (`LitNet.encoder.0.weight`);
* birth order, from `nn.Module.__init__`: a *wrapper* is a library module (not a torch.nn
  building block) with no parameters or buffers of its own, built around one module that
  existed before it (DDP's `.module`, `_orig_mod`, `_forward_module`). A model that builds its
  own submodules, like an HF PreTrainedModel, owns them even when it has a single child.

Each parameter also gets the dotted path of its unit (`LitNet.encoder`): explain.py compares a
parameter with the others of its unit, which is what ran (or did not run) as one piece.
"""
from __future__ import annotations

import functools
import itertools
import weakref
from typing import NamedTuple

import torch

from graphlint.trace.frameworks import is_library_class


class ParamName(NamedTuple):
    name: str  # "LitNet.encoder.0.weight"
    root: str | None  # class of the owning module, "LitNet"; None for a tensor only an optimizer holds
    unit: str | None  # dotted path of the unit it ran in, "LitNet.encoder"


class Lineage:
    """Which module holds which, and in which order modules were built (weak: nothing is kept alive)."""

    def __init__(self):
        self._born: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._parents: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._births = itertools.count()
        self._undo: list = []

    def install(self) -> "Lineage":
        from torch.nn.modules import module as module_mod

        handle = module_mod.register_module_module_registration_hook(self._registered)
        original_init = torch.nn.Module.__init__
        lineage = self

        @functools.wraps(original_init)
        def __init__(module, *args, **kwargs):
            lineage._remember(lineage._born, module, next(lineage._births))
            original_init(module, *args, **kwargs)

        torch.nn.Module.__init__ = __init__
        self._undo = [handle.remove, lambda: setattr(torch.nn.Module, "__init__", original_init)]
        return self

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo = []

    @staticmethod
    def _remember(table, module, value) -> None:
        try:
            table[module] = value
        except TypeError:  # a module class that made itself unhashable: unknown, so never unwrapped
            pass

    def _registered(self, parent, name, child):
        if child is not None:
            try:
                links = self._parents.setdefault(child, [])
            except TypeError:
                return None
            links.append((weakref.ref(parent), name))
        return None

    def _born_before(self, a, b) -> bool:
        try:
            return a in self._born and b in self._born and self._born[a] < self._born[b]
        except TypeError:
            return False

    def holder(self, module):
        """The module that holds `module` as a child now (the first registration still in place)."""
        try:
            links = self._parents.get(module, ())
        except TypeError:
            return None
        for ref, name in links:
            parent = ref()
            if parent is not None and parent._modules.get(name) is module:
                return parent
        return None

    def wrapped(self, module):
        """The module that `module` wraps, or None when it is not a wrapper."""
        if type(module).__module__.startswith("torch.nn.modules") or not is_library_class(type(module)):
            return None
        if module._parameters or module._buffers:
            return None
        children = list({id(c): c for c in module._modules.values() if c is not None}.values())
        for child in children:
            inside = {id(m) for m in child.modules()}
            if all(id(c) in inside for c in children):
                return child if self._born_before(child, module) else None
        return None

    def owner(self, module):
        """The outermost module that holds `module`, with wrappers taken off."""
        top, seen = module, {id(module)}
        while (up := self.holder(top)) is not None and id(up) not in seen:
            top = up
            seen.add(id(up))
        while (inner := self.wrapped(top)) is not None:
            top = inner
        return top


def _path_in(top, module) -> str | None:
    for path, m in top.named_modules(remove_duplicate=False):
        if m is module:
            return path
    return None


def _outermost(tops: list) -> list:
    """Each top replaced by another top that contains it, if any: a holder whose parent links are
    unknown (a submodule of a deepcopy, a module built before tracing began) is still found by value."""
    distinct = list({id(t): t for t in tops}.values())
    contents = {id(t): {id(m) for m in t.modules()} for t in distinct}
    out = []
    for top in tops:
        seen = {id(top)}
        while (outer := next((c for c in distinct if id(c) not in seen and id(top) in contents[id(c)]), None)):
            top = outer
            seen.add(id(outer))
        out.append(top)
    return out


def parameter_names(units: list, tracked: set, optimizers: list, lineage: Lineage):
    """({id(param): ParamName}, {unit path: module}) for the tracked parameters.

    `units` are the modules forward entered from outside (in order), `optimizers` are
    (class name, optimizer) pairs; a tracked tensor that no module owns is named after the
    optimizer group that holds it.
    """
    names: dict[int, ParamName] = {}
    unit_modules: dict[str, object] = {}
    placed = []
    tops = _outermost([lineage.owner(u) for u in units])
    for unit, top in zip(units, tops):
        root = type(top).__name__
        path = _path_in(top, unit)
        unit_path = f"{root}.{path}" if path else root
        placed.append((unit, top, root, unit_path))
        unit_modules.setdefault(root, top)
        for pname, p in top.named_parameters():
            if id(p) in tracked and id(p) not in names:
                names[id(p)] = ParamName(f"{root}.{pname}", root, None)
    for unit, top, root, unit_path in placed:
        for p in unit.parameters():
            known = names.get(id(p))
            if known is not None and known.unit is None:
                names[id(p)] = known._replace(unit=unit_path)
                unit_modules.setdefault(unit_path, unit)
    for pid, known in names.items():
        if known.unit is None:  # owned by a module that holds units but never ran as one itself
            names[pid] = known._replace(unit=known.root)
    for cls, opt in optimizers:
        for gi, g in enumerate(opt.param_groups):
            for i, p in enumerate(g["params"]):
                if id(p) not in names:
                    names[id(p)] = ParamName(f"{cls}.param_groups.{gi}.{i}", None, None)
    return names, unit_modules
