"""The iterative autograd-graph walk: leaves, zero-derivative paths, budget, and freeing walked graphs."""
from __future__ import annotations

import torch

from graphlint.trace import graphwalk


def test_leaves_and_flat_paths():
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    w = graphwalk.walk(((a * 2).round() + b).sum().grad_fn)
    assert [id(t) for t in w.leaves] == [id(b)]
    assert [id(t) for t in w.flat_leaves] == [id(a)]
    both = graphwalk.walk(((a * 2).round() + a * b).sum().grad_fn)
    assert {id(t) for t in both.leaves} == {id(a), id(b)} and both.flat_leaves == []


def test_budget_truncates_and_deep_walked_graphs_free_cleanly():
    graphwalk.ensure_stack_room()
    w = torch.nn.Parameter(torch.ones(()))
    x = w
    for _ in range(60_000):
        x = x * 1.0000001
    assert graphwalk.walk(x.grad_fn, budget=1000).truncated
    full = graphwalk.walk(x.grad_fn)
    assert full.nodes == 60_001 and not full.truncated and [id(t) for t in full.leaves] == [id(w)]
    del x, full  # freed one C frame per walked node: needs the raised stack limit
