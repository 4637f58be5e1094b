import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RandomFeatureRegressor(nn.Module):
    def __init__(self, n_in=6, n_feat=24):
        super().__init__()
        self.features = nn.Linear(n_in, n_feat)
        self.readout = nn.Linear(n_feat, 1)

    def forward(self, x):
        return self.readout(torch.cos(self.features(x))).squeeze(-1)


def init_from_closed_form(model, x, y, ridge=1e-2):
    with torch.no_grad():
        phi = torch.cos(model.features(x)).numpy()
    a = phi.T @ phi + ridge * np.eye(phi.shape[1])
    w = np.linalg.solve(a, phi.T @ y.numpy())
    model.readout.weight = nn.Parameter(torch.from_numpy(w.astype(np.float32))[None, :])


def main():
    torch.manual_seed(0)
    x = torch.randn(80, 6)
    y = torch.sin(x[:, 0]) + 0.5 * x[:, 1]
    model = RandomFeatureRegressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    init_from_closed_form(model, x, y)
    for epoch in range(4):
        for i in range(0, 80, 20):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x[i:i + 20]), y[i:i + 20])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} mse {loss.item():.4f}")


if __name__ == "__main__":
    main()
