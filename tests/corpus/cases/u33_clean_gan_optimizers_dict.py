import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, z_dim=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


class GAN:
    def __init__(self, z_dim=4, lr=2e-4):
        self.z_dim = z_dim
        self.nets = {"generator": Generator(z_dim), "discriminator": Discriminator()}
        self.optimizers = {k: torch.optim.Adam(v.parameters(), lr=lr, betas=(0.5, 0.999)) for k, v in self.nets.items()}

    def _update(self, name, loss):
        self.optimizers[name].zero_grad()
        loss.backward()
        self.optimizers[name].step()
        return loss.item()

    def train_step(self, real):
        g, d = self.nets["generator"], self.nets["discriminator"]
        n = len(real)
        fake = g(torch.randn(n, self.z_dim))
        d_loss = (F.binary_cross_entropy_with_logits(d(real), torch.ones(n, 1))
                  + F.binary_cross_entropy_with_logits(d(fake.detach()), torch.zeros(n, 1)))
        d_val = self._update("discriminator", d_loss)
        g_val = self._update("generator", F.binary_cross_entropy_with_logits(d(fake), torch.ones(n, 1)))
        return d_val, g_val


def main():
    torch.manual_seed(0)
    gan = GAN()
    for step in range(8):
        real = torch.randn(16, 2) * 0.5 + torch.tensor([2.0, -1.0])
        d, g = gan.train_step(real)
        print(f"step {step} d {d:.4f} g {g:.4f}")


if __name__ == "__main__":
    main()
