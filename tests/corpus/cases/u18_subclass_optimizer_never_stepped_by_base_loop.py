import torch
import torch.nn as nn
import torch.nn.functional as F


class Encoder(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, dim))

    def forward(self, x):
        return self.net(x)


class ProjectionHead(nn.Module):
    def __init__(self, dim=16, out=8):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, out)

    def forward(self, h):
        return self.fc2(F.relu(self.fc1(h)))


class BaseTrainer:
    def __init__(self, model, lr):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def compute_loss(self, batch):
        raise NotImplementedError

    def train_epoch(self, loader):
        for batch in loader:
            self.optimizer.zero_grad()
            loss = self.compute_loss(batch)
            loss.backward()
            self.optimizer.step()
        return loss.item()


class SimCLRTrainer(BaseTrainer):
    def __init__(self, model, lr=1e-3, temperature=0.5):
        super().__init__(model, lr)
        self.head = ProjectionHead()
        self.head_optimizer = torch.optim.Adam(self.head.parameters(), lr=lr)
        self.temperature = temperature

    def compute_loss(self, batch):
        x = batch
        v1, v2 = x + 0.1 * torch.randn_like(x), x + 0.1 * torch.randn_like(x)
        z = F.normalize(self.head(self.model(torch.cat([v1, v2]))), dim=-1)
        sim = z @ z.t() / self.temperature
        sim.fill_diagonal_(-1e9)
        n = len(x)
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        return F.cross_entropy(sim, targets)


def main():
    torch.manual_seed(0)
    loader = [torch.randn(8, 20) for _ in range(4)]
    trainer = SimCLRTrainer(Encoder())
    for epoch in range(2):
        print(f"epoch {epoch} loss {trainer.train_epoch(loader):.4f}")


if __name__ == "__main__":
    main()
