"""Every runtime cause on a real (tiny, CPU) training loop, traced in-process with graphlint.trace.watch()."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from graphlint.trace import watch
from tests.trace.conftest import by_name, loud

torch.manual_seed(0)
X, Y = torch.randn(16, 4), torch.randn(16, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def causes(report, prefix: str) -> set:
    return {p["cause"] for p in report.parameters if p["name"].startswith(prefix) and not p["moved"]}


def lines_of(report, category: str) -> list[int]:
    return [f.line for f in report.findings if f.category == category]


def test_detach_is_located_and_tied_to_the_body():
    class Detached(Net):
        def forward(self, x):
            h = torch.relu(self.body(x)).detach()
            return self.head(h)

    model = Detached()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(3):
            opt.zero_grad()
            F.mse_loss(model(X), Y).backward()
            opt.step()
    assert causes(report, "Detached.body") == {"detach"}
    assert by_name(report)["Detached.head.weight"]["moved"]
    assert not by_name(report)["Detached.body.weight"]["reachable"]
    [f] = [f for f in report.findings if f.category == "detach"]
    assert f.path.endswith("test_causes.py") and f.pass_ == "runtime"
    assert "detach()" in open(__file__).read().splitlines()[f.line - 1]


def test_scalar_escape_rewrap_no_grad_and_argmax():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def loss_scalar():
        out = model(X)
        return torch.tensor(F.mse_loss(out, Y).item(), requires_grad=True)

    def loss_rewrap():
        out = torch.tensor(model(X))
        return F.mse_loss(out, Y) + 0 * model.head.bias.sum()

    def loss_no_grad():
        with torch.no_grad():
            h = torch.relu(model.body(X))
        return F.mse_loss(model.head(h), Y)

    def loss_argmax():
        out = model(X)
        return (out.argmax(1).float() - Y.squeeze(1)).abs().mean() * model.head.bias.sum()

    expected = {loss_scalar: "scalar-escape", loss_rewrap: "rewrap", loss_no_grad: "no-grad",
                loss_argmax: "non-differentiable"}
    for make_loss, cause in expected.items():
        with watch(model) as report:  # registered: the no-grad variant never calls model() itself
            for _ in range(2):
                opt.zero_grad()
                make_loss().backward()
                opt.step()
        assert causes(report, "Net.body") == {cause}, (make_loss.__name__, report.causes())
        assert lines_of(report, cause), make_loss.__name__


def test_round_counts_as_non_differentiable_even_though_the_graph_passes_through():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(X).round(), Y).backward()
            opt.step()
    assert causes(report, "Net.") == {"non-differentiable"}


def test_gradient_changes_between_backward_and_step():
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            F.mse_loss(model(X), Y).backward()
            for p in model.body.parameters():
                p.grad.mul_(0)
            opt.step()
            opt.zero_grad()
    assert causes(report, "Net.body") == {"grad-mutation"}
    assert by_name(report)["Net.head.weight"]["moved"]

    model2 = Net()
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            F.mse_loss(model2(X), Y).backward()
            opt2.zero_grad()
            opt2.step()
    assert causes(report, "Net.") == {"zero-grad-order"}


def test_step_never_runs_lr_zero_backward_missing_and_coverage():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt) as report:
        for _ in range(3):
            opt.zero_grad()
            loss = F.mse_loss(model(X), Y)
            loss.backward()
            if loss.item() < 0:
                opt.step()
    assert causes(report, "Net.") == {"step-gate"}

    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(X), Y).backward()
            opt.step()
    assert causes(report, "Net.") == {"lr-zero"}

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            loss = F.mse_loss(model(X), Y)
            loss.backward  # noqa: B018 - the missing call is the point
            opt.step()
    assert causes(report, "Net.") == {"backward-missing"}

    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(X), Y).backward()
            opt.step()
    assert causes(report, "Net.body") == {"optimizer-coverage"}


def test_gradscaler_that_skips_every_step():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    with watch() as report:
        for _ in range(3):
            opt.zero_grad()
            scaler.scale(F.mse_loss(model(X), Y) * float("inf")).backward()
            scaler.step(opt)
            scaler.update()
    assert causes(report, "Net.") == {"step-gate"}
    assert report.doc["steps"]["optimizer_steps_skipped"] == 3


def test_unused_unregistered_frozen():
    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 8)
            self.spare = nn.Linear(8, 8)
            self.extra = [nn.Linear(8, 8)]
            self.scale = torch.ones(1, requires_grad=True)
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.extra[0](torch.relu(self.body(x)))) * self.scale

    model = Wide()
    model.body.weight.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(X), Y).backward()
            opt.step()
    p = by_name(report)
    assert p["Wide.spare.weight"]["cause"] == "unused-param"
    assert p["Wide.body.weight"]["cause"] == "frozen"
    assert p["Wide.body.bias"]["moved"]
    unreg = [f.message for f in report.findings if f.category == "unregistered-param"]
    assert any("Wide.extra" in m for m in unreg) and any("Wide.scale" in m for m in unreg)
    assert not [f for f in report.findings if f.category == "frozen" and f.severity.is_loud]


def test_graph_retention_and_missing_zero_grad():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with watch() as report:
        total = 0
        for _ in range(5):
            opt.zero_grad()
            loss = F.mse_loss(model(X), Y)
            loss.backward()
            opt.step()
            total = total + loss
    [f] = [f for f in report.findings if f.category == "graph-retention"]
    assert "total = total + loss" in open(__file__).read().splitlines()[f.line - 1]
    assert report.doc["graph"]["earlier_graphs_alive"][-1] >= 3

    with watch() as report:
        for _ in range(4):
            F.mse_loss(model(X), Y).backward()
            opt.step()
    assert [f["category"] for f in loud(report.findings)] == ["missing-zero-grad"]


def test_assert_all_train_explains_each_parameter():
    model = Net()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    with watch() as report:
        opt.zero_grad()
        F.mse_loss(model(X), Y).backward()
        opt.step()
    with pytest.raises(AssertionError, match=r"Net.body.weight: \[optimizer-coverage\]"):
        report.assert_all_train()
    assert "Net:" in str(report)


def test_carried_state_never_detached_deepens_every_graph():
    cell = nn.RNNCell(4, 8)
    opt = torch.optim.SGD(cell.parameters(), lr=0.01)
    with watch() as report:
        h = torch.zeros(2, 8)
        for _ in range(5):  # gradients accumulate over a sequence; one step at the end
            h = cell(torch.randn(2, 4), h)
            h.pow(2).mean().backward(retain_graph=True)
        opt.step()
    [f] = [f for f in report.findings if f.category == "graph-retention"]
    assert "larger graph" in f.message


def clamp_every_gradient(model, bound):
    for p in model.parameters():
        p.register_hook(lambda g: g.clamp(-bound, bound))  # the line a zeroing hook is blamed on


@pytest.mark.parametrize(("bound", "zeroed"), [(0.0, True), (0.05, False)])
def test_a_gradient_hook_that_zeroes_gradients_is_grad_mutation_at_its_registration(bound, zeroed):
    """A clamp to a zero bound makes every gradient 0 inside autograd: not an unused or cut parameter."""
    torch.manual_seed(0)
    model = Net()
    with watch() as report:  # hooks are watched from their registration on, as under `graphlint trace`
        clamp_every_gradient(model, bound)
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            out = model(X)
            # sampling is non-differentiable: it must not be blamed for what the hook did
            (F.mse_loss(out, Y) * torch.distributions.Categorical(logits=out.detach().expand(-1, 2)).sample()
             .float().add(1).mean()).backward()
            opt.step()
    if not zeroed:
        assert all(p["moved"] for p in report.parameters)
        return
    assert causes(report, "Net.") == {"grad-mutation"}
    [f] = [f for f in report.findings if f.category == "grad-mutation"]
    hook_line = next(i for i, l in enumerate(open(__file__).read().splitlines(), 1) if "a zeroing hook is blamed" in l)
    assert f.path.endswith("test_causes.py") and f.line == hook_line


def test_a_gradient_hook_that_rescales_is_not_blamed():
    torch.manual_seed(0)
    model = Net()
    for p in model.parameters():
        p.register_hook(lambda g: g * 0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch() as report:
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(X), Y).backward()
            opt.step()
    assert all(p["moved"] for p in report.parameters) and not loud(report.findings)


def test_the_other_optimizers_zero_grad_between_backward_and_step_is_zero_grad_order_at_that_call():
    """Optimizers swapped on unpacking: G's gradients are cleared by its own optimizer, named by the other."""
    torch.manual_seed(0)
    gen, disc = nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 1)
    opt_gen, opt_disc = (torch.optim.Adam(m.parameters(), lr=1e-2) for m in (gen, disc))
    opt_g, opt_d = opt_disc, opt_gen  # the bug: the names are the wrong way round
    with watch(gen, disc) as report:
        for _ in range(3):
            fake = gen(X)
            opt_g.zero_grad()
            disc(fake).mean().backward()
            opt_g.step()
            opt_d.zero_grad()  # clears the generator's gradients before its optimizer steps
            (disc(fake.detach()) - disc(X)).mean().backward()
            opt_d.step()
    params = by_name(report)
    assert {n: p["cause"] for n, p in params.items() if not p["moved"]} == {
        "Sequential.0.weight": "zero-grad-order", "Sequential.0.bias": "zero-grad-order"}
    [f] = [f for f in report.findings if f.category == "zero-grad-order"]
    assert "clears the generator" in open(__file__).read().splitlines()[f.line - 1]
