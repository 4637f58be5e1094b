import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class DomainAdaptNet(nn.Module):
    def __init__(self, n_in=10, hidden=24, n_classes=3):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU())
        self.label_head = nn.Linear(hidden, n_classes)
        self.domain_head = nn.Linear(hidden, 2)

    def forward(self, x):
        f = self.features(x)
        return {"logits": self.label_head(f), "domain": self.domain_head(f)}


class BaseTrainer:
    def __init__(self, model, lr=1e-2):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def training_step(self, batch):
        x, y, _ = batch
        return F.cross_entropy(self.model(x)["logits"], y)

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            for batch in loader:
                self.optimizer.zero_grad()
                loss = self.training_step(batch)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


class DomainAdversarialTrainer(BaseTrainer):
    def __init__(self, model, lr=1e-2, domain_weight=0.3):
        super().__init__(model, lr)
        self.domain_weight = domain_weight

    def train_step(self, batch):
        x, y, d = batch
        out = self.model(x)
        return F.cross_entropy(out["logits"], y) + self.domain_weight * F.cross_entropy(out["domain"], d)


def main():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = torch.randint(0, 3, (64,))
    d = (torch.arange(64) >= 32).long()
    loader = DataLoader(TensorDataset(x, y, d), batch_size=16, shuffle=True, num_workers=0)
    DomainAdversarialTrainer(DomainAdaptNet()).fit(loader, epochs=2)


if __name__ == "__main__":
    main()
