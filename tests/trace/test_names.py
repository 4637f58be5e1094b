"""Parameter names follow module ownership (CONTRACT.md "Names"), on real plain-torch runs through the CLI."""
from __future__ import annotations

from tests.trace.conftest import run_cli

OWNER = """
    import copy
    import torch, torch.nn as nn, torch.nn.functional as F

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
            self.out = nn.Linear(8, 1)

        def forward(self, x):
            return self.out(self.enc(x))

    class Owner(nn.Module):
        def __init__(self):
            super().__init__()
            self.student = Body()
            self.unused = nn.Linear(4, 4)
            self.teacher = copy.deepcopy(self.student)

        def loss(self, x, y):  # calls its submodules directly, like a LightningModule's training_step
            with torch.no_grad():
                target = self.teacher.out(self.teacher.enc(x))
            return F.mse_loss(self.student(x), y) + F.mse_loss(self.student(x), target)

    torch.manual_seed(0)
    owner = Owner()
    opt = torch.optim.SGD([*owner.student.parameters(), *owner.unused.parameters()], lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):
        opt.zero_grad()
        owner.loss(x, y).backward()
        opt.step()
"""


def test_submodules_called_directly_are_named_under_their_owner(tmp_path):
    rc, report, _ = run_cli(tmp_path, OWNER)
    got = {p["name"]: p["cause"] if not p["moved"] else "moved" for p in report["parameters"]}
    student = {f"Owner.student.{n}": "moved" for n in ("enc.0.weight", "enc.0.bias", "out.weight", "out.bias")}
    # the teacher is a deepcopy: its submodules were never registered through a hook, and are found by value
    teacher = {f"Owner.teacher.{n}": "frozen" for n in ("enc.0.weight", "enc.0.bias", "out.weight", "out.bias")}
    # held by the optimizer and never called: unused, since other parameters of Owner are reached
    unused = {"Owner.unused.weight": "unused-param", "Owner.unused.bias": "unused-param"}
    assert got == {**student, **teacher, **unused}
    assert report["roots"] == ["Owner"]
    [f] = [f for f in report["findings"] if f["category"] == "unused-param"]
    assert f["line"] == OWNER.splitlines().index("    class Owner(nn.Module):") + 2  # def __init__, 1-based
    assert rc == 1


DDP = """
    import tempfile
    import torch, torch.nn as nn, torch.nn.functional as F
    import torch.distributed as dist

    class Net(nn.Module):
        def __init__(self, body):  # one child, built before it: still the user's model, not a wrapper
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x).sum(1, keepdim=True)

    torch.manual_seed(0)
    dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)
    model = nn.parallel.DistributedDataParallel(Net(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    dist.destroy_process_group()
"""


def test_ddp_is_unwrapped_and_a_user_module_with_one_child_is_not(tmp_path):
    rc, report, _ = run_cli(tmp_path, DDP)
    assert {p["name"]: p["moved"] for p in report["parameters"]} == {
        "Net.body.0.weight": True, "Net.body.0.bias": True, "Net.body.1.weight": True, "Net.body.1.bias": True}
    assert rc == 0


LIBRARY = """
import torch.nn as nn


class Wrapper(nn.Module):
    \"\"\"Built around a module that already exists, like DDP or torch.compile's OptimizedModule.\"\"\"

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


class TextModel(nn.Module):
    \"\"\"Builds its one child itself, like some HF PreTrainedModels: it owns it, it does not wrap it.\"\"\"

    def __init__(self):
        super().__init__()
        self.text_model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x):
        return self.text_model(x)
"""

WRAPPED = """
    import torch, torch.nn.functional as F
    from fakelib import TextModel, Wrapper

    model = Wrapper(TextModel())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
"""


def test_a_library_wrapper_is_looked_through_and_a_library_model_with_one_child_is_not(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"  # what makes fakelib an installed library, not the user's code
    (site / "fakelib").mkdir(parents=True)
    (site / "fakelib" / "__init__.py").write_text(LIBRARY)
    monkeypatch.setenv("PYTHONPATH", str(site))
    rc, report, _ = run_cli(tmp_path, WRAPPED)
    assert [p["name"] for p in report["parameters"]] == [
        "TextModel.text_model.0.weight", "TextModel.text_model.0.bias",
        "TextModel.text_model.2.weight", "TextModel.text_model.2.bias"]
    assert rc == 0
