"""Property test: analysing any program, however odd, never raises and never reports an
internal error. Programs come from Python's grammar (hypothesmith) and from a generator of
training-loop shapes that drives the loss-flow analysis and the rules through odd nestings.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.files import SourceFile
from graphlint.runner import analyze_file

# Statements that training code is made of: every sink, cut, gate and step the rules look at.
SIMPLE = [
    "loss = criterion(model(x), y)", "loss.backward()", "opt.step()", "opt.zero_grad()",
    "scaler.scale(loss).backward()", "scaler.step(opt)", "accelerator.backward(loss)",
    "torch.autograd.backward(loss)", "g = torch.autograd.grad(loss, params)",
    "x = x.detach()", "h = self.enc(x).detach()", "self.h = h", "h = self.h", "loss = loss + h.sum()",
    "v = loss.item()", "t = torch.tensor(v)", "loss = loss * t", "p = logits.argmax(-1)",
    "loss = (p == y).float().mean()", "losses.append(loss)", "total += loss", "del loss",
    "x.grad = None", "p.grad.zero_()", "model.eval()", "model.train()", "p.requires_grad_(False)",
    "a, (b, c) = f(x), (loss, h)", "d = {'loss': loss}", "loss = d['loss']", "loss = out[0]",
    "return loss", "return", "yield loss", "pass", "break", "continue", "global g",
    "opt = torch.optim.SGD(model.parameters(), lr=0.0)", "model = Net()",
    "torch.nn.utils.clip_grad_norm_(model.parameters(), 0.0)", "loss = F.cross_entropy(self(x), y)",
    "x = x + (q - x).detach()", "lam = lambda: loss.backward()", "loss = -loss if flip else loss",
]
HEADERS = [
    "for i, (x, y) in enumerate(loader):", "while step < n:", "with torch.no_grad():",
    "with torch.inference_mode():", "with torch.set_grad_enabled(False):", "with autocast(), ctx as c:",
    "if (i + 1) % k == 0:", "if not torch.isfinite(loss):", "if loss > 0:", "else:", "try:",
    "except Exception:", "finally:", "def training_step(self, batch, batch_idx):", "def forward(self, x):",
    "def train(model, loader, opt):", "async def f():", "class Net(nn.Module):", "class Model(L.LightningModule):",
    "@torch.no_grad()\ndef evaluate(model):", "match batch:", "case (x, y):",
]
IMPORTS = (
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    "from torch import no_grad as ng, optim\nimport lightning as L\n"
)


def indent(block: str) -> str:
    return "".join("    " + line + "\n" if line else "\n" for line in block.splitlines())


training_blocks = st.recursive(
    st.lists(st.sampled_from(SIMPLE), min_size=1, max_size=4).map("\n".join),
    lambda inner: st.lists(
        st.one_of(inner, st.tuples(st.sampled_from(HEADERS), inner).map(lambda hb: hb[0] + "\n" + indent(hb[1]))),
        min_size=1, max_size=4,
    ).map("\n".join),
    max_leaves=20,
)
training_programs = training_blocks.map(lambda body: IMPORTS + body + "\n")


def analyse(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.py"
        path.write_text(text, encoding="utf-8")
        result = analyze_file(SourceFile("generated.py", path), AnalysisOptions(), ProjectIndex())
    message = result.error.message if result.error else ""
    assert "internal error" not in message and "crashed" not in message, (message, text)
    assert all(f.line >= 1 and f.path == "generated.py" for f in result.findings)


COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@settings(max_examples=30, **COMMON)
@given(hypothesmith.from_grammar())
def test_programs_from_the_grammar(text):
    analyse(text)


@settings(max_examples=20, **COMMON)
@given(hypothesmith.from_node())
def test_programs_from_libcst_nodes(text):
    analyse(text)


@settings(max_examples=150, **COMMON)
@given(training_programs)
def test_training_loop_shapes(text):
    analyse(text)


def test_module_level_nonlocal_is_reported_as_a_syntax_error():
    """Found by test_training_loop_shapes: libcst parses it, its scope analysis then raises."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.py"
        path.write_text("nonlocal h\n", encoding="utf-8")
        result = analyze_file(SourceFile("generated.py", path), AnalysisOptions(), ProjectIndex())
    assert result.error is not None
    assert result.error.message.startswith("syntax error at line 1") and "nonlocal declaration not allowed" in result.error.message
