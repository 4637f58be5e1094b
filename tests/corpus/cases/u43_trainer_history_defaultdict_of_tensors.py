from collections import defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        self.model = model
        self.l1_coef = l1_coef
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.history = defaultdict(list)

    def log_step(self, **values):
        for name, value in values.items():
            self.history[name].append(value)

    def step(self, x):
        recon, codes = self.model(x)
        mse = F.mse_loss(recon, x)
        penalty = self.l1_coef * codes.abs().sum(-1).mean()
        loss = mse + penalty
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.log_step(mse=mse, penalty=penalty)

    def report(self):
        return {k: sum(float(v) for v in vals) / len(vals) for k, vals in self.history.items()}


def main():
    torch.manual_seed(0)
    trainer = Trainer(SparseAutoencoder())
    for step in range(10):
        trainer.step(torch.randn(32, 16))
    print(trainer.report())


if __name__ == "__main__":
    main()
