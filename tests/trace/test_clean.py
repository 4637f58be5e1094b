"""Clean training idioms stay quiet: no loud finding and every trained parameter moves."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from graphlint.trace import watch
from tests.trace.conftest import by_name, loud

torch.manual_seed(0)


def mlp(i, o):
    return nn.Sequential(nn.Linear(i, 16), nn.ReLU(), nn.Linear(16, o))


def test_gan_with_fakes_detached_for_the_discriminator():
    G, D = mlp(4, 6), mlp(6, 1)
    og, od = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    real = torch.randn(8, 6)
    with watch() as report:
        for _ in range(3):
            fake = G(torch.randn(8, 4))
            od.zero_grad()
            d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
            d_loss.backward()
            od.step()
            og.zero_grad()
            F.softplus(-D(fake)).mean().backward()
            og.step()
    assert loud(report.findings) == []
    assert all(p["moved"] for p in report.parameters)


def test_target_network_ema_and_accumulation():
    net = mlp(4, 2)
    target = copy.deepcopy(net)
    ema = copy.deepcopy(net)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    with watch() as report:
        for step in range(4):
            for _ in range(2):  # gradient accumulation over two micro-batches
                s, s2 = torch.randn(8, 4), torch.randn(8, 4)
                with torch.no_grad():
                    tq = target(s2).max(1).values
                q = net(s).gather(1, torch.zeros(8, 1, dtype=torch.long)).squeeze(1)
                (F.mse_loss(q, 0.9 * tq + 1.0) / 2).backward()
            opt.step()
            opt.zero_grad()
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.mul_(0.9).add_(p, alpha=0.1)
            if step == 2:
                target.load_state_dict(net.state_dict())
    assert loud(report.findings) == []
    names = by_name(report)
    assert all(p["moved"] for n, p in names.items() if n.startswith("Sequential.") and p["in_optimizer"])


def test_amp_gradscaler_on_cpu_and_deliberate_freezing():
    backbone, head = mlp(4, 8), nn.Linear(8, 1)
    for p in backbone.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with watch() as report:
        for _ in range(3):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.mse_loss(head(backbone(x)).float(), y)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
    assert loud(report.findings) == []
    still = {p["name"]: p["cause"] for p in report.not_moving()}
    assert still and set(still.values()) == {"frozen"}
    report.assert_all_train()  # frozen parameters pass by default
