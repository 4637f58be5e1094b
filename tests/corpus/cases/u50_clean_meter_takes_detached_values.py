from collections import defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F


class AverageMeter:
    def __init__(self):
        self.sum, self.count = 0.0, 0

    def update(self, value, n=1):
        self.sum += value * n
        self.count += n

    @property
    def avg(self):
        return self.sum / max(1, self.count)


class SparseAutoencoder(nn.Module):
    def __init__(self, d=16, hidden=48):
        super().__init__()
        self.enc = nn.Linear(d, hidden)
        self.dec = nn.Linear(hidden, d)

    def forward(self, x):
        codes = F.relu(self.enc(x))
        return self.dec(codes), codes


class Trainer:
    def __init__(self, model, l1_coef=1e-3, lr=1e-3):
        self.model, self.l1_coef = model, l1_coef
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.meters = defaultdict(AverageMeter)
        self.history = []

    def step(self, x):
        recon, codes = self.model(x)
        mse = F.mse_loss(recon, x)
        loss = mse + self.l1_coef * codes.abs().sum(-1).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.meters["loss"].update(loss.detach(), len(x))
        self.meters["mse"].update(mse.item(), len(x))
        self.history.append(loss.detach())


def main():
    torch.manual_seed(0)
    trainer = Trainer(SparseAutoencoder())
    for step in range(10):
        trainer.step(torch.randn(32, 16))
    print({k: float(m.avg) for k, m in trainer.meters.items()}, len(trainer.history))


if __name__ == "__main__":
    main()
