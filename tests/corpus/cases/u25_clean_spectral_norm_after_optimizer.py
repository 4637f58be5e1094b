import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


class Critic(nn.Module):
    def __init__(self, n_in=8, hidden=32):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc3(F.leaky_relu(self.fc2(F.leaky_relu(self.fc1(x), 0.2)), 0.2))


def stabilise(critic):
    for name in ("fc1", "fc2", "fc3"):
        spectral_norm(getattr(critic, name))


def main():
    torch.manual_seed(0)
    critic = Critic()
    optimizer = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.9))
    stabilise(critic)
    for step in range(8):
        real = torch.randn(16, 8) + 1.0
        fake = torch.randn(16, 8)
        optimizer.zero_grad()
        loss = F.softplus(-critic(real)).mean() + F.softplus(critic(fake)).mean()
        loss.backward()
        optimizer.step()
        print(f"step {step} critic loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
