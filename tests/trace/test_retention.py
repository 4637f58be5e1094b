"""Graph retention at run time: any graph an iteration builds that is still alive iterations later, whether or
not backward() ran through it (loss parts, a layer's attention maps, acting-time Q-values, validation losses).
Each correct twin keeps the same objects but detached, or keeps only the latest graph."""
from __future__ import annotations

from collections import deque

import torch
import torch.nn as nn
import torch.nn.functional as F

from graphlint.trace import watch

torch.manual_seed(0)
X, Y = torch.randn(16, 4), torch.randn(16, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def retention(report) -> list:
    return [f for f in report.findings if f.category == "graph-retention"]


def train_keeping(keep, steps: int = 8):
    """Train Net for ``steps`` iterations, calling ``keep(model, out, loss, parts)`` after each step."""
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with watch() as report:
        for _ in range(steps):
            out = model(X)
            mse = F.mse_loss(out, Y)
            penalty = 1e-3 * out.abs().mean()
            loss = mse + penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
            keep(model, out, loss, {"mse": mse, "penalty": penalty})
    return report


def test_loss_parts_kept_in_a_history():
    history = {"mse": [], "penalty": []}
    report = train_keeping(lambda model, out, loss, parts: [history[k].append(v) for k, v in parts.items()])
    assert len(retention(report)) == 1


def test_loss_parts_kept_detached_are_not_retention():
    history = {"mse": [], "penalty": []}
    report = train_keeping(lambda model, out, loss, parts: [history[k].append(v.detach()) for k, v in parts.items()])
    assert retention(report) == []


def test_only_the_latest_output_kept_is_not_retention():
    last = {}
    report = train_keeping(lambda model, out, loss, parts: last.update(out=out, loss=loss))
    assert retention(report) == []


def test_a_bounded_window_of_graphs_is_still_retention():
    window = deque(maxlen=4)
    report = train_keeping(lambda model, out, loss, parts: window.append(loss))
    assert len(retention(report)) == 1


def test_predictions_of_an_evaluation_without_no_grad_kept_per_epoch():
    scores = []
    report = train_keeping(lambda model, out, loss, parts: scores.append(F.mse_loss(model(X[:4]), Y[:4])))
    assert len(retention(report)) == 1


def test_evaluation_under_no_grad_is_not_retention():
    scores = []

    def evaluate(model, out, loss, parts):
        with torch.no_grad():
            scores.append(F.mse_loss(model(X[:4]), Y[:4]))

    assert retention(train_keeping(evaluate)) == []


class AttentionPool(nn.Module):
    def __init__(self, dim, keep):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.keep = keep
        self.maps = []

    def forward(self, h):
        w = self.score(h).squeeze(-1).softmax(-1)
        self.maps.append(w if self.keep == "graph" else w.detach())
        return (w.unsqueeze(-1) * h).sum(1)


def train_attention(keep: str):
    pool, head = AttentionPool(4, keep), nn.Linear(4, 1)
    opt = torch.optim.Adam([*pool.parameters(), *head.parameters()], lr=1e-2)
    with watch() as report:
        for _ in range(8):
            loss = F.mse_loss(head(pool(torch.randn(8, 5, 4))), torch.randn(8, 1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return report


def test_attention_maps_kept_by_a_layer():
    assert len(retention(train_attention("graph"))) == 1


def test_detached_attention_maps_are_not_retention():
    assert retention(train_attention("detached")) == []


def act_and_learn(detach_priority: bool):
    q_net = Net()
    opt = torch.optim.Adam(q_net.parameters(), lr=1e-3)
    buffer = []
    with watch() as report:
        for t in range(24):
            obs = torch.randn(4)
            q = q_net(obs)
            priority = q.abs().sum()
            buffer.append((obs, priority.detach() if detach_priority else priority))
            if t % 3 == 2:
                batch = torch.stack([o for o, _ in buffer[-8:]])
                loss = q_net(batch).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    return report


def test_acting_time_q_values_kept_in_a_replay_buffer():
    assert len(retention(act_and_learn(detach_priority=False))) == 1


def test_replay_buffer_of_detached_priorities_is_not_retention():
    assert retention(act_and_learn(detach_priority=True)) == []


def test_generator_output_reused_by_the_next_backward_is_not_retention():
    """A GAN's fake batch is built before the discriminator's backward and back-propagated by the generator's:
    one earlier window alive at each backward, never more."""
    gen, disc = nn.Linear(2, 4), nn.Linear(4, 1)
    opt_g, opt_d = torch.optim.Adam(gen.parameters()), torch.optim.Adam(disc.parameters())
    with watch() as report:
        for _ in range(8):
            fake = gen(torch.randn(8, 2))
            d_loss = F.softplus(disc(fake.detach())).mean() + F.softplus(-disc(torch.randn(8, 4))).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-disc(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
    assert retention(report) == []
