"""Parameter state and movement: every parameter the tracer knows, its gradient history, and whether it moved.

"Moved" compares the value after the run with a fingerprint taken just before the first
optimizer step. The fingerprint is a fixed-size reduction of the values (no copy of the
parameter), so memory stays O(1) per parameter.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import torch

from graphlint.trace.distributed import local_shard

INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
SQUARE_CHUNK = 1 << 20  # elements squared at a time: an 8 MiB temporary, whatever the parameter's size


def fingerprint(t: torch.Tensor):
    """Three numbers read from the values themselves (not the version counter, which fused optimizers
    do not bump): the integer sum of the element bit patterns, exact, so that any change of a single
    element shows; the int64 sum of the squares of their 32-bit words, which two elements moving by
    equal and opposite amounts (a 2-class bias under Adam, [a+d, b-d]) change although both plain
    sums stay put; and the float64 sum. Only a permutation of the values leaves all three unchanged.

    A DTensor is read through its local shard: reading the whole would start a collective. O(1)
    memory: reductions, and the squares are taken SQUARE_CHUNK elements at a time.
    """
    try:
        d = local_shard(t).detach()
        if d.is_complex():
            d = torch.view_as_real(d)
        bits = d.view(INT_VIEW[d.element_size()]) if d.is_floating_point() else d
        total = d.sum(dtype=torch.float64).item() if d.numel() else 0.0
        words = bits.reshape(-1)
        if words.element_size() == 8:  # squared in 32-bit halves: a 64-bit square wraps, and for steps of a
            words = words.view(torch.int32)  # power of two ulps its change is a multiple of 2**64
        squares = torch.zeros((), dtype=torch.int64, device=bits.device)
        for chunk in words.split(SQUARE_CHUNK):
            c = chunk.to(torch.int64)  # a copy: 8 bytes from 4 or fewer, so never the parameter itself
            squares += c.mul_(c).sum()
        return int(bits.sum(dtype=torch.int64).item()), int(squares.item()), struct.pack("d", total)
    except (RuntimeError, KeyError, TypeError):
        return None


@dataclass
class ParamState:
    tensor: torch.Tensor
    order: int
    baseline: tuple | None = None  # fingerprint of the value before the first step
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
    last_clear_site: tuple | None = None  # the zero_grad() call that cleared it last
    clears_before_step: dict = field(default_factory=dict)  # zero_grad() site -> steps it left without a gradient
    grad_after_backward: float | None = None  # norm right after the last backward (nan kept)


def grad_norms(grads) -> list[float]:
    """One norm per gradient (a single foreach kernel when all are dense)."""
    if not grads:
        return []
    grads = [local_shard(g) for g in grads]  # a DTensor's gradient is one too: norms of this rank's shard
    if all(not g.is_sparse for g in grads):
        norms = torch._foreach_norm(grads)
        if len({n.dtype for n in norms}) == 1:
            return torch.stack(norms).tolist()
        return torch.stack([n.double() for n in norms]).tolist()
    return [g.coalesce().values().norm().item() if g.is_sparse else g.norm().item() for g in grads]


class ParamTable(dict):
    """id(parameter) -> ParamState, in registration order; reads values with the tracer paused."""

    def __init__(self, pause):
        super().__init__()
        self.pause = pause
        self.after_first_step = False  # a parameter first seen later gets its baseline when seen

    def add(self, p: torch.Tensor) -> ParamState:
        st = self.get(id(p))
        if st is None:
            st = ParamState(tensor=p, order=len(self))
            st.baseline = self._state_of(p)
            st.baseline_at_step = self.after_first_step
            self[id(p)] = st
        return st

    def _state_of(self, p: torch.Tensor):
        with self.pause, torch.no_grad():
            return fingerprint(p)

    def rebaseline(self) -> None:
        """Take 'the value before the first step' for every parameter known now."""
        self.after_first_step = True
        for st in self.values():
            if not st.baseline_at_step:
                st.baseline = self._state_of(st.tensor)
                st.baseline_at_step = True

    def update_moved(self, recheck: bool = True) -> None:
        """Compare each value with its baseline; between steps (recheck=False) one seen moving is not re-read.

        A value that could not be read (None) counts as moved: graphlint says nothing it cannot show.
        """
        for st in self.values():
            if st.moved and not recheck:
                continue
            now = self._state_of(st.tensor)
            st.moved = now is None or st.baseline is None or now != st.baseline
