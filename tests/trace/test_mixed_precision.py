"""Mixed precision (fp16 with GradScaler, bf16) in every optimizer form, on CPU and on CUDA.

The CUDA cases are skipped where no GPU is present (CI has none); run them on a GPU
machine with `python -m pytest tests/trace/test_mixed_precision.py`. A fused step that
GradScaler tells to skip still *runs* (the kernel skips inside), so whether it changed
anything must come from the scaler's inf check, not from the step being called.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphlint.trace import watch
from tests.trace.conftest import by_name, loud, run_cli
from tests.trace.test_moved import CASES, Net, form_kwargs

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def fused_on_cuda(cls) -> bool:
    """Some optimizers take `fused=True` but refuse CUDA tensors at their first step (Adagrad)."""
    probe = torch.zeros(2, device="cuda", requires_grad=True)
    probe.grad = torch.ones(2, device="cuda")
    try:
        cls([probe], lr=0.1, fused=True).step()
    except RuntimeError:
        return False
    return True


@CUDA
@pytest.mark.parametrize(("cls", "form"), CASES)
def test_every_optimizer_form_moves_what_it_trains_on_cuda(cls, form):
    torch.manual_seed(0)
    model = Net(sparse=cls is torch.optim.SparseAdam, bias=cls is not torch.optim.Muon).cuda()
    idx, y = torch.randint(0, 10, (16,), device="cuda"), torch.randn(16, 1, device="cuda")
    if cls is torch.optim.SparseAdam:
        held = [*model.embed.parameters(), *model.spare.parameters()]
        companion = [torch.optim.SGD([*model.body.parameters(), *model.head.parameters()], lr=0.05)]
    else:
        held, companion = model.parameters(), []
    opt = cls(held, lr=0.05, **form_kwargs(cls, form))
    if form == "fused" and not fused_on_cuda(cls):
        pytest.skip(f"{cls.__name__} has no fused CUDA kernel in torch {torch.__version__}")

    def closure():
        model.zero_grad()
        loss = F.mse_loss(model(idx), y)
        loss.backward()
        return loss

    with watch(model) as report:
        for _ in range(3):
            if cls is torch.optim.LBFGS:
                opt.step(closure)
                continue
            closure()
            for o in [opt, *companion]:
                o.step()
    params = by_name(report)
    assert {n for n, p in params.items() if p["moved"]} == {f"Net.{n}" for n, _ in model.named_parameters()
                                                            if not n.startswith("spare.")}
    assert {p["cause"] for p in params.values() if not p["moved"]} == {"unused-param"}


AMP_SCRIPT = """
import torch, torch.nn as nn, torch.nn.functional as F

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 32)
        self.body = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.LayerNorm(64))
        self.head = nn.Linear(64, 5)

    def forward(self, idx):
        h = self.body(self.embed(idx))
        {cut}
        return self.head(h)

torch.manual_seed(0)
model = Tagger().to("{device}")
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, {optimizer})
scaler = torch.amp.GradScaler("{device}", init_scale={init_scale}, enabled={fp16})
idx, y = torch.randint(0, 50, (32,), device="{device}"), torch.randint(0, 5, (32,), device="{device}")
for step in range(6):
    opt.zero_grad(set_to_none=True)
    with torch.autocast("{device}", dtype=torch.{dtype}):
        loss = F.cross_entropy(model(idx), y)
    scaler.scale(loss).backward()
    {grads}
    scaler.step(opt)
    scaler.update()
"""


def amp(tmp_path, device, *, dtype="float16", optimizer="fused=False", init_scale=1024.0, cut="", grads=""):
    source = AMP_SCRIPT.format(device=device, dtype=dtype, fp16=dtype == "float16", optimizer=optimizer, init_scale=init_scale,
                               cut=cut, grads=grads)
    return run_cli(tmp_path, source, "--steps", "4")


FORMS = ["fused=False, foreach=False", "foreach=True", "fused=True"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", FORMS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_training_is_clean(tmp_path, device, dtype, optimizer):
    rc, doc, _ = amp(tmp_path, device, dtype=dtype, optimizer=optimizer)
    assert rc == 0, loud(doc["findings"])
    assert all(p["moved"] for p in doc["parameters"]), [p for p in doc["parameters"] if not p["moved"]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", FORMS)
def test_gradscaler_skipping_every_step_is_a_step_gate(tmp_path, device, optimizer):
    """A scale of 2**120 overflows fp16 gradients at every step: GradScaler skips them all, fused or not."""
    rc, doc, _ = amp(tmp_path, device, optimizer=optimizer, init_scale=2.0 ** 120)
    assert rc == 1
    assert {p["cause"] for p in doc["parameters"]} == {"step-gate"}, doc["parameters"]


@pytest.mark.parametrize(("cut", "grads", "cause", "still"), [
    ("h = h.detach()", "", "detach", ("Tagger.embed", "Tagger.body")),
    ("", "for p in model.body.parameters(): p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=0.0) * 0",
     "grad-mutation", ("Tagger.body",)),
])
@pytest.mark.parametrize("device", DEVICES)
def test_causes_under_autocast_with_a_fused_optimizer(tmp_path, device, cut, grads, cause, still):
    rc, doc, _ = amp(tmp_path, device, optimizer="fused=True", cut=cut, grads=grads)
    assert rc == 1
    causes = {p["name"]: (p["moved"], p["cause"]) for p in doc["parameters"]}
    assert {n: c for n, c in causes.items() if n.startswith(still)} == {
        n: (False, cause) for n in causes if n.startswith(still)}
    assert all(moved for n, (moved, _) in causes.items() if not n.startswith(still))
