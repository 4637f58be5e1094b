"""Instrumentation of a live torch process: gathers per-parameter facts while a script trains.

Everything here uses torch's own hook APIs (global optimizer step hooks, global module forward
hooks, a TorchFunctionMode, node metadata) plus thin wrappers around `Tensor.backward`,
`torch.autograd.backward`, `Optimizer.__init__`/`zero_grad`, `Module.zero_grad` and
`GradScaler.step`. The tracer only gathers facts; `explain.py` turns them into causes.

Cost model: the function mode looks at every torch call but only does work (a stack walk,
a graph walk) for calls that cut the graph, once per source line and op. Per step it walks
each loss graph once (bounded, see graphwalk.py), takes one foreach-norm of all gradients
after backward and at step time, and checks whether parameters moved with their version
counter first and a two-number fingerprint only when the counter changed.
"""
from __future__ import annotations

import os
import struct
import sys
import weakref
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

import graphlint
from graphlint.trace import frameworks, graphwalk, naming
from graphlint.trace.distributed import local_shard, sharded_aliases

TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
GRAPHLINT_DIR = os.path.dirname(graphlint.__file__) + os.sep
SKIP_PREFIXES = (TORCH_DIR, GRAPHLINT_DIR, "<frozen", os.path.dirname(os.__file__) + os.sep + "runpy.py")

DETACH_OPS = {"detach", "detach_", "data"}
SCALAR_OPS = {"item", "tolist", "numpy", "__float__", "__int__", "__index__", "__bool__", "__complex__"}
IMPLICIT_SCALAR_OPS = {"__float__", "__int__", "__index__"}
REWRAP_OPS = {"tensor", "as_tensor", "from_numpy", "new_tensor", "asarray", "Tensor", "FloatTensor"}
ZERO_DERIVATIVE_OPS = {"round", "round_", "floor", "floor_", "ceil", "ceil_", "sign", "sign_", "sgn",
                       "trunc", "trunc_", "fix"}
SHAPE_OPS = {"size", "dim", "numel", "shape", "dtype", "device", "is_floating_point", "stride",
             "storage_offset", "element_size", "requires_grad", "is_leaf", "grad_fn", "_version",
             "data_ptr", "is_contiguous", "__len__", "__hash__", "__format__", "__repr__", "__str__",
             "__get__", "__set__", "get_device", "ndimension", "nelement", "untyped_storage",
             "register_hook", "retain_grad", "requires_grad_", "backward", "__reduce_ex__",
             "__deepcopy__", "__setstate__", "_is_view", "is_complex", "nbytes", "itemsize"}
INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
REWRAP_WORDS = ("tensor(", "Tensor(", "as_tensor(", "from_numpy(")
WALKS_PER_SITE = 4  # one line may cut several graphs (`a.item() + b.item()`); later hits repeat the first ones
MAX_STALL_FACTOR = 10  # stop after steps*10 backward calls when no optimizer step ever ran


class StopTracing(BaseException):
    """Raised out of a hook after the last traced step; BaseException so `except Exception` lets it pass."""


def user_frame(depth: int = 2):
    """(path, line) of the innermost frame in the user's code, else the innermost outside torch,
    graphlint and runpy (a framework's own line, when the user's code is not on the stack)."""
    f = sys._getframe(depth)
    fallback = None
    while f is not None:
        name = f.f_code.co_filename
        if not name.startswith(SKIP_PREFIXES):
            if not frameworks.is_library_file(name):
                return name, f.f_lineno
            fallback = fallback or (name, f.f_lineno)
        f = f.f_back
    return fallback or (None, 0)


def _source_line(path: str | None, line: int) -> str:
    import linecache

    return linecache.getline(path, line) if path else ""


def fingerprint(t: torch.Tensor):
    """Two numbers that change when any element changes; O(1) memory (reductions, no copy)."""
    try:
        d = t.detach()
        if d.is_complex():
            d = torch.view_as_real(d)
        bits = d.view(INT_VIEW[d.element_size()]) if d.is_floating_point() else d
        total = d.double().sum().item() if d.numel() < 1 else d.sum(dtype=torch.float64).item()
        return int(bits.sum(dtype=torch.int64).item()), struct.pack("d", total)
    except (RuntimeError, KeyError, TypeError):
        return None


def _op_name(func) -> str:
    name = getattr(func, "__name__", "")
    if name in ("__get__", "__set__"):
        owner = getattr(func, "__self__", None)
        attr = getattr(owner, "__name__", "")
        return f"{name}:{attr}" if attr else name
    return name


@dataclass
class ParamState:
    tensor: torch.Tensor
    order: int
    baseline: tuple | None = None  # (version, data_ptr, fingerprint)
    baseline_at_step: bool = False
    moved: bool = False
    reach_count: int = 0
    flat_reach_count: int = 0  # reached only through zero-derivative ops
    backward_with_grad: int = 0  # backward calls after which its grad was nonzero
    backward_nonfinite: int = 0
    grad_norm: float | None = None  # after the last backward that gave it a grad
    grad_norm_at_step: float | None = None
    steps_ran: int = 0  # optimizer steps that ran while it was held
    steps_with_grad: int = 0  # ... with a nonzero finite gradient present
    steps_lr_nonzero: int = 0  # ... with a nonzero gradient and nonzero lr
    zeroed_by_zero_grad: int = 0  # nonzero after backward, cleared by zero_grad() before step
    zeroed_other: int = 0  # nonzero after backward, gone at step without zero_grad()
    last_backward_event: int = -1
    last_clear_event: int = -1
    grad_after_backward: float | None = None  # norm right after the last backward (nan kept)


@dataclass
class Site:
    id: int
    kind: str  # a TAXONOMY category
    op: str
    path: str | None
    line: int
    hits: int = 0
    sources: set = field(default_factory=set)  # ids of parameters upstream of the cut
    other_sources: int = 0  # upstream leaves that are not known parameters
    walks: int = 0  # graph walks done from this site's inputs (at most WALKS_PER_SITE)
    tainted_losses: int = 0
    preceded_backward: int = 0  # backward calls whose window contained a hit
    grad_off_from: tuple | None = None  # where grad mode was switched off, when known


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


class TagStore:
    """Facts about live tensors, keyed by identity, forgotten when the tensor dies.

    Kept outside the tensors (no attributes on them) so that user code that pickles,
    copies or torch.load(weights_only=True)s its tensors never sees graphlint's tags.
    """

    def __init__(self):
        self._d: dict[int, tuple] = {}

    def __bool__(self) -> bool:
        return bool(self._d)

    def get(self, t):
        e = self._d.get(id(t))
        if e is not None and e[0]() is t:
            return e[1]
        return None

    def set(self, t, value) -> None:
        key = id(t)
        d = self._d

        def forget(ref, key=key):
            e = d.get(key)
            if e is not None and e[0] is ref:
                del d[key]

        try:
            d[key] = (weakref.ref(t, forget), value)
        except TypeError:
            pass


class _CutMode(TorchFunctionMode):
    """Sees every torch call; records the ones that cut the graph and tags what flows from them."""

    def __init__(self, tracer: "Tracer"):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        out = func(*args, **kwargs)
        tr = self.tracer
        if tr.paused:
            return out
        try:
            tr.observe(func, args, kwargs, out)
        except StopTracing:
            raise
        except Exception:  # noqa: BLE001 - instrumentation must never break the user's run
            tr.internal_errors += 1
        return out


def _tensors_in(args, kwargs):
    for a in args:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor):
                    yield b
    for a in kwargs.values():
        if isinstance(a, torch.Tensor):
            yield a


class Tracer:
    def __init__(self, steps: int | None = None, on_step=None, script: str = ""):
        self.max_steps = steps
        self.on_step = on_step  # called with the tracer after every step attempt (streaming)
        self.script = script
        self.paused = False
        self.in_step = 0
        self.in_backward = False
        self.internal_errors = 0
        self.params: dict[int, ParamState] = {}
        self.aliases: dict[int, int] = {}  # id of an FSDP2 unsharded parameter -> id of its sharded parameter
        self.aliases_at = -1  # backward_calls when the aliases were last collected
        self.roots: dict[int, dict] = {}  # id(module) -> {"module", "class", "forward", "forward_grad"}
        self.root_modules: dict[int, set] = {}  # id(root) -> ids of its submodules
        self.unregistered: dict[tuple, dict] = {}
        self.unregistered_module_ids: set = set()
        self.optimizers: dict[int, OptState] = {}
        self.sites: dict[tuple, Site] = {}
        self.site_by_id: list[Site] = []
        self.window_sites: set = set()
        self.taint = TagStore()  # tensor -> frozenset of ids of the cuts it derives from
        self.backwarded = TagStore()  # tensors whose graph already went through backward()
        self.grads = TagStore()  # tensors handed out as some parameter's .grad
        self.retention_sites: dict[tuple, dict] = {}
        self.mutation_sites: dict[tuple, int] = {}
        self.mutations_since_backward: list = []
        self.zero_grad_sites: dict[tuple, int] = {}
        self.backward_calls = 0
        self.backward_sites: dict[tuple, int] = {}
        self.leaf_rooted_backwards = 0  # backward on a tensor with no graph to any known parameter
        self.graph_nodes: list[int] = []
        self.walk_truncated = 0
        self.alive_graphs: list[int] = []  # per backward: earlier loss graphs still alive
        self.graph_sentinels: list = []  # (weakref to sentinel, nodes)
        self.step_attempts = 0
        self.event = 0
        self.depth = 0
        self.current_root = None
        self.grad_off_stack: list = []
        self.stop_reason: str | None = None
        self._handles: list = []
        self._patches: list = []
        self._mode: _CutMode | None = None
        self.lineage = naming.Lineage()

    # ------------------------------------------------------------------ install
    def install(self) -> "Tracer":
        graphwalk.ensure_stack_room()
        self.lineage.install()
        from torch.nn.modules import module as module_mod
        from torch.optim import optimizer as optim_mod

        self._handles += [
            module_mod.register_module_forward_pre_hook(frameworks.outside_compiled_code(self._forward_pre)),
            module_mod.register_module_forward_hook(frameworks.outside_compiled_code(self._forward_post),
                                                    always_call=True),
            optim_mod.register_optimizer_step_pre_hook(self._step_pre),
            optim_mod.register_optimizer_step_post_hook(self._step_post),
        ]
        self._patch(torch.Tensor, "backward", self._wrap_backward(torch.Tensor.backward, method=True))
        self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward, method=False))
        self._patch(torch.optim.Optimizer, "__init__", self._wrap_opt_init(torch.optim.Optimizer.__init__))
        self._patch(torch.optim.Optimizer, "zero_grad", self._wrap_zero_grad(torch.optim.Optimizer.zero_grad, True))
        self._patch(torch.nn.Module, "zero_grad", self._wrap_zero_grad(torch.nn.Module.zero_grad, False))
        self._patch(torch.amp.GradScaler, "step", self._wrap_scaler_step(torch.amp.GradScaler.step))
        for cls in (torch.autograd.grad_mode.no_grad, torch.autograd.grad_mode.inference_mode):
            self._patch(cls, "__enter__", self._wrap_grad_off_enter(cls.__enter__))
            self._patch(cls, "__exit__", self._wrap_grad_off_exit(cls.__exit__))
        self._mode = _CutMode(self)
        self._mode.__enter__()
        return self

    def uninstall(self) -> None:
        if self._mode is not None:
            try:
                self._mode.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the mode stack may already be unwound
                pass
            self._mode = None
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for owner, name, old in reversed(self._patches):
            setattr(owner, name, old)
        self._patches.clear()
        self.lineage.uninstall()

    def _patch(self, owner, name, new) -> None:
        self._patches.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, new)

    # ------------------------------------------------------------------ registry
    def _param(self, p: torch.Tensor) -> ParamState:
        st = self.params.get(id(p))
        if st is None:
            st = ParamState(tensor=p, order=len(self.params))
            st.baseline = self._state_of(p)
            st.baseline_at_step = self.step_attempts > 0
            self.params[id(p)] = st
        return st

    def _state_of(self, p: torch.Tensor):
        was, self.paused = self.paused, True
        try:
            with torch.no_grad():
                local = local_shard(p)  # a DTensor's version counter is its own; its values are its shard's
                return (p._version, local.data_ptr(), fingerprint(local))
        finally:
            self.paused = was

    def _add_root(self, module) -> None:
        self.roots[id(module)] = {"module": module, "class": type(module).__name__, "forward": 0,
                                  "forward_grad": 0, "order": len(self.roots)}
        self.root_modules[id(module)] = {id(m) for m in module.modules()}
        with torch.no_grad():
            self.paused, was = True, self.paused
            try:
                for p in module.parameters():
                    self._param(p)
            finally:
                self.paused = was
        self._scan_unregistered(module)

    def _scan_unregistered(self, root) -> None:
        """Plain tensors that require grad, and modules or parameters in plain lists/dicts."""
        for mod_name, mod in root.named_modules():
            for attr, value in vars(mod).items():
                if attr.startswith("_"):
                    continue
                where = f"{type(root).__name__}{'.' + mod_name if mod_name else ''}.{attr}"
                if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                    if value.requires_grad and value.is_leaf:
                        self._note_unregistered(where, type(mod), "a plain tensor attribute with "
                                                "requires_grad=True (not an nn.Parameter)")
                elif isinstance(value, (list, tuple, dict)):
                    items = value.values() if isinstance(value, dict) else value
                    kinds = {type(v).__name__ for v in items
                             if isinstance(v, torch.nn.Module) or (isinstance(v, torch.Tensor) and v.requires_grad)}
                    if kinds:
                        container = type(value).__name__
                        self._note_unregistered(where, type(mod), f"a plain Python {container} of "
                                                f"{', '.join(sorted(kinds))} (use nn.ModuleList/ModuleDict/ParameterList)")

    def _note_unregistered(self, where: str, cls, what: str) -> None:
        if where in self.unregistered:
            return
        path, line = None, 0
        init = getattr(cls, "__init__", None)
        code = getattr(init, "__code__", None)
        if code is not None and not code.co_filename.startswith(TORCH_DIR):
            path, line = code.co_filename, code.co_firstlineno
        self.unregistered[where] = {"where": where, "what": what, "path": path, "line": line}

    def _register_optimizer(self, opt, site) -> OptState:
        st = self.optimizers.get(id(opt))
        if st is None:
            st = OptState(ref=_StrongRef(opt), cls=type(opt).__name__, path=site[0], line=site[1])
            self.optimizers[id(opt)] = st
        return st

    def add_root(self, module) -> None:
        """Register a module as a root before it runs forward (the Python API)."""
        if id(module) not in self.roots:
            self._add_root(module)

    def add_optimizer(self, opt, site) -> None:
        self._register_optimizer(opt, site)
        was, self.paused = self.paused, True
        try:
            for p in self.optimizer_params(opt):
                self._param(p)
        finally:
            self.paused = was

    def optimizer_params(self, opt):
        for g in opt.param_groups:
            yield from g["params"]

    # ------------------------------------------------------------------ module hooks
    def _forward_pre(self, module, args):
        if self.depth == 0:
            if id(module) not in self.roots:
                self._add_root(module)
            info = self.roots[id(module)]
            info["forward"] += 1
            info["forward_grad"] += torch.is_grad_enabled()
            self.current_root = module
        elif self.current_root is not None and id(module) not in self.unregistered_module_ids:
            known = self.root_modules.get(id(self.current_root), set())
            if id(module) not in known:
                known = self.root_modules[id(self.current_root)] = {id(m) for m in self.current_root.modules()}
                for p in self.current_root.parameters():
                    self._param(p)
                if id(module) not in known:
                    self.unregistered_module_ids.add(id(module))
                    self._scan_unregistered(self.current_root)
        self.depth += 1

    def _forward_post(self, module, args, output):
        self.depth = max(0, self.depth - 1)
        if self.depth == 0:
            self.current_root = None

    # ------------------------------------------------------------------ grad mode
    def _wrap_grad_off_enter(self, orig):
        tracer = self

        def __enter__(ctx):
            tracer.grad_off_stack.append(user_frame())
            return orig(ctx)

        return __enter__

    def _wrap_grad_off_exit(self, orig):
        tracer = self

        def __exit__(ctx, *exc):
            if tracer.grad_off_stack:
                tracer.grad_off_stack.pop()
            return orig(ctx, *exc)

        return __exit__

    # ------------------------------------------------------------------ cuts
    def observe(self, func, args, kwargs, out) -> None:
        """Classify one torch call; cheap unless its inputs are on the graph or tainted."""
        graph_in = None
        taint = None
        backwarded = False
        grad_tagged = None
        for t in _tensors_in(args, kwargs):
            if t.requires_grad:
                graph_in = graph_in or []
                graph_in.append(t)
            if self.taint:
                s = self.taint.get(t)
                if s:
                    taint = s if taint is None else taint | s
            if self.backwarded and self.backwarded.get(t):
                backwarded = True
            if self.grads and self.grads.get(t):
                grad_tagged = t
        name = _op_name(func)
        if name == "__get__:grad" and isinstance(out, torch.Tensor):
            self.grads.set(out, True)
            return
        out_kw = kwargs.get("out")
        if name == "__set__:grad" or (grad_tagged is not None and (
                (name.endswith("_") and not name.endswith("__") and args and args[0] is grad_tagged)
                or out_kw is grad_tagged)):
            if (name == "__set__:grad" and len(args) > 1 and args[1] is None) or name == "zero_":
                for ost in self.optimizers.values():
                    ost.stale_pending = ost.stepped_since_clear = False  # gradients cleared by hand
            self._grad_mutation()
            return
        if graph_in is None and taint is None:
            return
        if name in SHAPE_OPS or name.startswith(("__get__", "__set__")) and name != "__get__:data":
            return
        outs = out if isinstance(out, (tuple, list)) else (out,)
        out_tensors = [o for o in outs if isinstance(o, torch.Tensor)]
        site = None
        if graph_in is not None:
            site = self._classify_cut(name, graph_in, out, out_tensors)
        if site is not None:
            self.window_sites.add(site.id)
            taint = frozenset({site.id}) if taint is None else taint | {site.id}
        if backwarded and any(o.requires_grad for o in out_tensors):
            self._retention_site()
        for o in out_tensors:
            if o.requires_grad and o.is_leaf:
                continue  # never tag parameters or user leaves
            if taint is not None:
                self.taint.set(o, taint)
            if backwarded and o.requires_grad:
                self.backwarded.set(o, True)

    def _classify_cut(self, name, graph_in, out, out_tensors) -> Site | None:
        if not torch.is_grad_enabled():
            if self.in_step or not out_tensors or name.endswith("_") or name == "copy_":
                return None  # optimizer internals, in-place updates (EMA, init) are not flows
            return self._hit("no-grad", name, graph_in, grad_off=True)
        if name in ZERO_DERIVATIVE_OPS:
            return self._hit("non-differentiable", name, graph_in)
        if name in SCALAR_OPS or name == "__get__:data" or name in DETACH_OPS:
            if name in DETACH_OPS or name == "__get__:data":
                return self._hit("detach", "data" if name == "__get__:data" else name, graph_in)
            return self._hit("scalar-escape", name, graph_in)
        if not out_tensors or any(o.requires_grad for o in out_tensors) and len(out_tensors) == 1:
            return None
        cut_outs = [o for o in out_tensors if not o.requires_grad]
        if not cut_outs:
            return None
        if name in REWRAP_OPS:
            return self._hit("rewrap", name, graph_in)
        if any(not (o.is_floating_point() or o.is_complex()) for o in cut_outs):
            return self._hit("non-differentiable", name, graph_in)
        return None

    def _hit(self, kind: str, op: str, graph_in, grad_off: bool = False) -> Site:
        grad_off_from = self.grad_off_stack[-1] if grad_off and self.grad_off_stack else None
        if grad_off_from is not None and grad_off_from[0] is not None:
            path, line = grad_off_from
        else:
            path, line = user_frame(4)
        if kind == "scalar-escape" and op in IMPLICIT_SCALAR_OPS:
            if any(w in _source_line(path, line) for w in REWRAP_WORDS):
                kind = "rewrap"  # a tensor constructor converting graph tensors element by element
        key = (path, line, op, kind)
        site = self.sites.get(key)
        if site is None:
            site = Site(id=len(self.site_by_id), kind=kind, op=op, path=path, line=line,
                        grad_off_from=grad_off_from)
            self.sites[key] = site
            self.site_by_id.append(site)
        site.hits += 1
        for t in graph_in:
            if t.grad_fn is None:
                if id(t) in self.params:
                    site.sources.add(id(t))
            elif site.walks < WALKS_PER_SITE:
                site.walks += 1
                self._walk_sources(site, t.grad_fn)
        return site

    def _walk_sources(self, site: Site, grad_fn) -> None:
        was, self.paused = self.paused, True
        try:
            w = graphwalk.walk(grad_fn)
        finally:
            self.paused = was
        for pid in map(self._param_id, w.leaves + w.flat_leaves):
            if pid in self.params:
                site.sources.add(pid)
            else:
                site.other_sources += 1

    def _retention_site(self) -> None:
        path, line = user_frame(4)
        rec = self.retention_sites.setdefault((path, line), {"path": path, "line": line, "hits": 0, "backwards": set()})
        rec["hits"] += 1
        rec["backwards"].add(self.backward_calls)

    def _grad_mutation(self) -> None:
        if self.in_step:
            return
        site = user_frame(4)
        self.mutation_sites[site] = self.mutation_sites.get(site, 0) + 1
        self.mutations_since_backward.append(site)

    # ------------------------------------------------------------------ backward
    def _wrap_backward(self, orig, method: bool):
        tracer = self

        def backward(*args, **kwargs):
            if tracer.in_backward:
                return orig(*args, **kwargs)
            roots = args[0] if args else kwargs.get("tensors", kwargs.get("self"))
            tensors = [roots] if isinstance(roots, torch.Tensor) else list(roots or [])
            site = user_frame()
            tracer._before_backward(tensors)
            tracer.in_backward = True
            try:
                result = orig(*args, **kwargs)
            finally:
                tracer.in_backward = False
            tracer._after_backward(tensors, site)
            return result

        backward.__wrapped__ = orig
        backward.__name__ = orig.__name__
        backward.__doc__ = orig.__doc__
        return backward

    def _before_backward(self, tensors) -> None:
        was, self.paused = self.paused, True
        try:
            for st in self.optimizers.values():
                if not st.stepped_since_clear:
                    continue
                st.stepped_since_clear = False
                opt = st.ref()
                if opt is None:
                    continue
                grads = [p.grad for p in self.optimizer_params(opt) if p.grad is not None]
                if grads and any(n != 0 for n in self._norms(grads)):
                    st.stale_pending = True
        finally:
            self.paused = was

    def _after_backward(self, tensors, site) -> None:
        was, self.paused = self.paused, True
        try:
            self._record_backward(tensors, site)
        finally:
            self.paused = was
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
        for t in tensors:
            for sid in self.taint.get(t) or ():
                self.site_by_id[sid].tainted_losses += 1
            if t.grad_fn is None:
                if id(t) in self.params:
                    reached.add(id(t))
                    known_leaf = True
                continue
            w = graphwalk.walk(t.grad_fn)
            nodes += w.nodes
            self.walk_truncated += w.truncated
            for pid in map(self._param_id, w.leaves):
                if pid in self.params:
                    reached.add(pid)
                    known_leaf = True
            for pid in map(self._param_id, w.flat_leaves):
                if pid in self.params:
                    flat.add(pid)
                    known_leaf = True
            self.backwarded.set(t, True)
            self._track_graph(t, w.nodes)
        if not known_leaf:
            self.leaf_rooted_backwards += 1
        self.graph_nodes.append(nodes)
        for sid in self.window_sites:
            self.site_by_id[sid].preceded_backward += 1
        self.window_sites = set()
        self.mutations_since_backward = []
        states = list(self.params.values())
        with_grad = [st for st in states if st.tensor.grad is not None]
        norms = self._norms([st.tensor.grad for st in with_grad])
        for st in states:
            if id(st.tensor) in reached:
                st.reach_count += 1
            elif id(st.tensor) in flat:
                st.flat_reach_count += 1
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

    def _param_id(self, leaf) -> int:
        """The id of the parameter a graph leaf stands for: itself, or the sharded parameter of an FSDP2 copy."""
        if id(leaf) in self.params:
            return id(leaf)
        if id(leaf) not in self.aliases and self.aliases_at != self.backward_calls:  # at most once per backward
            self.aliases_at = self.backward_calls
            self.aliases = {id(u): id(s) for r in self.roots.values() for u, s in sharded_aliases(r["module"])}
        return self.aliases.get(id(leaf), id(leaf))

    @staticmethod
    def _norms(grads) -> list[float]:
        if not grads:
            return []
        grads = [local_shard(g) for g in grads]
        dense = all(not g.is_sparse for g in grads)
        if dense:
            return torch.stack([n.double() for n in torch._foreach_norm(grads)]).tolist()
        return [g.coalesce().values().norm().item() if g.is_sparse else g.norm().item() for g in grads]

    def _track_graph(self, loss, nodes: int) -> None:
        """Tag the loss's root node; a still-alive tag at later backwards means the graph was kept."""
        alive = sum(1 for ref, _ in self.graph_sentinels if ref() is not None)
        self.alive_graphs.append(alive)
        self.graph_sentinels = [(r, n) for r, n in self.graph_sentinels if r() is not None]
        sentinel = _Sentinel()
        try:
            loss.grad_fn.metadata["graphlint"] = sentinel
        except (AttributeError, RuntimeError):
            return
        self.graph_sentinels.append((weakref.ref(sentinel), nodes))

    # ------------------------------------------------------------------ optimizers
    def _wrap_opt_init(self, orig):
        tracer = self

        def __init__(opt, *args, **kwargs):
            orig(opt, *args, **kwargs)
            tracer.add_optimizer(opt, user_frame())

        __init__.__wrapped__ = orig
        return __init__

    def _wrap_zero_grad(self, orig, is_optimizer: bool):
        tracer = self

        def zero_grad(obj, *args, **kwargs):
            site = user_frame()
            if not tracer.in_step:
                tracer.zero_grad_sites[site] = tracer.zero_grad_sites.get(site, 0) + 1
                tracer.event += 1
                params = tracer.optimizer_params(obj) if is_optimizer else obj.parameters()
                ids = set()
                for p in params:
                    ids.add(id(p))
                    st = tracer.params.get(id(p))
                    if st is not None:
                        st.last_clear_event = tracer.event
                for ost in tracer.optimizers.values():
                    opt = ost.ref()
                    if opt is obj or (opt is not None and not is_optimizer
                                      and any(id(p) in ids for p in tracer.optimizer_params(opt))):
                        ost.stepped_since_clear = ost.stale_pending = False
            was, tracer.paused = tracer.paused, True
            try:
                return orig(obj, *args, **kwargs)
            finally:
                tracer.paused = was

        zero_grad.__wrapped__ = orig
        return zero_grad

    def _step_pre(self, opt, args, kwargs) -> None:
        self.in_step += 1
        st = self._register_optimizer(opt, user_frame())
        st.step_calls += 1
        st.step_site = user_frame()
        if st.stale_pending:
            st.stale_grad_steps += 1
            st.stale_pending = False
        self.step_attempts += 1
        has_closure = _has_closure(opt, args, kwargs)
        was, self.paused = self.paused, True
        try:
            if self.step_attempts == 1:
                self._rebaseline()
            params = list(self.optimizer_params(opt))
            for p in params:
                self._param(p)
            for gi, g in enumerate(opt.param_groups):
                lr = g.get("lr", None)
                lr = float(lr) if lr is not None else None
                if lr is not None:
                    lo, hi = st.lrs_seen.get(gi, (lr, lr))
                    st.lrs_seen[gi] = (min(lo, lr), max(hi, lr))
            if not has_closure:
                self._check_grads_at_step(params)
        finally:
            self.paused = was
        return frameworks.closure_as_user_code(self, opt, args, kwargs)

    def _rebaseline(self) -> None:
        """Take 'the value before the first step' for every parameter known now."""
        for st in self.params.values():
            if not st.baseline_at_step:
                st.baseline = self._state_of(st.tensor)
                st.baseline_at_step = True

    def _check_grads_at_step(self, params) -> None:
        with_grad = [p for p in params if p.grad is not None]
        norms = dict(zip(map(id, with_grad), self._norms([p.grad for p in with_grad])))
        for p in params:
            st = self.params[id(p)]
            n = norms.get(id(p))
            st.grad_norm_at_step = n
            before = st.grad_after_backward
            if before is not None and (n is None or (n == 0 and before != 0)):
                if st.last_clear_event > st.last_backward_event:
                    st.zeroed_by_zero_grad += 1
                else:
                    st.zeroed_other += 1

    def _step_post(self, opt, args, kwargs) -> None:
        st = self.optimizers[id(opt)]
        st.steps_ran += 1
        st.stepped_since_clear = True
        was, self.paused = self.paused, True
        try:
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
                    n = pst.grad_norm_at_step if not _has_closure(opt, args, kwargs) else (
                        1.0 if p.grad is not None else None)
                    if n is not None and n == n and n != 0:
                        pst.steps_with_grad += 1
                        pst.steps_lr_nonzero += lr_nonzero
        finally:
            self.paused = was
            self.in_step -= 1
        self._after_step_attempt()

    def _wrap_scaler_step(self, orig):
        tracer = self

        def step(scaler, optimizer, *args, **kwargs):
            st = tracer._register_optimizer(optimizer, user_frame())
            before = st.steps_ran
            result = orig(scaler, optimizer, *args, **kwargs)
            st.scaler_site = user_frame()
            if st.steps_ran == before:
                st.scaler_skips += 1
                tracer.step_attempts += 1
                tracer._after_step_attempt()
            return result

        step.__wrapped__ = orig
        return step

    def _after_step_attempt(self) -> None:
        if self.max_steps and self.step_attempts >= self.max_steps:
            self.stop_reason = f"stopped after {self.step_attempts} optimizer step attempts (--steps)"
            self._emit()
            raise StopTracing
        self._emit()

    def _emit(self) -> None:
        if self.on_step is not None:
            self.on_step(self)

    # ------------------------------------------------------------------ facts
    def update_moved(self, recheck: bool = True) -> None:
        """Compare with the baseline; between steps (recheck=False) a parameter seen moving is not re-read."""
        was, self.paused = self.paused, True
        try:
            with torch.no_grad():
                for st in self.params.values():
                    if st.baseline is None or (st.moved and not recheck):
                        continue
                    version, ptr, fp = st.baseline
                    p, local = st.tensor, local_shard(st.tensor)
                    if p._version == version and local.data_ptr() == ptr:
                        st.moved = False
                        continue
                    now = fingerprint(local)
                    st.moved = now is None or fp is None or now != fp
        finally:
            self.paused = was

    def facts(self, final: bool = True) -> dict:
        """Plain data (JSON-ready, torch-free) for explain.build_report; `final` re-reads every parameter."""
        self.update_moved(recheck=final)
        names, units = self._names()
        params = []
        opt_of: dict[int, list] = {}
        group_lr: dict[int, list] = {}
        for oi, (oid, ost) in enumerate(self.optimizers.items()):
            opt = ost.ref()
            if opt is None:
                continue
            for gi, g in enumerate(opt.param_groups):
                for p in g["params"]:
                    opt_of.setdefault(id(p), []).append(oi)
                    group_lr.setdefault(id(p), []).append(list(ost.lrs_seen.get(gi, (g.get("lr"), g.get("lr")))))
        for pid, st in sorted(self.params.items(), key=lambda kv: kv[1].order):
            if pid not in names:
                continue
            name, root, unit = names[pid]
            p = st.tensor
            params.append({
                "id": pid, "name": name, "root": root, "unit": unit, "shape": list(p.shape),
                "requires_grad": p.requires_grad,
                "optimizers": opt_of.get(pid, []), "lrs": group_lr.get(pid, []),
                "reach_count": st.reach_count, "flat_reach_count": st.flat_reach_count,
                "backward_with_grad": st.backward_with_grad, "backward_nonfinite": st.backward_nonfinite,
                "grad_norm": _num(st.grad_norm), "grad_norm_at_step": _num(st.grad_norm_at_step),
                "steps_ran": st.steps_ran, "steps_with_grad": st.steps_with_grad,
                "steps_lr_nonzero": st.steps_lr_nonzero,
                "zeroed_by_zero_grad": st.zeroed_by_zero_grad, "zeroed_other": st.zeroed_other,
                "moved": st.moved,
            })
        return {
            "script": self.script,
            "backward_calls": self.backward_calls,
            "step_attempts": self.step_attempts,
            "leaf_rooted_backwards": self.leaf_rooted_backwards,
            "graph_nodes": self.graph_nodes[-50:],
            "walk_truncated": self.walk_truncated,
            "alive_graphs": self.alive_graphs[-200:],
            "stop_reason": self.stop_reason,
            "roots": [{"class": unit.split(".", 1)[0], "unit": unit, "source": frameworks.user_source(module)}
                      for unit, module in units.items()],
            "optimizers": [{"class": o.cls, "path": o.path, "line": o.line, "step_calls": o.step_calls,
                            "steps_ran": o.steps_ran, "scaler_skips": o.scaler_skips,
                            "stale_grad_steps": o.stale_grad_steps,
                            "step_site": list(o.step_site) if o.step_site else None,
                            "scaler_site": list(o.scaler_site) if o.scaler_site else None,
                            "lrs": {str(k): list(v) for k, v in o.lrs_seen.items()}}
                           for o in self.optimizers.values()],
            "sites": [{"id": s.id, "kind": s.kind, "op": s.op, "path": s.path, "line": s.line, "hits": s.hits,
                       "sources": sorted(s.sources), "other_sources": s.other_sources,
                       "tainted_losses": s.tainted_losses, "preceded_backward": s.preceded_backward,
                       "grad_off_from": list(s.grad_off_from) if s.grad_off_from else None}
                      for s in self.site_by_id],
            "unregistered": list(self.unregistered.values()),
            "retention_sites": [{"path": r["path"], "line": r["line"], "hits": r["hits"],
                                 "backwards": len(r["backwards"])} for r in self.retention_sites.values()],
            "mutation_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in self.mutation_sites.items()],
            "zero_grad_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in self.zero_grad_sites.items()],
            "backward_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in self.backward_sites.items()],
            "internal_errors": self.internal_errors,
            "params": params,
        }

    def _is_top_root(self, info) -> bool:
        """A root that is itself a submodule of another root is reported under that one."""
        mid = id(info["module"])
        return not any(mid in mods and rid != mid for rid, mods in self.root_modules.items())

    def _names(self) -> tuple[dict, dict]:
        tops = [r["module"] for r in sorted(self.roots.values(), key=lambda r: r["order"]) if self._is_top_root(r)]
        optimizers = [(o.cls, o.ref()) for o in self.optimizers.values() if o.ref() is not None]
        return naming.parameter_names(tops, set(self.params), optimizers, self.lineage)


def _has_closure(opt, args, kwargs) -> bool:
    """Whether step() got a closure (LBFGS style); the hooks' args start with the optimizer itself."""
    rest = args[1:] if args and args[0] is opt else args
    return any(a is not None for a in rest) or kwargs.get("closure") is not None


class _StrongRef:
    """Optimizers are held until the report is built: the script's own reference may be gone by then."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __call__(self):
        return self.obj


class _Sentinel:
    __slots__ = ("__weakref__",)


def _num(x):
    if x is None:
        return None
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf"
    return x
