"""Yield regression on process-sensor windows: pretrained-style backbone + regression head.

Run: python examples/incident/train.py [--epochs N]
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class SensorBackbone(nn.Module):
    def __init__(self, n_in=16, width=64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_in, width), nn.GELU(), nn.LayerNorm(width),
            nn.Linear(width, width), nn.GELU(),
        )

    def forward(self, x):
        return self.layers(x)


class YieldModel(nn.Module):
    def __init__(self, n_in=16, width=64):
        super().__init__()
        self.backbone = SensorBackbone(n_in, width)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(width, 1))

    def forward(self, x):
        feats = self.backbone(x)
        feats = feats.detach()
        return self.head(feats).squeeze(-1)


def grad_norm(module):
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += p.grad.norm().item() ** 2
    return total ** 0.5


def make_data(n=256, d=16):
    x = torch.randn(n, d)
    y = torch.tanh(x[:, :4].sum(1)) + 0.1 * torch.randn(n)
    y[::7] = float("nan")  # sensor dropouts in the export
    return TensorDataset(x, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.manual_seed(0)

    loader = DataLoader(make_data(), batch_size=32, shuffle=True)
    model = YieldModel()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    for epoch in range(args.epochs):
        for step, (x, y) in enumerate(loader):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            for p in model.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0, out=p.grad)
            g_backbone = grad_norm(model.backbone)
            g_head = grad_norm(model.head)
            if g_backbone > 0 and g_head > 0:
                opt.step()
            if step % 4 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f} "
                      f"|g| backbone {g_backbone:.3g} head {g_head:.3g}")


if __name__ == "__main__":
    main()
