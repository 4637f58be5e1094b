"""The value model's answer for each kind of value, read from a small training script."""
from __future__ import annotations

import libcst as cst
import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.engine.analyze import Analysis
from graphlint.engine.flow import Context
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.values import Kind

SCRIPT = """
import torch
import torch.nn as nn
from diffusers import StableDiffusionPipeline

model = nn.Linear(4, 4)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
pipe = StableDiffusionPipeline.from_pretrained("m")
pipe.unet = model
x = torch.randn(2, 4)
out = model(x)
scale = nn.Parameter(torch.ones(1))
handle = model.register_forward_hook(print)
with torch.no_grad():
    frozen = model(x)
"""

CASES = [
    ("out", Kind.GRAPH), ("out * scale", Kind.GRAPH), ("(out, 1)", Kind.GRAPH), ("{'loss': out}", Kind.GRAPH),
    ("scale * 2", Kind.GRAPH), ("out.clone()", Kind.GRAPH), ("sum([out, out])", Kind.GRAPH),
    ("x", Kind.TENSOR), ("x * 2", Kind.TENSOR), ("out.detach()", Kind.TENSOR), ("frozen", Kind.TENSOR),
    ("torch.zeros_like(out)", Kind.TENSOR), ("pipe('a cat').images", Kind.TENSOR),
    ("scale", Kind.PARAMETER),
    ("out.item()", Kind.SCALAR), ("3", Kind.SCALAR), ("None", Kind.SCALAR),
    ("'%.3f' % out", Kind.STRING), ("f'{out}'", Kind.STRING), ("str(out)", Kind.STRING), ("', '.join(['a'])", Kind.STRING),
    ("(1, 'a')", Kind.CONTAINER),
    ("model", Kind.OBJECT), ("optimizer", Kind.OBJECT), ("model.register_forward_hook(print)", Kind.OBJECT),
    ("len(out)", Kind.OBJECT),
    ("handle", Kind.UNKNOWN), ("model.weight", Kind.UNKNOWN), ("optimizer.param_groups[0]['lr'] * 2", Kind.UNKNOWN),
]


@pytest.fixture(scope="module")
def kinds():
    source = SCRIPT + "".join(f"probe{i} = {expr}\n" for i, (expr, _) in enumerate(CASES))
    module = ModuleAnalysis(source, "probe.py")
    analysis = Analysis(module, AnalysisOptions(), ProjectIndex())
    ctx = Context(module, None, None)
    return {module.code(a.value, limit=200): analysis.values.kind(a.value, ctx) for a in module.all(cst.Assign)
            if isinstance(a.targets[0].target, cst.Name) and a.targets[0].target.value.startswith("probe")}


@pytest.mark.parametrize("expr, kind", CASES, ids=[c[0] for c in CASES])
def test_kind_of_value(kinds, expr, kind):
    assert kinds[expr] is kind
