"""Which cause wins when several hold: a loss term left out of backward(), escapes that do or do not come back."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from graphlint.trace.explain import PRECEDENCE, _Explainer
from graphlint.trace.report import TraceReport
from tests.trace.conftest import by_name, run_cli

torch.manual_seed(0)
X, Y = torch.randn(16, 4), torch.randn(16, 1)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head_a = nn.Linear(8, 1)
        self.head_b = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.head_a(h), self.head_b(h)


def still_causes(report) -> dict:
    return {p["name"]: p["cause"] for p in report.parameters if not p["moved"]}


def holding(report_facts, name) -> set:
    explainer = _Explainer(report_facts)
    [p] = [p for p in report_facts["params"] if p["name"] == name]
    return {c[0] for c in explainer.holding(p)}


def run(loss_of, steps=3):
    """Train TwoHeads with `loss_of(a, b) -> (loss to backward, logged value)`; return (report, facts)."""
    from graphlint.trace.explain import build_report
    from graphlint.trace.tracer import Tracer

    model = TwoHeads()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tracer = Tracer().install()
    try:
        for _ in range(steps):
            opt.zero_grad()
            a, b = model(X)
            loss, logged = loss_of(a, b)
            loss.backward()
            opt.step()
            print(f"logged {logged:.3f}")
    finally:
        tracer.uninstall()
    facts = tracer.facts()
    return TraceReport(*build_report(facts)), facts


def test_a_logged_loss_term_left_out_of_backward_is_backward_missing():
    report, facts = run(lambda a, b: (F.mse_loss(a, Y), F.mse_loss(b, Y).item()))
    assert still_causes(report) == {"TwoHeads.head_b.weight": "backward-missing",
                                    "TwoHeads.head_b.bias": "backward-missing"}
    # the .item() is upstream of head_b, but its number never comes back: no scalar-escape
    assert holding(facts, "TwoHeads.head_b.weight") == {"backward-missing", "unused-param"}
    assert "never comes back into a loss" in by_name(report)["TwoHeads.head_b.weight"]["explanation"]
    [finding] = [f for f in report.findings if f.category == "backward-missing"]
    assert "loss.backward()" in open(__file__).read().splitlines()[finding.line - 1]


def test_an_escaped_number_that_comes_back_into_the_loss_is_scalar_escape():
    def loss_of(a, b):
        weights = b.squeeze(1).tolist()  # numbers out of the graph ...
        penalty = sum(w * x for w, x in zip(weights, X[:, 0]))  # ... and back into the loss
        return F.mse_loss(a, Y) + 0.01 * penalty, 0.0

    report, _ = run(loss_of)
    assert still_causes(report) == {"TwoHeads.head_b.weight": "scalar-escape",
                                    "TwoHeads.head_b.bias": "scalar-escape"}


def test_a_flowed_cut_beats_an_unreturned_escape():
    def loss_of(a, b):
        logged = F.mse_loss(b, Y).item()
        return F.mse_loss(a, Y) + b.detach().mean(), logged

    report, facts = run(loss_of)
    assert still_causes(report) == {"TwoHeads.head_b.weight": "detach", "TwoHeads.head_b.bias": "detach"}
    assert holding(facts, "TwoHeads.head_b.bias") == {"detach", "backward-missing", "unused-param"}


def test_precedence_is_one_total_order_over_the_taxonomy():
    assert len(set(PRECEDENCE)) == len(PRECEDENCE)
    assert PRECEDENCE.index("detach") < PRECEDENCE.index("backward-missing") < PRECEDENCE.index("unused-param")


def test_multi_term_loss_through_the_cli(tmp_path):
    rc, doc, _ = run_cli(tmp_path, """
        import torch, torch.nn as nn, torch.nn.functional as F
        torch.manual_seed(0)
        body, head_a, head_b = nn.Linear(4, 8), nn.Linear(8, 1), nn.Linear(8, 1)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.head_a, self.head_b = body, head_a, head_b

            def forward(self, x):
                h = torch.relu(self.body(x))
                return self.head_a(h), self.head_b(h)

        model = Net()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        for step in range(5):
            opt.zero_grad()
            a, b = model(x)
            loss_a, loss_b = F.mse_loss(a, y), F.mse_loss(b, y)
            loss_a.backward()
            opt.step()
            print(f"step {step}: a {loss_a.item():.3f} b {loss_b.item():.3f}")
    """)
    assert rc == 1
    still = {p["name"]: p["cause"] for p in doc["parameters"] if not p["moved"]}
    assert still == {"Net.head_b.weight": "backward-missing", "Net.head_b.bias": "backward-missing"}
    assert {f["category"] for f in doc["findings"] if f["severity"] == "error"} == {"backward-missing"}


def test_escaped_numbers_are_followed_by_identity_and_ints_never():
    from graphlint.trace.cuts import CutRecorder

    cuts = CutRecorder(tracer=None)
    first, inner = 1.5, 2.5
    cuts._remember_escaped([first, [inner, 3], 7], site_id=4)
    assert cuts._escaped_in((torch.ones(1), first), {}) == {4}
    assert cuts._escaped_in(([0.0, inner],), {}) == {4}  # inside a list handed to torch.tensor
    assert cuts._escaped_in((float("1.5"), 3, 7), {}) is None  # an equal float is another object; ints are shared
    cuts.close_window()
    assert cuts._escaped_in((first,), {}) is None  # forgotten at the next backward()


def test_a_cleared_gradient_beats_a_gradient_that_was_zero():
    """A siamese difference gives the last bias an exactly-zero gradient; zero_grad() before step() clears all."""
    from graphlint.trace.explain import build_report
    from graphlint.trace.tracer import Tracer

    encoder = nn.Linear(4, 3)
    opt = torch.optim.SGD(encoder.parameters(), lr=0.1)
    x1, x2 = torch.randn(8, 4), torch.randn(8, 4)
    tracer = Tracer().install()
    try:
        for _ in range(3):
            ((encoder(x1) - encoder(x2)) ** 2).mean().backward()
            opt.zero_grad()
            opt.step()
    finally:
        tracer.uninstall()
    facts = tracer.facts()
    report = TraceReport(*build_report(facts))
    assert still_causes(report) == {"Linear.weight": "zero-grad-order", "Linear.bias": "zero-grad-order"}
    assert holding(facts, "Linear.bias") == {"zero-grad-order", "unused-param"}
