"""`moved` is read from the values: every torch.optim optimizer in each of its forms, user edits, restores."""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from graphlint.trace import watch
from tests.trace.conftest import by_name, run_cli

OPTIMIZERS = sorted(
    (cls for cls in vars(torch.optim).values()
     if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer),
    key=lambda cls: cls.__name__)


def forms(cls) -> list[str]:
    """The implementations one optimizer offers on CPU: the for-loop always, foreach and fused when it takes them."""
    accepted = inspect.signature(cls.__init__).parameters
    return ["for-loop"] + [form for form in ("foreach", "fused") if form in accepted]


CASES = [pytest.param(cls, form, id=f"{cls.__name__}-{form}") for cls in OPTIMIZERS for form in forms(cls)]


def form_kwargs(cls, form: str) -> dict:
    accepted = inspect.signature(cls.__init__).parameters
    if form == "for-loop":
        return {"foreach": False} if "foreach" in accepted else {}
    return {form: True}


class Net(nn.Module):
    def __init__(self, sparse: bool, bias: bool):
        super().__init__()
        self.embed = nn.Embedding(10, 8, sparse=sparse)
        self.body = nn.Linear(8, 8, bias=bias)
        self.head = nn.Linear(8, 1, bias=bias)
        self.spare = nn.Linear(8, 1, bias=bias)  # never called: no gradient, so no optimizer may move it

    def forward(self, idx):
        return self.head(torch.tanh(self.body(self.embed(idx))))


def test_the_optimizer_list_is_complete():
    names = {cls.__name__ for cls in OPTIMIZERS}
    assert {"SGD", "Adam", "AdamW", "Adagrad", "LBFGS", "SparseAdam", "Rprop"} <= names
    assert {f"{c.__name__}-{f}" for c, f in [(torch.optim.AdamW, "fused"), (torch.optim.SGD, "fused")]} <= {
        p.id for p in CASES}


@pytest.mark.parametrize(("cls", "form"), CASES)
def test_every_optimizer_form_moves_what_it_trains_and_nothing_else(cls, form):
    """Fused kernels update values without bumping version counters: the verdict must not depend on them."""
    torch.manual_seed(0)
    model = Net(sparse=cls is torch.optim.SparseAdam, bias=cls is not torch.optim.Muon)  # Muon: 2-D only
    idx, y = torch.randint(0, 10, (16,)), torch.randn(16, 1)
    if cls is torch.optim.SparseAdam:  # sparse gradients only: the embedding (and the unused spare)
        held = [*model.embed.parameters(), *model.spare.parameters()]
        companion = [torch.optim.SGD([*model.body.parameters(), *model.head.parameters()], lr=0.05)]
    else:
        held, companion = model.parameters(), []
    opt = cls(held, lr=0.05, **form_kwargs(cls, form))

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
    assert {p["cause"] for n, p in params.items() if not p["moved"]} == {"unused-param"}


class Parts(nn.Module):
    def __init__(self):
        super().__init__()
        self.edited_data, self.edited_no_grad, self.loaded, self.restored = (nn.Linear(4, 1) for _ in range(4))

    def forward(self, x):
        return self.edited_data(x) + self.edited_no_grad(x) + self.loaded(x) + self.restored(x)


def test_values_changed_by_the_user_move_and_restored_values_do_not():
    torch.manual_seed(0)
    model, source = Parts(), nn.Linear(4, 1)
    still = [p for m in (model.edited_data, model.edited_no_grad, model.loaded) for p in m.parameters()]
    opt = torch.optim.AdamW([{"params": still, "lr": 0.0}, {"params": model.restored.parameters()}],
                            lr=0.1, fused=True)
    saved = {k: v.clone() for k, v in model.restored.state_dict().items()}
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with watch(model) as report:
        for _ in range(3):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()
            model.edited_data.weight.data.mul_(0.5)
            with torch.no_grad():
                model.edited_no_grad.bias.add_(1.0)
            model.loaded.load_state_dict(source.state_dict())
        model.restored.load_state_dict(saved)  # changed by every step, then put back: not moved
    moved = {p["name"]: p["moved"] for p in report.parameters}
    assert moved == {
        "Parts.edited_data.weight": True, "Parts.edited_data.bias": False,
        "Parts.edited_no_grad.weight": False, "Parts.edited_no_grad.bias": True,
        "Parts.loaded.weight": True, "Parts.loaded.bias": True,
        "Parts.restored.weight": False, "Parts.restored.bias": False,
    }


def test_fused_adamw_through_the_cli(tmp_path):
    rc, doc, _ = run_cli(tmp_path, """
        import torch, torch.nn as nn, torch.nn.functional as F
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        for _ in range(5):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()
    """)
    assert rc == 0, doc["findings"]
    assert [p["moved"] for p in doc["parameters"]] == [True] * 4


def test_the_fingerprint_sees_one_element_and_is_fixed_size():
    from graphlint.trace.params import fingerprint

    big = torch.randn(1000, 100)
    before = fingerprint(big)
    big[517, 3] = torch.nextafter(big[517, 3], torch.tensor(float("inf")))  # one ulp, one element
    after = fingerprint(big)
    big[517, 3] = torch.nextafter(big[517, 3], torch.tensor(float("-inf")))
    assert before != after and fingerprint(big) == before
    assert len(before) == 3 and fingerprint(torch.randn(3)) is not None
    assert fingerprint(torch.zeros(0)) == fingerprint(torch.zeros(0, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_fingerprint_sees_two_elements_moving_by_equal_and_opposite_amounts(dtype):
    """A 2-class bias under Adam moves as [a+d, b-d]: with a and b of one exponent, the sum of the bit
    patterns and the float sum are both unchanged, exactly; the parameter still moved."""
    from graphlint.trace.params import fingerprint

    bias = torch.tensor([0.3125, 0.375], dtype=dtype)  # both in [0.25, 0.5): one exponent, one ulp size
    before = fingerprint(bias)
    step = 2.0 ** -6  # exact in every dtype here, and keeps both values inside [0.25, 0.5)
    bias += torch.tensor([step, -step], dtype=dtype)
    after = fingerprint(bias)
    assert bias.tolist() == [0.3125 + step, 0.375 - step]
    assert (after[0], after[2]) == (before[0], before[2])  # the cancelling case: both plain sums unchanged
    assert after != before
    bias -= torch.tensor([step, -step], dtype=dtype)
    assert fingerprint(bias) == before


HF_TRAINER = """
    import tempfile
    import torch
    from torch.utils.data import Dataset
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)

    class Sentences(Dataset):
        def __init__(self):
            self.ids = torch.randint(5, 128, (64, 16))

        def __len__(self):
            return len(self.ids)

        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": (self.ids[i, 0] > 64).long()}

    config = BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(config)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
                                 report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=Sentences())
        trainer.train()
        print("optimizer", type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer")
                                else trainer.optimizer).__name__, trainer.args.optim)
"""


def test_hugging_face_trainer_with_its_default_fused_adamw(tmp_path, capfd):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    _, doc, _ = run_cli(tmp_path, HF_TRAINER, "--steps", "0")
    script_output = capfd.readouterr().out
    assert "FUSED" in script_output.upper(), script_output  # the Trainer's default: what version counters miss
    trained = [p for p in doc["parameters"] if p["in_optimizer"] and p["reachable"]]
    assert len(trained) > 10 and all(p["moved"] for p in trained), [p["name"] for p in trained if not p["moved"]]
