"""Cut sites: torch calls that cut the autograd graph (detach, .item(), rewraps, no_grad, argmax...),
which parameters each cut disconnects, and which losses its output flowed into.

`CutRecorder.observe` sees every torch call (through the function mode in hooks.py) and does
real work only for calls whose inputs are on the graph or derive from an earlier cut.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch

from graphlint.trace import graphwalk
from graphlint.trace.frames import source_line, user_frame

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
REWRAP_WORDS = ("tensor(", "Tensor(", "as_tensor(", "from_numpy(")
WALKS_PER_SITE = 4  # one line may cut several graphs (`a.item() + b.item()`); later hits repeat the first ones
ESCAPED_LIMIT = 4096  # Python values remembered per backward window (a .tolist() of a big tensor: its first ones)


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


_op_names: dict = {}  # func -> op_name(func): a few hundred distinct torch functions in a run


def op_name(func) -> str:
    name = getattr(func, "__name__", "")
    if name in ("__get__", "__set__"):
        owner = getattr(func, "__self__", None)
        attr = getattr(owner, "__name__", "")
        return f"{name}:{attr}" if attr else name
    return name


def tensors_in(args, kwargs):
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


class CutRecorder:
    """Sites of cuts and of other graph events seen at the torch-call level (graph retention, gradient edits).

    Reads from the tracer only `params`, `pause`, `in_step` and `backward_calls`, tells it
    `grads_cleared_by_hand()`, and hands its `windows` the graph nodes built on parameters.
    """

    def __init__(self, tracer):
        self.tracer = tracer
        self.sites: dict[tuple, Site] = {}
        self.site_by_id: list[Site] = []
        self.window_sites: set = set()  # sites hit since the last backward()
        self.taint = TagStore()  # tensor -> frozenset of ids of the cuts it derives from
        self.backwarded = TagStore()  # tensors whose graph already went through backward()
        self.grads = TagStore()  # tensors handed out as some parameter's .grad
        self.retention_sites: dict[tuple, dict] = {}
        self.mutation_sites: dict[tuple, int] = {}
        self.grad_off_stack: list = []  # where each open no_grad()/inference_mode() block was entered
        # Python values handed out by a scalar escape since the last backward(): id -> (value, site id).
        # Holding the value keeps its id unique; a torch call that takes one back derives from that cut.
        self.escaped: dict[int, tuple] = {}

    def observe(self, func, args, kwargs, out) -> None:
        """Classify one torch call; cheap unless its inputs are on the graph or tainted."""
        graph_in = None
        taint = None
        backwarded = False
        grad_tagged = None
        taint_tags, backwarded_tags, grad_tags = self.taint._d, self.backwarded._d, self.grads._d
        for t in tensors_in(args, kwargs):
            if t.requires_grad:
                graph_in = graph_in or []
                graph_in.append(t)
            if taint_tags:
                s = self.taint.get(t)
                if s:
                    taint = s if taint is None else taint | s
            if backwarded_tags and self.backwarded.get(t):
                backwarded = True
            if grad_tags and self.grads.get(t):
                grad_tagged = t
        if self.escaped:
            returned = self._escaped_in(args, kwargs)
            if returned:
                taint = returned if taint is None else taint | returned
        name = _op_names.get(func)
        if name is None:
            name = _op_names[func] = op_name(func)
        if name == "__get__:grad" and isinstance(out, torch.Tensor):
            self.grads.set(out, True)
            return
        out_kw = kwargs.get("out")
        if name == "__set__:grad" or (grad_tagged is not None and (
                (name.endswith("_") and not name.endswith("__") and args and args[0] is grad_tagged)
                or out_kw is grad_tagged)):
            if (name == "__set__:grad" and len(args) > 1 and args[1] is None) or name == "zero_":
                self.tracer.grads_cleared_by_hand()
            self._grad_mutation()
            return
        if graph_in is None and name in REWRAP_OPS and isinstance(out, torch.Tensor) and out.requires_grad:
            escapes = self._window_escapes()  # a loss forced to require grad, built from escaped numbers
            if escapes:
                taint = escapes if taint is None else taint | escapes
        if graph_in is not None and torch.is_grad_enabled() and any(t.is_leaf for t in graph_in):
            self.tracer.windows.tag(o for o in (out if isinstance(out, (tuple, list)) else (out,))
                                    if isinstance(o, torch.Tensor))
        if graph_in is None and taint is None:
            return
        if name in SHAPE_OPS or name.startswith(("__get__", "__set__")) and name != "__get__:data":
            return
        outs = out if isinstance(out, (tuple, list)) else (out,)
        out_tensors = [o for o in outs if isinstance(o, torch.Tensor)]
        site = None
        if graph_in is not None:
            site = self._classify(name, graph_in, out, out_tensors)
        if site is not None:
            self.window_sites.add(site.id)
            taint = frozenset({site.id}) if taint is None else taint | {site.id}
            if not out_tensors and site.kind in ("scalar-escape", "rewrap"):
                self._remember_escaped(out, site.id)
        if backwarded and any(o.requires_grad for o in out_tensors):
            self._retention_site()
        params = self.tracer.params
        for o in out_tensors:
            if o.requires_grad and o.is_leaf and (id(o) in params or any(o is a for a in args)):
                continue  # never tag parameters, nor a leaf an in-place op returned
            if taint is not None:
                self.taint.set(o, taint)
            if backwarded and o.requires_grad:
                self.backwarded.set(o, True)

    def _remember_escaped(self, value, site_id: int) -> None:
        """Floats, arrays and lists of floats that left the graph; ints are skipped (small ints are shared)."""
        pending = [value]
        while pending and len(self.escaped) < ESCAPED_LIMIT:
            v = pending.pop()
            if isinstance(v, list):
                pending.extend(v[:ESCAPED_LIMIT])
            elif not isinstance(v, (float, complex)) and type(v).__module__ != "numpy":
                continue
            self.escaped[id(v)] = (v, site_id)

    def _escaped_in(self, args, kwargs) -> frozenset | None:
        """Ids of the cuts whose escaped values this call takes back (directly or in a list/tuple)."""
        escaped = self.escaped
        found = None
        for a in (*args, *kwargs.values()):
            for v in a if isinstance(a, (list, tuple)) else (a,):
                e = escaped.get(id(v))
                if e is not None and e[0] is v:
                    found = {e[1]} if found is None else found | {e[1]}
        return frozenset(found) if found else None

    def _window_escapes(self) -> frozenset | None:
        ids = frozenset(sid for sid in self.window_sites if self.site_by_id[sid].kind == "scalar-escape")
        return ids or None

    def _classify(self, name, graph_in, out, out_tensors) -> Site | None:
        if not torch.is_grad_enabled():
            if self.tracer.in_step or not out_tensors or name.endswith("_") or name == "copy_":
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
            if any(w in source_line(path, line) for w in REWRAP_WORDS):
                kind = "rewrap"  # a tensor constructor converting graph tensors element by element
        key = (path, line, op, kind)
        site = self.sites.get(key)
        if site is None:
            site = Site(id=len(self.site_by_id), kind=kind, op=op, path=path, line=line,
                        grad_off_from=grad_off_from)
            self.sites[key] = site
            self.site_by_id.append(site)
        site.hits += 1
        params = self.tracer.params
        for t in graph_in:
            if t.grad_fn is None:
                if id(t) in params:
                    site.sources.add(id(t))
            elif site.walks < WALKS_PER_SITE:
                site.walks += 1
                self._walk_sources(site, t.grad_fn)
        return site

    def _walk_sources(self, site: Site, grad_fn) -> None:
        with self.tracer.pause:
            w = graphwalk.walk(grad_fn)
        params = self.tracer.params
        for pid in map(self.tracer.param_id, w.leaves + w.flat_leaves):
            if pid in params:
                site.sources.add(pid)
            else:
                site.other_sources += 1

    def _retention_site(self) -> None:
        path, line = user_frame(4)
        rec = self.retention_sites.setdefault((path, line), {"path": path, "line": line, "hits": 0, "backwards": set()})
        rec["hits"] += 1
        rec["backwards"].add(self.tracer.backward_calls)

    def _grad_mutation(self) -> None:
        if self.tracer.in_step:
            return
        site = user_frame(4)
        self.mutation_sites[site] = self.mutation_sites.get(site, 0) + 1

    def loss_backwarded(self, loss) -> None:
        """A backward() ran on `loss`: credit the cuts it derives from, and close the window of recent cuts."""
        for sid in self.taint.get(loss) or ():
            self.site_by_id[sid].tainted_losses += 1
        if loss.grad_fn is not None:
            self.backwarded.set(loss, True)

    def close_window(self) -> None:
        for sid in self.window_sites:
            self.site_by_id[sid].preceded_backward += 1
        self.window_sites = set()
        self.escaped = {}
