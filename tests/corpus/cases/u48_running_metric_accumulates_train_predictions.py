import torch
import torch.nn as nn
import torch.nn.functional as F


class R2Score:
    def __init__(self):
        self.reset()

    def reset(self):
        self.preds, self.targets = [], []

    def update(self, preds, targets):
        self.preds.append(preds)
        self.targets.append(targets)

    def compute(self):
        p, t = torch.cat(self.preds), torch.cat(self.targets)
        return (1 - ((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum()).item()


class SolubilityMLP(nn.Module):
    def __init__(self, n_in=24):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, 48), nn.SiLU(), nn.Linear(48, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def train_epoch(model, optimizer, batches, metric):
    metric.reset()
    for x, y in batches:
        pred = model(x)
        loss = F.mse_loss(pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        metric.update(pred, y)
    return metric.compute()


def main():
    torch.manual_seed(0)
    x = torch.randn(128, 24)
    y = x[:, :5].sum(1)
    batches = list(zip(x.split(16), y.split(16)))
    model = SolubilityMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    metric = R2Score()
    for epoch in range(2):
        print(f"epoch {epoch} train r2 {train_epoch(model, optimizer, batches, metric):.3f}")


if __name__ == "__main__":
    main()
