"""GL501 on a `.parameters()` generator used up before the optimizer is given it.

`model.parameters()` is a generator: counting the parameters through it (`sum(p.numel() for p in params)`, a
helper that loops over it, a `for` that logs shapes) leaves nothing for the optimizer built from the same name.
"""
from __future__ import annotations

import textwrap

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source

SCRIPT = """
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F


def count(params):
    return sum(p.numel() for p in params)


def build(backbone, head):
    params = {source}
{use}
    return torch.optim.SGD(itertools.chain(params, head.parameters()), lr=0.1)


backbone, head = nn.Linear(8, 8), nn.Linear(8, 2)
optimizer = build(backbone, head)
for step in range(10):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    F.cross_entropy(head(backbone(x)), y).backward()
    optimizer.step()
"""

USED_UP = {
    "counted by a helper": "    print(count(params))",
    "summed inline": "    n = sum(p.numel() for p in params)",
    "logged in a loop": "    for p in params:\n        print(p.shape)",
    "listed for a log": "    print(len(list(params)))",
}

KEPT = {
    "a list, not a generator": ("list(backbone.parameters())", "    print(count(params))"),
    "a loop that stops early": ("backbone.parameters()", "    for p in params:\n        break"),
    "a generator expression nobody consumes": ("backbone.parameters()", "    sizes = (p.numel() for p in params)"),
    "nothing iterates it": ("backbone.parameters()", "    print(type(params))"),
}


def findings(source: str, use: str):
    text = textwrap.dedent(SCRIPT).format(source=source, use=use)
    return text, [(f.rule, f.line) for f in analyze_source(text, "train.py", AnalysisOptions(), ProjectIndex())]


@pytest.mark.parametrize("name", sorted(USED_UP))
def test_a_generator_used_up_before_the_optimizer_is_flagged_where_it_is_used(name):
    text, found = findings("backbone.parameters()", USED_UP[name])
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "params = " in t) + 1  # the statement after it
    assert ("GL501", line) in found, found


@pytest.mark.parametrize("name", sorted(KEPT))
def test_a_generator_that_is_not_used_up_is_silent(name):
    _, found = findings(*KEPT[name])
    assert [f for f in found if f[0] == "GL501"] == []
