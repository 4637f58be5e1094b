"""Run one corpus script and list the parameters whose value is exactly unchanged at its end.

This is how a label's `runtime.not_moving` is measured (FORMAT.md): a parameter is
named `RootClass.dotted.name`, the root being a module that was called from outside
any other module's forward and that is not a submodule of another such root (the
first one called wins). A parameter's baseline is taken the first time it is seen:
when an optimizer is built over it or when its root runs forward. Parameters seen
only through an optimizer are listed apart, by optimizer class and position.

    python tests/corpus/tools/still_params.py tests/corpus/cases/u01_x.py [--json]
"""
from __future__ import annotations

import argparse
import json
import runpy
import sys

import torch
import torch.nn as nn


class Watch:
    """Baselines of parameters and the roots that ran forward, in order of first call."""

    def __init__(self):
        self.depth = 0
        self.roots: list[nn.Module] = []
        self.baseline: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.optimizers: list[torch.optim.Optimizer] = []

    def see(self, p: torch.Tensor) -> None:
        if id(p) not in self.baseline:
            self.baseline[id(p)] = (p, p.detach().clone())

    def pre(self, module, args):
        if self.depth == 0:
            if all(module is not r for r in self.roots):
                self.roots.append(module)
            for p in module.parameters():
                self.see(p)
        self.depth += 1

    def post(self, module, args, output):
        self.depth = max(0, self.depth - 1)

    def optimizer_built(self, opt) -> None:
        self.optimizers.append(opt)
        for g in opt.param_groups:
            for p in g["params"]:
                self.see(p)

    def still(self) -> tuple[list[str], list[str], list[str]]:
        """(still root params, moved root params, still params known only to an optimizer)."""
        tops = [r for r in self.roots
                if not any(o is not r and any(m is r for m in o.modules()) for o in self.roots)]
        named: dict[int, str] = {}
        for r in tops:
            for name, p in r.named_parameters():
                named.setdefault(id(p), f"{type(r).__name__}.{name}")
                self.see(p)
        still, moved, orphan = [], [], []
        for pid, (p, base) in self.baseline.items():
            same = p.shape == base.shape and torch.equal(p.detach(), base)
            if pid in named:
                (still if same else moved).append(named[pid])
        for opt in self.optimizers:
            for gi, g in enumerate(opt.param_groups):
                for i, p in enumerate(g["params"]):
                    if id(p) not in named and torch.equal(p.detach(), self.baseline[id(p)][1]):
                        orphan.append(f"{type(opt).__name__}.param_groups.{gi}.{i}")
        return sorted(still), sorted(moved), orphan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = ap.parse_args()
    watch = Watch()
    nn.modules.module.register_module_forward_pre_hook(watch.pre)
    nn.modules.module.register_module_forward_hook(watch.post)
    original_init = torch.optim.Optimizer.__init__

    def init(opt, *a, **k):
        original_init(opt, *a, **k)
        watch.optimizer_built(opt)

    torch.optim.Optimizer.__init__ = init
    sys.argv = [args.script]
    runpy.run_path(args.script, run_name="__main__")
    still, moved, orphan = watch.still()
    if args.json:
        print(json.dumps({"still": still, "moved": moved, "optimizer_only_still": orphan}))
    else:
        for name in still:
            print("STILL", name)
        for name in orphan:
            print("STILL(optimizer only)", name)
        print(f"{len(still)} still, {len(moved)} moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
