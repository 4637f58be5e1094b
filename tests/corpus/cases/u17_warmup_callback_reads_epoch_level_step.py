import torch
import torch.nn as nn
import torch.nn.functional as F


class TabularMLP(nn.Module):
    def __init__(self, n_in=12, hidden=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class LinearWarmup:
    def __init__(self, warmup_steps):
        self.warmup_steps = warmup_steps
        self.base_lrs = None

    def on_batch_start(self, trainer):
        if self.base_lrs is None:
            self.base_lrs = [g["lr"] for g in trainer.optimizer.param_groups]
        scale = min(1.0, trainer.global_step / self.warmup_steps)
        for g, base in zip(trainer.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * scale


class Trainer:
    def __init__(self, model, optimizer, callbacks):
        self.model, self.optimizer, self.callbacks = model, optimizer, callbacks
        self.global_step = 0
        self.history = []

    def run_epoch(self, batches):
        n = 0
        for x, y in batches:
            for cb in self.callbacks:
                cb.on_batch_start(self)
            self.optimizer.zero_grad()
            loss = F.mse_loss(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            n += 1
        self.global_step += n
        self.history.append(loss.item())

    def fit(self, batches, epochs):
        for epoch in range(epochs):
            self.run_epoch(batches)
            print(f"epoch {epoch} loss {self.history[-1]:.4f} lr {self.optimizer.param_groups[0]['lr']:.2e}")


def main():
    torch.manual_seed(0)
    x = torch.randn(80, 12)
    y = x[:, :3].sum(1)
    batches = list(zip(x.split(10), y.split(10)))
    model = TabularMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    Trainer(model, optimizer, [LinearWarmup(warmup_steps=4)]).fit(batches, epochs=1)


if __name__ == "__main__":
    main()
