import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class HousingRegressor(nn.Module):
    def __init__(self, n_features=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Trainer:
    def __init__(self, model, optimizer, loss_fn=F.smooth_l1_loss):
        self.model = copy.deepcopy(model)
        self.optimizer = optimizer
        self.loss_fn = loss_fn

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            total = 0.0
            for x, y in loader:
                self.optimizer.zero_grad()
                loss = self.loss_fn(self.model(x), y)
                loss.backward()
                self.optimizer.step()
                total += loss.item() * len(x)
            print(f"epoch {epoch} loss {total / len(loader.dataset):.4f}")
        return self.model


def main():
    torch.manual_seed(0)
    x = torch.randn(96, 8)
    y = x @ torch.linspace(-1, 1, 8) + 0.1 * torch.randn(96)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=0)
    model = HousingRegressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    trained = Trainer(model, optimizer).fit(loader, epochs=3)
    print("prediction", trained(x[:2]).tolist())


if __name__ == "__main__":
    main()
