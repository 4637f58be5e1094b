"""Instrumentation of a live torch process: gathers per-parameter facts while a script trains.

The Tracer owns the facts and handles the events that hooks.py turns torch's calls into
(forward, backward, zero_grad, optimizer step, GradScaler step). Its rooms:

  hooks.py   where it attaches to torch (patches, global hooks, the function mode)
  params.py  parameter state and movement (baseline fingerprints, gradient history)
  roots.py   which modules ran, and parameters hidden from .parameters()
  cuts.py    torch calls that cut the graph, and where their outputs flowed
  facts.py   the facts as plain data, for explain.py
  frames.py  which line of the user's code a call came from

Cost model: the function mode looks at every torch call but only does work (a stack walk,
a graph walk) for calls that cut the graph, once per source line and op. Per step it walks
each loss graph once (bounded, see graphwalk.py), takes one foreach-norm of all gradients
after backward and at step time, and checks whether parameters moved from their values (a
three-number fingerprint; version counters miss fused optimizers), re-reading between steps only
the parameters not yet seen moving.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from graphlint.trace import facts as facts_mod
from graphlint.trace import graphwalk, naming
from graphlint.trace.cuts import CutRecorder
from graphlint.trace.distributed import sharded_aliases
from graphlint.trace.frames import user_frame
from graphlint.trace.hooks import Hooks, Pause, StopTracing
from graphlint.trace.params import ParamTable, grad_norms
from graphlint.trace.roots import RootTable
from graphlint.trace.windows import GraphWindows

__all__ = ["StopTracing", "Tracer", "user_frame"]

MAX_STALL_FACTOR = 10  # stop after steps*10 backward calls when no optimizer step ever ran


@dataclass
class OptState:
    ref: object
    cls: str
    path: str | None
    line: int
    step_calls: int = 0
    steps_ran: int = 0
    scaler_skips: int = 0
    stale_grad_steps: int = 0  # steps whose gradients still held gradients an earlier step used
    stale_pending: bool = False  # a backward added to gradients that a step already used
    stepped_since_clear: bool = False
    step_site: tuple | None = None
    scaler_site: tuple | None = None
    lrs_seen: dict = field(default_factory=dict)  # group index -> [min, max]


class _StrongRef:
    """Optimizers are held until the report is built: the script's own reference may be gone by then."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __call__(self):
        return self.obj


def optimizer_params(opt):
    for g in opt.param_groups:
        yield from g["params"]


class Tracer:
    def __init__(self, steps: int | None = None, on_step=None, script: str = ""):
        self.max_steps = steps
        self.on_step = on_step  # called with the tracer after every step attempt (streaming)
        self.script = script
        self.pause = Pause()
        self.in_step = 0
        self.scalers_in_step: dict = {}  # id(optimizer) -> the GradScaler whose step() is running it
        self.in_backward = False
        self.internal_errors = 0
        self.params = ParamTable(self.pause)
        self.roots = RootTable(self.params, self.pause)
        self.cuts = CutRecorder(self)
        self.lineage = naming.Lineage()  # which module holds which: names follow ownership (naming.py)
        self.aliases: dict[int, int] = {}  # id of an FSDP2 unsharded parameter -> id of its sharded parameter
        self.aliases_at = -1  # backward_calls when the aliases were last collected
        self.optimizers: dict[int, OptState] = {}
        self.zero_grad_sites: dict[tuple, int] = {}
        self.grad_hooks_zeroing: dict[int, dict[tuple, int]] = {}  # id(leaf) -> {hook site: gradients it zeroed}
        self.backward_calls = 0
        self.backward_sites: dict[tuple, int] = {}
        self.leaf_rooted_backwards = 0  # backward on a tensor with no graph to any known parameter
        self.graph_nodes: list[int] = []
        self.walk_truncated = 0
        self.alive_graphs: list[int] = []  # per backward: earlier iterations whose graphs are still alive
        self.windows = GraphWindows()
        self.step_attempts = 0
        self.event = 0
        self.stop_reason: str | None = None
        self._hooks = Hooks(self)

    def install(self) -> "Tracer":
        graphwalk.ensure_stack_room()
        self.lineage.install()
        self._hooks.install()
        return self

    def uninstall(self) -> None:
        self._hooks.uninstall()
        self.lineage.uninstall()

    def facts(self, final: bool = True) -> dict:
        """Plain data (JSON-ready, torch-free) for explain.build_report; `final` re-reads every parameter."""
        return facts_mod.gather(self, final)

    # ------------------------------------------------------------------ registry (also the Python API)
    def add_root(self, module) -> None:
        """Register a module as a root before it runs forward."""
        self.roots.add(module)

    def add_optimizer(self, opt, site) -> None:
        self._register_optimizer(opt, site)
        with self.pause:
            for p in optimizer_params(opt):
                self.params.add(p)

    def _register_optimizer(self, opt, site) -> OptState:
        st = self.optimizers.get(id(opt))
        if st is None:
            st = OptState(ref=_StrongRef(opt), cls=type(opt).__name__, path=site[0], line=site[1])
            self.optimizers[id(opt)] = st
        return st

    # ------------------------------------------------------------------ backward
    def backward_began(self) -> None:
        """Gradients still holding what a step already used, now added to: steps without zero_grad()."""
        with self.pause:
            for st in self.optimizers.values():
                if not st.stepped_since_clear:
                    continue
                st.stepped_since_clear = False
                opt = st.ref()
                if opt is None:
                    continue
                grads = [p.grad for p in optimizer_params(opt) if p.grad is not None]
                if grads and any(n != 0 for n in grad_norms(grads)):
                    st.stale_pending = True

    def backward_ended(self, tensors, site) -> None:
        with self.pause:
            self._record_backward(tensors, site)
        if (self.max_steps and self.step_attempts == 0
                and self.backward_calls >= self.max_steps * MAX_STALL_FACTOR):
            self.stop_reason = (f"stopped after {self.backward_calls} backward calls: no optimizer step "
                                f"was attempted in that time")
            self._emit()
            raise StopTracing

    def _record_backward(self, tensors, site) -> None:
        self.backward_calls += 1
        self.event += 1
        self.backward_sites[site] = self.backward_sites.get(site, 0) + 1
        reached: set = set()
        flat: set = set()
        nodes = 0
        known_leaf = False
        truncated_before = self.walk_truncated
        params = self.params
        for t in tensors:
            self.cuts.loss_backwarded(t)
            if t.grad_fn is None:
                if id(t) in params:
                    reached.add(id(t))
                    known_leaf = True
                continue
            w = graphwalk.walk(t.grad_fn)
            nodes += w.nodes
            self.walk_truncated += w.truncated
            for pid in map(self.param_id, w.leaves):
                if pid in params:
                    reached.add(pid)
                    known_leaf = True
            for pid in map(self.param_id, w.flat_leaves):
                if pid in params:
                    flat.add(pid)
                    known_leaf = True
        self.alive_graphs.append(self.windows.close(next((t for t in tensors if t.grad_fn is not None), None)))
        if not known_leaf:
            self.leaf_rooted_backwards += 1
        self.graph_nodes.append(nodes)
        self.cuts.close_window()
        states = list(params.values())
        for st in states:
            if id(st.tensor) in reached:
                st.reach_count += 1
            elif id(st.tensor) in flat:
                st.flat_reach_count += 1
        if self.walk_truncated == truncated_before:
            # A backward that does not reach a parameter leaves its gradient as it was: what it held
            # (and whether zero_grad() cleared it since) still decides what step() will see.
            states = [st for st in states if id(st.tensor) in reached or id(st.tensor) in flat]
        with_grad = [st for st in states if st.tensor.grad is not None]
        norms = grad_norms([st.tensor.grad for st in with_grad])
        for st in states:
            st.grad_after_backward = None
        for st, n in zip(with_grad, norms):
            st.grad_after_backward = n
            st.last_backward_event = self.event
            if n != n or n in (float("inf"), float("-inf")):
                st.backward_nonfinite += 1
                st.grad_norm = n
            elif n != 0:
                st.backward_with_grad += 1
                st.grad_norm = n
            elif st.grad_norm is None:
                st.grad_norm = 0.0

    def param_id(self, leaf) -> int:
        """The id of the parameter a graph leaf stands for: itself, or the sharded parameter of an FSDP2 copy."""
        if id(leaf) in self.params:
            return id(leaf)
        if id(leaf) not in self.aliases and self.aliases_at != self.backward_calls:  # at most once per backward
            self.aliases_at = self.backward_calls
            self.aliases = {id(u): id(s) for r in self.roots.roots.values() for u, s in sharded_aliases(r["module"])}
        return self.aliases.get(id(leaf), id(leaf))

    # ------------------------------------------------------------------ gradients cleared
    def zero_grad_called(self, obj, is_optimizer: bool, site) -> None:
        self.zero_grad_sites[site] = self.zero_grad_sites.get(site, 0) + 1
        self.event += 1
        params = optimizer_params(obj) if is_optimizer else obj.parameters()
        ids = set()
        for p in params:
            ids.add(id(p))
            st = self.params.get(id(p))
            if st is not None:
                st.last_clear_event, st.last_clear_site = self.event, site
        for ost in self.optimizers.values():
            opt = ost.ref()
            if opt is obj or (opt is not None and not is_optimizer
                              and any(id(p) in ids for p in optimizer_params(opt))):
                ost.stepped_since_clear = ost.stale_pending = False

    def grads_cleared_by_hand(self) -> None:
        for ost in self.optimizers.values():
            ost.stale_pending = ost.stepped_since_clear = False

    # ------------------------------------------------------------------ the user's gradient hooks
    def watch_grad_hook(self, tensor, hook, site):
        """`hook`, registered on a leaf at `site`, wrapped to count the nonzero gradients it turns into zeros.

        The gradient a parameter ends up with is the hook's output, so without this a clamp to
        a zero bound reads as a gradient that was 0 all along (unused or non-differentiable).
        """
        counts = self.grad_hooks_zeroing.setdefault(id(tensor), {})

        def watched(grad):
            out = hook(grad)
            if out is not None and grad is not None and not self.pause.on:
                with self.pause:
                    try:
                        if bool(out.count_nonzero() == 0) and bool(grad.count_nonzero() > 0):
                            counts[site] = counts.get(site, 0) + 1
                    except (RuntimeError, TypeError, AttributeError):
                        self.internal_errors += 1
            return out

        watched.graphlint_watched = True
        return watched

    # ------------------------------------------------------------------ optimizer steps
    def step_began(self, opt, closure: bool) -> None:
        self.in_step += 1
        st = self._register_optimizer(opt, user_frame())
        st.step_calls += 1
        st.step_site = user_frame()
        if st.stale_pending:
            st.stale_grad_steps += 1
            st.stale_pending = False
        self.step_attempts += 1
        with self.pause:
            if not self.params.after_first_step:
                self.params.rebaseline()
            params = list(optimizer_params(opt))
            for p in params:
                self.params.add(p)
            for gi, g in enumerate(opt.param_groups):
                lr = g.get("lr", None)
                lr = float(lr) if lr is not None else None
                if lr is not None:
                    lo, hi = st.lrs_seen.get(gi, (lr, lr))
                    st.lrs_seen[gi] = (min(lo, lr), max(hi, lr))
            if not closure:
                self._check_grads_at_step(params)

    def _check_grads_at_step(self, params) -> None:
        with_grad = [p for p in params if p.grad is not None]
        norms = dict(zip(map(id, with_grad), grad_norms([p.grad for p in with_grad])))
        for p in params:
            st = self.params[id(p)]
            n = norms.get(id(p))
            st.grad_norm_at_step = n
            before = st.grad_after_backward
            if before is not None and (n is None or (n == 0 and before != 0)):
                if st.last_clear_event > st.last_backward_event:
                    st.zeroed_by_zero_grad += 1
                    st.clears_before_step[st.last_clear_site] = st.clears_before_step.get(st.last_clear_site, 0) + 1
                else:
                    st.zeroed_other += 1

    def step_ended(self, opt, closure: bool) -> None:
        st = self.optimizers[id(opt)]
        if self._scaler_found_inf(opt):  # a fused step that GradScaler told to change nothing
            self.in_step -= 1
            return
        st.steps_ran += 1
        st.stepped_since_clear = True
        try:
            with self.pause:
                for g in opt.param_groups:
                    lr = g.get("lr", 0.0)
                    try:
                        lr_nonzero = float(lr) != 0.0
                    except (TypeError, ValueError):
                        lr_nonzero = True
                    for p in g["params"]:
                        pst = self.params.get(id(p))
                        if pst is None:
                            continue
                        pst.steps_ran += 1
                        n = pst.grad_norm_at_step if not closure else (1.0 if p.grad is not None else None)
                        if n is not None and n == n and n != 0:
                            pst.steps_with_grad += 1
                            pst.steps_lr_nonzero += lr_nonzero
        finally:
            self.in_step -= 1
        self._after_step_attempt()

    def scaler_step_began(self, scaler, opt, site) -> int:
        """Steps the optimizer had run before a GradScaler.step(); no new one after it means a skip."""
        self.scalers_in_step[id(opt)] = scaler
        st = self._register_optimizer(opt, site)
        return st.steps_ran, st.step_calls

    def _scaler_found_inf(self, opt) -> bool:
        """Whether the GradScaler stepping `opt` found inf/NaN gradients.

        A fused optimizer (`_step_supports_amp_scaling`) is stepped even then and skips
        inside its kernel, so the step running says nothing; the scaler's per-optimizer
        `found_inf_per_device` does. Unknown (no scaler, other internals) reads as False.
        """
        scaler = self.scalers_in_step.get(id(opt))
        if scaler is None:
            return False
        with self.pause:
            state = getattr(scaler, "_per_optimizer_states", {}).get(id(opt), {})
            try:
                return any(float(v) > 0 for v in state.get("found_inf_per_device", {}).values())
            except (TypeError, ValueError, RuntimeError):
                return False

    def scaler_step_ended(self, opt, before: tuple[int, int], site) -> None:
        self.scalers_in_step.pop(id(opt), None)
        st = self.optimizers[id(opt)]
        st.scaler_site = site
        ran_before, calls_before = before
        if st.steps_ran == ran_before:
            st.scaler_skips += 1
            if st.step_calls == calls_before:  # step() was never called, so step_began counted no attempt
                self.step_attempts += 1
            self._after_step_attempt()

    def _after_step_attempt(self) -> None:
        if self.max_steps and self.step_attempts >= self.max_steps:
            self.stop_reason = f"stopped after {self.step_attempts} optimizer step attempts (--steps)"
            self._emit()
            raise StopTracing
        self._emit()

    def _emit(self) -> None:
        if self.on_step is not None:
            self.on_step(self)
