"""Iterative walks over a real autograd graph, and the stack room that freeing a walked graph needs.

Since torch 2.13 an autograd node that has ever had a Python wrapper (every node a Python
walk visits) is freed through Python's deallocator, one C frame per node: freeing a walked
chain of 300k nodes needs ~60 MB of C stack, far beyond the default 8 MB. `ensure_stack_room`
raises the soft stack limit (Linux grows the main thread's stack on demand up to it), and
`walk` stops after `node_budget()` nodes so that a walk never makes a graph unfreeable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

try:
    import resource
except ImportError:  # not on POSIX: no stack limit to raise
    resource = None

# Ops whose derivative is zero everywhere: the graph passes through them, the gradient does not.
ZERO_DERIVATIVE_NODES = frozenset(
    {"RoundBackward0", "RoundBackward1", "FloorBackward0", "CeilBackward0", "SignBackward0",
     "SgnBackward0", "TruncBackward0"}
)
WANTED_STACK = 4 << 30  # 4 GiB of address space, committed only as it is used
BYTES_PER_NODE = 400  # measured ~200 B of C stack per freed node; twice that for safety


def ensure_stack_room() -> int:
    """Raise the soft stack limit as far as allowed (up to 4 GiB); return the limit in bytes."""
    if resource is None:
        return 8 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = WANTED_STACK if hard == resource.RLIM_INFINITY else min(WANTED_STACK, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return WANTED_STACK if soft == resource.RLIM_INFINITY else soft


_budget: int | None = None


def node_budget() -> int:
    global _budget
    if _budget is None:
        _budget = max(10_000, ensure_stack_room() // BYTES_PER_NODE)
    return _budget


@dataclass
class Walk:
    """What one walk from a root found."""

    leaves: list = field(default_factory=list)  # leaf tensors (AccumulateGrad.variable), each once
    flat_leaves: list = field(default_factory=list)  # leaves reached only through zero-derivative ops
    nodes: int = 0
    truncated: bool = False


def walk(root, budget: int | None = None) -> Walk:
    """Visit the graph below `root` (a grad_fn) depth-first with an explicit stack.

    Leaves reached only through a zero-derivative op (round, sign, ...) go to `flat_leaves`:
    the loss does not depend on them in any way a gradient can see.
    """
    result = Walk()
    if root is None:
        return result
    budget = node_budget() if budget is None else budget
    seen = {root}
    stack = [(root, False)]
    pop, push, add = stack.pop, stack.append, seen.add
    leaves, flat = result.leaves, result.flat_leaves
    flat_seen: set = set()
    while stack:
        node, flat_path = pop()
        name = type(node).__name__
        if name == "AccumulateGrad":
            (flat if flat_path else leaves).append(node.variable)
            continue
        below_flat = flat_path or name in ZERO_DERIVATIVE_NODES
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            if nxt in seen:
                continue
            if below_flat:
                # explored as flat; it may be reached again through a differentiable path
                if nxt in flat_seen:
                    continue
                flat_seen.add(nxt)
                push((nxt, True))
                continue
            add(nxt)
            push((nxt, False))
        if len(seen) + len(flat_seen) >= budget:
            result.truncated = True
            break
    result.nodes = len(seen) + len(flat_seen)
    if flat:
        live = {id(t) for t in leaves}
        result.flat_leaves = [t for t in flat if id(t) not in live]
    return result
