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


_zero_derivative_types: dict = {}


def _is_zero_derivative(tp) -> bool:
    flag = _zero_derivative_types.get(tp)
    if flag is None:
        flag = _zero_derivative_types[tp] = tp.__name__ in ZERO_DERIVATIVE_NODES
    return flag


def _accumulate_grad_type():
    import torch

    return torch._C._functions.AccumulateGrad


def walk(root, budget: int | None = None) -> Walk:
    """Visit the graph below `root` (a grad_fn) depth-first with an explicit stack.

    Leaves reached only through a zero-derivative op (round, sign, ...) go to `flat_leaves`:
    the loss does not depend on them in any way a gradient can see. The hot loop does one
    type check and one `next_functions` per node; zero-derivative subgraphs are explored after.
    """
    result = Walk()
    if root is None:
        return result
    budget = node_budget() if budget is None else budget
    seen = {root}
    stack = [root]
    flat_roots = []
    pop, push, add = stack.pop, stack.append, seen.add
    leaves = result.leaves
    acc = _accumulate_grad_type()
    is_flat = _is_zero_derivative
    while stack:
        node = pop()
        tp = type(node)
        if tp is acc:
            leaves.append(node.variable)
            continue
        if is_flat(tp):
            flat_roots.append(node)
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                add(nxt)
                push(nxt)
        if len(seen) >= budget:
            result.truncated = True
            break
    flat_seen: set = set()
    flat_stack = list(flat_roots)
    while flat_stack and not result.truncated:
        node = flat_stack.pop()
        if type(node) is acc:
            result.flat_leaves.append(node.variable)
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen and nxt not in flat_seen:
                flat_seen.add(nxt)
                flat_stack.append(nxt)
        if len(seen) + len(flat_seen) >= budget:
            result.truncated = True
    result.nodes = len(seen) + len(flat_seen)
    return result
