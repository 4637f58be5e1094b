from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ForecastConfig:
    n_features: int = 3
    hidden: int = 24
    window: int = 12
    horizons: tuple = (1, 3, 6)
    horizon_weights: tuple = (1.0, 0.5)
    lr: float = 5e-3
    epochs: int = 3


class MultiHorizonGRU(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.horizons = cfg.horizons
        self.rnn = nn.GRU(cfg.n_features, cfg.hidden, batch_first=True)
        self.heads = nn.ModuleDict({f"h{h}": nn.Linear(cfg.hidden, 1) for h in cfg.horizons})

    def forward(self, x):
        out, _ = self.rnn(x)
        last = out[:, -1]
        return [self.heads[f"h{h}"](last).squeeze(-1) for h in self.horizons]


def make_windows(series, cfg):
    xs, ys = [], []
    for i in range(len(series) - cfg.window - max(cfg.horizons)):
        xs.append(series[i:i + cfg.window])
        ys.append(torch.stack([series[i + cfg.window + h - 1, 0] for h in cfg.horizons]))
    return torch.stack(xs), torch.stack(ys)


def weighted_loss(preds, targets, weights):
    return sum(w * F.mse_loss(p, t) for w, p, t in zip(weights, preds, targets.unbind(-1)))


def main():
    cfg = ForecastConfig()
    torch.manual_seed(0)
    t = torch.arange(80).float()
    series = torch.stack([torch.sin(t / 5), torch.cos(t / 7), 0.1 * torch.randn(80)], dim=-1)
    x, y = make_windows(series, cfg)
    model = MultiHorizonGRU(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        for xb, yb in zip(x.split(16), y.split(16)):
            loss = weighted_loss(model(xb), yb, cfg.horizon_weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
