import torch
import torch.nn as nn
import torch.nn.functional as F


class PhysicsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, xt):
        return self.layers(xt)


def main():
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = PhysicsMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.double()
    model.to(device)
    xt = torch.rand(64, 2, dtype=torch.float64, device=device)
    target = torch.sin(3 * xt[:, :1]) * torch.exp(-xt[:, 1:])
    for step in range(10):
        optimizer.zero_grad()
        loss = F.mse_loss(model(xt), target)
        loss.backward()
        optimizer.step()
        if step % 3 == 0:
            print(f"step {step} mse {loss.item():.6f}")


if __name__ == "__main__":
    main()
