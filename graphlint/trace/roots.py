"""Which modules ran: the roots (modules the script called directly), their submodules, and parameters
that hide from `.parameters()` (plain tensor attributes, modules in plain lists or dicts)."""
from __future__ import annotations

import torch

from graphlint.trace.frames import user_code


class RootTable:
    def __init__(self, params, pause):
        self.params = params  # a ParamTable: every root's parameters are registered there
        self.pause = pause
        self.roots: dict[int, dict] = {}  # id(module) -> {"module", "class", "order"}
        self.root_modules: dict[int, set] = {}  # id(root) -> ids of its submodules
        self.unregistered: dict[str, dict] = {}
        self.unregistered_module_ids: set = set()
        self.depth = 0
        self.current_root = None

    def add(self, module) -> None:
        """Register a module as a root (also before it runs forward: the Python API)."""
        if id(module) in self.roots:
            return
        self.roots[id(module)] = {"module": module, "class": type(module).__name__, "order": len(self.roots)}
        self.root_modules[id(module)] = {id(m) for m in module.modules()}
        with self.pause, torch.no_grad():
            for p in module.parameters():
                self.params.add(p)
        self._scan_unregistered(module)

    def forward_entered(self, module) -> None:
        if self.depth == 0:
            self.add(module)
            self.current_root = module
        elif self.current_root is not None and id(module) not in self.unregistered_module_ids:
            known = self.root_modules.get(id(self.current_root), set())
            if id(module) not in known and next(module.parameters(), None) is not None:
                # a module with parameters that is not (yet) the root's: re-read the root's submodules
                known = self.root_modules[id(self.current_root)] = {id(m) for m in self.current_root.modules()}
                for p in self.current_root.parameters():
                    self.params.add(p)
                if id(module) not in known:
                    self.unregistered_module_ids.add(id(module))
                    self._scan_unregistered(self.current_root)
        self.depth += 1

    def forward_left(self) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth == 0:
            self.current_root = None

    def is_top(self, info) -> bool:
        """A root that is itself a submodule of another root is reported under that one."""
        mid = id(info["module"])
        return not any(mid in mods and rid != mid for rid, mods in self.root_modules.items())

    def tops(self) -> list[dict]:
        return [r for r in sorted(self.roots.values(), key=lambda r: r["order"]) if self.is_top(r)]

    def _scan_unregistered(self, root) -> None:
        """Plain tensors that require grad, and modules or parameters in plain lists/dicts."""
        for mod_name, mod in root.named_modules():
            for attr, value in vars(mod).items():
                if attr.startswith("_"):
                    continue
                where = f"{type(root).__name__}{'.' + mod_name if mod_name else ''}.{attr}"
                if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                    if value.requires_grad and value.is_leaf:
                        self._note(where, type(mod), "a plain tensor attribute with "
                                   "requires_grad=True (not an nn.Parameter)")
                elif isinstance(value, (list, tuple, dict)):
                    items = value.values() if isinstance(value, dict) else value
                    kinds = {type(v).__name__ for v in items
                             if isinstance(v, torch.nn.Module) or (isinstance(v, torch.Tensor) and v.requires_grad)}
                    if kinds:
                        container = type(value).__name__
                        self._note(where, type(mod), f"a plain Python {container} of "
                                   f"{', '.join(sorted(kinds))} (use nn.ModuleList/ModuleDict/ParameterList)")

    def _note(self, where: str, cls, what: str) -> None:
        if where in self.unregistered:
            return
        path, line = user_code(cls, "__init__") or (None, 0)
        self.unregistered[where] = {"where": where, "what": what, "path": path, "line": line}
