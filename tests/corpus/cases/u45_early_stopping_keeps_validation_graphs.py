import torch
import torch.nn as nn
import torch.nn.functional as F


class EarlyStopping:
    def __init__(self, patience=3, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.scores = []
        self.best = None
        self.bad_epochs = 0

    def step(self, score):
        self.scores.append(score)
        if self.best is None or score < self.best - self.min_delta:
            self.best = score
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


class WineRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(11, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def validate(model, x, y):
    model.eval()
    loss = F.mse_loss(model(x), y)
    model.train()
    return loss


def main():
    torch.manual_seed(0)
    x = torch.randn(120, 11)
    y = x[:, :4].sum(1) + 0.1 * torch.randn(120)
    x_tr, y_tr, x_va, y_va = x[:90], y[:90], x[90:], y[90:]
    model = WineRegressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    stopper = EarlyStopping(patience=2)
    for epoch in range(4):
        for i in range(0, 90, 30):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x_tr[i:i + 30]), y_tr[i:i + 30])
            loss.backward()
            optimizer.step()
        val_loss = validate(model, x_va, y_va)
        print(f"epoch {epoch} train {loss.item():.4f} val {val_loss.item():.4f}")
        if stopper.step(val_loss):
            print("early stop")
            break


if __name__ == "__main__":
    main()
