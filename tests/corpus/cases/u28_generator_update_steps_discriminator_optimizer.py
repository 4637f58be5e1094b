import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, z_dim=4, out_dim=2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 16), nn.ReLU(), nn.Linear(16, out_dim))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, in_dim=2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


class GAN:
    def __init__(self, z_dim=4, lr=2e-4):
        self.z_dim = z_dim
        self.generator = Generator(z_dim)
        self.discriminator = Discriminator()
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999)),
        }

    def train_step(self, real):
        n = len(real)
        fake = self.generator(torch.randn(n, self.z_dim))

        self.optimizers["discriminator"].zero_grad()
        d_loss = (F.binary_cross_entropy_with_logits(self.discriminator(real), torch.ones(n, 1))
                  + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), torch.zeros(n, 1)))
        d_loss.backward()
        self.optimizers["discriminator"].step()

        self.optimizers["generator"].zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), torch.ones(n, 1))
        g_loss.backward()
        self.optimizers["discriminator"].step()
        return d_loss.item(), g_loss.item()


def main():
    torch.manual_seed(0)
    gan = GAN()
    for step in range(8):
        real = torch.randn(16, 2) * 0.5 + torch.tensor([2.0, -1.0])
        d, g = gan.train_step(real)
        print(f"step {step} d {d:.4f} g {g:.4f}")


if __name__ == "__main__":
    main()
