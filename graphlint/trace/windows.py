"""Which iterations' autograd graphs are still alive: the evidence behind `graph-retention`.

A window is the stretch of the run between two backward() calls (one training iteration,
with whatever evaluation or acting ran in it). Every graph node that an op builds directly on
a trainable leaf during a window holds that window's sentinel in its metadata; the sentinel
lives as long as any such node does. Any tensor that still carries a graph keeps at least one
such node alive (requires_grad starts at a leaf, and the op that consumed the leaf is in the
tensor's history), so a window whose sentinel is alive at a later backward() kept a graph:
a summed loss, a loss part or prediction in a history list, attention maps kept by a layer, a
validation loss or an acting-time Q-value stored in a buffer -- back-propagated or not.

Cost: one metadata write per op that takes a parameter (a layer's matmul, not its activations).
"""
from __future__ import annotations

import weakref

KEY = "graphlint.window"


class _Sentinel:
    __slots__ = ("__weakref__",)


class GraphWindows:
    def __init__(self) -> None:
        self.current = _Sentinel()
        self.closed: list[weakref.ref] = []  # earlier windows whose sentinel was alive at the last count

    def tag(self, outputs) -> None:
        """Outputs of an op that took a trainable leaf, with grad on: their node holds this window's sentinel."""
        for out in outputs:
            node = out.grad_fn
            if node is not None:
                node.metadata[KEY] = self.current

    def close(self, loss) -> int:
        """At a backward(): how many earlier windows still have a graph alive; then a new window starts. The
        loss's own root is tagged too (a total that sums losses holds no parameter op of its own window)."""
        if loss is not None and loss.grad_fn is not None:
            try:
                loss.grad_fn.metadata[KEY] = self.current
            except (AttributeError, RuntimeError):
                pass
        self.closed = [ref for ref in self.closed if ref() is not None]
        alive = len(self.closed)
        self.closed.append(weakref.ref(self.current))
        self.current = _Sentinel()
        return alive
