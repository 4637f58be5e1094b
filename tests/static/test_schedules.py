"""GL601 on schedule factors: integer division of the step, wherever the factor is computed.

The factor of a LambdaLR is 0 while `step // warmup` is 0; the division may shift the step
(`(step + 1) // warmup`) or sit in a helper the lambda hands the step to. A division whose
0 makes the factor 1 (`0.1 ** (epoch // 30)`) is a step decay, not a warm-up.
"""
from __future__ import annotations

import textwrap

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source

LOOP = """
import torch
import torch.nn as nn


{helpers}

model = nn.Linear(4, 1)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, {schedule})
for step in range(100):
    optimizer.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
    scheduler.step()
"""

WARMUP = 500

ZERO = {
    "shifted step inline": ("", f"lambda s: min(1.0, (s + 1) // {WARMUP})"),
    "helper given the step": (f"def warmup_factor(step, warmup):\n    return min(1.0, step // warmup)",
                              f"lambda s: warmup_factor(s, {WARMUP})"),
    "helper given the step second, shifted": (
        f"def factor(total, step):\n    return min(1.0, (step + 1) // total)", f"lambda it: factor({WARMUP}, it)"),
    "helper of a helper": ("def ramp(x, n):\n    return min(1, x // n)\n\n\ndef warmup(step):\n    return ramp(step, 400)",
                           "lambda s: warmup(s)"),
}

NONZERO = {
    "step decay through a helper": ("def decay(epoch):\n    return 0.1 ** ((epoch + 1) // 30)", "lambda e: decay(e)"),
    "true division in the helper": (f"def warmup_factor(step):\n    return min(1.0, (step + 1) / {WARMUP})",
                                    "lambda s: warmup_factor(s)"),
    "helper given something else than the step": (
        "def scale(n):\n    return min(1.0, n // 2)", "lambda s: scale(8)"),
}


def findings(helpers: str, schedule: str):
    source = textwrap.dedent(LOOP).format(helpers=helpers, schedule=schedule)
    return source, [(f.rule, f.line) for f in analyze_source(source, "train.py", AnalysisOptions(), ProjectIndex())]


@pytest.mark.parametrize("name", sorted(ZERO))
def test_an_integer_divided_warmup_factor_is_flagged_where_it_divides(name):
    source, found = findings(*ZERO[name])
    line = next(i for i, text in enumerate(source.splitlines(), 1) if "//" in text and "def " not in text
                and ("ramp" not in name or "x //" in text))
    assert ("GL601", line) in found, found


@pytest.mark.parametrize("name", sorted(NONZERO))
def test_a_factor_that_is_not_zero_is_silent(name):
    _, found = findings(*NONZERO[name])
    assert [f for f in found if f[0] == "GL601"] == []
